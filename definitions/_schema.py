"""JSON Schema of the definition language, for editors (YAML language servers) and CI."""

from __future__ import annotations

from typing import Any

from ._model import ProcessDefinition

__all__ = ["json_schema"]

SCHEMA_ID = "https://leadflow.dev/schema/process-definition.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that a definition document must satisfy."""
    schema = ProcessDefinition.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
