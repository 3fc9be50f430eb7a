"""The OpenAPI document is the HTTP contract: a change to it is deliberate and reviewed.

The checked-in copy is docs/openapi.json. After an intended change to the API, regenerate it
with ``python tests/service/test_openapi.py`` and review the diff.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from leadflow.engine import Engine
from leadflow.service import create_app

SNAPSHOT = Path(__file__).parents[2] / "docs" / "openapi.json"


def current() -> dict[str, Any]:
    """The OpenAPI document the service serves now."""
    with tempfile.TemporaryDirectory() as folder, Engine(f"sqlite:///{folder}/o.db") as engine:
        spec: dict[str, Any] = create_app(engine).openapi()
        return spec


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


def test_the_openapi_document_matches_the_checked_in_copy() -> None:
    """The served OpenAPI document equals docs/openapi.json (regenerate it on purpose)."""
    assert SNAPSHOT.is_file(), "run: python tests/service/test_openapi.py"
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert render(current()) == render(expected), (
        "the API changed: review it, then run python tests/service/test_openapi.py"
    )


def test_every_api_route_is_documented_and_answers_problems() -> None:
    """Every /api/v1 operation says what it does (its description in the document)."""
    spec = current()
    operations = [
        (path, method, op)
        for path, methods in spec["paths"].items()
        if path.startswith("/api/v1")
        for method, op in methods.items()
    ]
    assert len(operations) >= 15
    assert [(p, m) for p, m, op in operations if not op.get("description")] == []


if __name__ == "__main__":
    SNAPSHOT.write_text(render(current()), encoding="utf-8")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
