"""Field-level security on documents: the values of fields a role may not read, left out.

A role's hidden fields (``access: roles: <role>: hidden``) are absent from every answer it gets.
Lead data is a plain mapping; the documents that quote field values have one shape everywhere
(history details, outbox event data, criteria results): ``data`` and ``changes`` map field names
to values, and each criterion's ``seen`` maps what it looked at (``budget``, or ``lead.score`` in
a CEL condition) to a value. :func:`without_hidden` removes the hidden ones from all of them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["is_hidden", "seen_without_hidden", "without_hidden"]

_FIELD_MAPS = ("data", "changes", "seen", "lead")
"""Keys whose mapping is keyed by field names."""
_CRITERIA = ("criteria", "unmet")
"""Keys whose list holds criteria results (each with ``seen``)."""


def is_hidden(key: str, hidden: Collection[str]) -> bool:
    """Whether ``key`` (a field name, ``lead.<field>`` or ``lead.<field>.<part>``) names a
    field in ``hidden`` (``*`` in it: every field)."""
    if "*" in hidden:
        return True
    name = key[5:] if key.startswith("lead.") else key
    return name.split(".", 1)[0] in hidden


def seen_without_hidden(seen: Any, hidden: Collection[str]) -> Any:
    """What a criterion saw, without the values of hidden fields."""
    if hidden and isinstance(seen, Mapping):
        return {k: v for k, v in seen.items() if not is_hidden(str(k), hidden)}
    return seen


def without_hidden(doc: Mapping[str, Any], hidden: Collection[str]) -> dict[str, Any]:
    """``doc`` (history details, an event's data) without the values of hidden fields."""
    if not hidden:
        return dict(doc)
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in _FIELD_MAPS and isinstance(value, Mapping):
            out[key] = seen_without_hidden(value, hidden)
        elif key in _CRITERIA and isinstance(value, list):
            out[key] = [
                without_hidden(item, hidden) if isinstance(item, Mapping) else item
                for item in value
            ]
        else:
            out[key] = value
    return out
