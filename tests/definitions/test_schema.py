"""The JSON Schema of the definition language, for editors and CI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadflow.definitions import json_schema, parse_duration

HERE = Path(__file__).parents[1]
REFERENCE = HERE / "definitions" / "reference.yaml"
LIBRARY = sorted((HERE.parent / "definitions" / "library").glob("*.yaml"))
NO_JSONSCHEMA = "jsonschema is not installed (it is not a dependency of leadflow's test extra)"


def reference_data() -> Any:
    return yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))


def name_allowed(mapping_schema: dict[str, Any], name: str) -> bool:
    """Whether an object schema lets ``name`` be a property name (the value aside)."""
    pattern = mapping_schema.get("propertyNames", {}).get("pattern")
    if pattern is not None and not re.search(pattern, name):
        return False
    if name in mapping_schema.get("properties", {}):
        return True
    if any(re.search(p, name) for p in mapping_schema.get("patternProperties", {})):
        return True
    return mapping_schema.get("additionalProperties", True) is not False


def test_schema_is_json_serialisable() -> None:
    """json_schema() survives a JSON round trip unchanged."""
    schema = json_schema()
    assert json.loads(json.dumps(schema)) == schema


def test_schema_declares_its_draft_and_id() -> None:
    """The schema names draft 2020-12 in ``$schema`` and has an ``$id``."""
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("https://")
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False


def test_schema_requires_the_four_top_level_keys() -> None:
    """process, version, stages and transitions are required."""
    assert set(json_schema()["required"]) == {"process", "version", "stages", "transitions"}


def test_transitions_use_the_from_alias() -> None:
    """Transitions are written with ``from`` (the alias), never the Python name ``source``."""
    transition = json_schema()["$defs"]["Transition"]
    assert "from" in transition["properties"]
    assert "source" not in transition["properties"]
    assert {"name", "from", "to"} <= set(transition["required"])
    kinds = {s["type"] for s in transition["properties"]["from"]["anyOf"]}
    assert kinds == {"string", "array"}


def test_schema_constrains_stage_and_field_names() -> None:
    """The schema refuses stage and field names the loader refuses (``follow-up``)."""
    properties = json_schema()["properties"]
    for key in ("stages", "fields"):
        assert name_allowed(properties[key], "qualified"), key
        assert not name_allowed(properties[key], "follow-up"), key
        assert not name_allowed(properties[key], "next step"), key


def test_duration_schema_describes_the_shorthand() -> None:
    """``within`` is described by a pattern for ``14d``-style text, not ISO 8601's ``duration``."""
    within = json_schema()["$defs"]["ActivityRequirement"]["properties"]["within"]
    (text,) = [s for s in within.get("anyOf", [within]) if s.get("type") == "string"]
    assert text.get("format") != "duration", "JSON Schema's 'duration' format is ISO 8601 (P14D)"
    pattern = text["pattern"]
    for good in ("30s", "14d", "1h30m"):
        parse_duration(good)
        assert re.search(pattern, good), good
    for bad in ("14 days", "P14D", "5"):
        assert not re.search(pattern, bad), bad


@pytest.mark.parametrize("path", [REFERENCE, *LIBRARY], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_reference_and_library_validate_against_the_schema(path: Path) -> None:
    """The reference and every shipped definition are valid instances of the schema."""
    jsonschema = pytest.importorskip("jsonschema", reason=NO_JSONSCHEMA)
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert [e.message for e in validator.iter_errors(data)] == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d.update(stagse=d.pop("stages")), "stagse"),
        (lambda d: d.update(version="one"), "version"),
        (lambda d: d["stages"]["qualified"].update(probability=140), "probability"),
        (lambda d: d["transitions"][0].update(source=d["transitions"][0].pop("from")), "source"),
        (lambda d: d["stages"]["contacted"]["exit_criteria"][0].update(cel="true"), "cel"),
    ],
    ids=["unknown-key", "wrong-type", "out-of-range", "python-name", "two-kinds"],
)
def test_schema_rejects_what_the_models_reject(change: Any, path: str) -> None:
    """Unknown keys, wrong types, out-of-range values and two-kind criteria fail the schema."""
    jsonschema = pytest.importorskip("jsonschema", reason=NO_JSONSCHEMA)
    data = reference_data()
    change(data)
    errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(data))
    assert errors, f"the schema accepted a document with a bad {path!r}"
