"""Deploying a definition version: its canonical JSON, stored once per process and version."""

from __future__ import annotations

import hashlib
import json
import os

import sqlalchemy as sa

from leadflow.definitions import ProcessDefinition, load_definition
from leadflow.engine._errors import DeployConflict, StorageError
from leadflow.engine._runtime import Runtime
from leadflow.engine.store.tables import definitions as definitions_table

__all__ = ["deploy"]


def _canonical(definition: ProcessDefinition, *, sort_keys: bool = False) -> str:
    """The definition as compact JSON. Mapping order is kept: the order of stages is meaningful
    (the main path first), so it must survive a round trip through the database."""
    return json.dumps(
        definition.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        sort_keys=sort_keys,
        separators=(",", ":"),
    )


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def deploy(
    runtime: Runtime, definition: ProcessDefinition | str | os.PathLike[str]
) -> ProcessDefinition:
    """Deploy a definition version (a model, a path or YAML text); idempotent per content.

    Raises :class:`DeployConflict` when the process+version exists with other content.
    """
    if not isinstance(definition, ProcessDefinition):
        definition = load_definition(definition)
    body = _canonical(definition)
    digest = _digest(body)
    key = (definition.process, definition.version)
    t = definitions_table
    try:
        with runtime.store.sa.begin() as conn:
            existing = conn.execute(
                sa.select(t.c.digest).where(t.c.process == key[0], t.c.version == key[1])
            ).scalar()
            if existing is None:
                conn.execute(
                    t.insert().values(
                        process=key[0],
                        version=key[1],
                        digest=digest,
                        body=body,
                        deployed_at=runtime.now(None),
                    )
                )
    except sa.exc.IntegrityError:
        return deploy(runtime, definition)  # deployed concurrently: compare with that one
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"deploy {key[0]} v{key[1]}: {exc.__cause__ or exc}") from exc
    # versions deployed by leadflow 0.1 were digested with sorted keys
    legacy = _digest(_canonical(definition, sort_keys=True))
    if existing is not None and existing not in (digest, legacy):
        raise DeployConflict(*key)
    runtime.remember(definition)
    return definition
