"""A best-effort model of a definition that failed schema validation, so that the structural
checks can run too and every mistake is reported in one pass.

Only repairs that cannot change what the rest of the file means are made: an unknown key is
dropped, and a criterion of no known kind is replaced, in place, by one that is always met
(so list positions, and so the locations of other problems, stay the same). When other schema
errors remain, there is no model and only the schema problems are reported.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from ._model import ProcessDefinition

__all__ = ["salvage"]

Path = tuple[str | int, ...]
_ROUNDS = 3


def _parent(data: Any, path: Path) -> Any:
    node = data
    for el in path[:-1]:
        if isinstance(node, dict):
            node = node.get(el)
        elif isinstance(node, list) and isinstance(el, int) and 0 <= el < len(node):
            node = node[el]
        else:
            return None
    return node


def _repair(data: Any, error: Any, clean: Path) -> Path | None:
    """Repair ``data`` in place for one validation error; the path repaired, or None."""
    parent = _parent(data, clean)
    if not clean:
        return None
    last = clean[-1]
    if error["type"] == "extra_forbidden" and isinstance(parent, dict) and last in parent:
        del parent[last]
        return clean
    if error["type"] == "criterion_kind" and isinstance(parent, list) and isinstance(last, int):
        item = parent[last]
        ident = item.get("id") if isinstance(item, dict) else None
        parent[last] = {
            "id": ident if isinstance(ident, str) else "_unreadable",
            "cel": "true",
            "message": "-",
        }
        return clean
    return None


def salvage(
    data: Any, error: ValidationError, clean_path: Any
) -> tuple[ProcessDefinition, list[Path]] | None:
    """A model of ``data`` with unknown keys dropped and unreadable criteria neutralised, and
    the paths repaired; None when any other schema error remains.

    ``clean_path(loc, data)`` maps pydantic's error location onto a path into ``data``.
    """
    fixed = copy.deepcopy(data)
    repaired: list[Path] = []
    for _ in range(_ROUNDS):
        for err in error.errors():
            path, _key = clean_path(tuple(err["loc"]), fixed)
            done = _repair(fixed, err, path)
            if done is None:
                return None
            repaired.append(done)
        try:
            return ProcessDefinition.model_validate(fixed), repaired
        except ValidationError as exc:
            error = exc
    return None
