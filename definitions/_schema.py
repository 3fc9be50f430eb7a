"""JSON Schema of the definition language, for editors (YAML language servers) and CI."""

from __future__ import annotations

from typing import Any

from ._base import NAME_PATTERN
from ._model import ProcessDefinition

__all__ = ["json_schema"]

SCHEMA_ID = "https://leadflow.dev/schema/process-definition.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that a definition document must satisfy."""
    schema = ProcessDefinition.model_json_schema(by_alias=True, mode="validation")
    _close_pattern_maps(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def _close_pattern_maps(node: Any) -> None:
    """Maps keyed by names (stages, fields) accept only names, as the loader does."""
    if isinstance(node, dict):
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and NAME_PATTERN in patterns:
            node["additionalProperties"] = False
            node.setdefault("propertyNames", {})["pattern"] = NAME_PATTERN
        for value in node.values():
            _close_pattern_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_maps(value)
