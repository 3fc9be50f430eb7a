"""Definition text -> :class:`ProcessDefinition`, or a :class:`DefinitionError` with every problem.

Loading runs three passes and stops after the first that finds problems (later passes need the
earlier ones to have succeeded): read the YAML/JSON text, validate it against the models,
run the structural checks of :mod:`._checks`.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ValidationError

from ._access_model import AccessSpec, RoleRule, SharingRule
from ._account_model import AccountMatch
from ._checks import Finding
from ._errors import DefinitionError, Problem
from ._library import library_path
from ._lint_model import LintSettings, Suppression
from ._model import (
    CRITERION_KINDS,
    ActivityCriterion,
    ActivityRequirement,
    CelCriterion,
    ChecklistCriterion,
    FieldSetCriterion,
    FieldSpec,
    PlaybookItem,
    ProcessDefinition,
    Stage,
    Transition,
)
from ._salvage import salvage
from ._sla_clock_checks import run_all_checks
from ._sla_model import (
    CalendarSpec,
    FireAction,
    Fulfilment,
    HolidaySpec,
    LadderStep,
    Member,
    ReassignAction,
    RerouteRule,
    RoutingRule,
    Schedule,
    ShareCap,
    SlaPolicy,
    SnoozeRule,
    SubscriptionSpec,
    TaskPlan,
    Team,
)
from ._source import read_source
from .suggest import allowed, did_you_mean
from .yaml_source import Document, SourceError, parse_document

__all__ = ["load_definition", "load_library", "validate_data_document"]

Path = tuple[str | int, ...]
_CRITERION_MODELS: dict[str, type[BaseModel]] = {
    "field_set": FieldSetCriterion,
    "activity": ActivityCriterion,
    "cel": CelCriterion,
    "checklist": ChecklistCriterion,
}


def load_definition(
    source: str | os.PathLike[str], *, file: str | None = None
) -> ProcessDefinition:
    """Load a definition from a path, from YAML/JSON text, or a shipped process by name.

    ``source`` is read as a file when it is a ``Path`` or a one-line string naming an existing
    file; else a one-line name of a shipped process (``inbound-lead``) loads that process; a
    one-line string without a ``:`` (no YAML mapping can be that) is a missing file; anything
    else is the definition text itself. ``file`` overrides the name shown in problems.
    Raises :class:`DefinitionError` carrying every problem found.
    """
    text, name = read_source(source, file)
    return _load(text, name)


def load_library(name: str) -> ProcessDefinition:
    """Load a shipped process by name (``DefinitionError`` naming the shipped ones if none)."""
    return load_definition(library_path(name), file=f"library/{name}.yaml")


def _load(text: str | bytes, file: str) -> ProcessDefinition:
    try:
        doc = parse_document(text, file, collect=True)
    except SourceError as exc:
        raise DefinitionError(exc.problems) from None
    return validate_data_document(doc)


def validate_data_document(doc: Document) -> ProcessDefinition:
    """Validate parsed data against the models, then run the structural checks."""
    if not isinstance(doc.data, dict):
        raise DefinitionError(
            [
                doc.problem(
                    (),
                    "a definition is a mapping with keys process, version, stages, "
                    "transitions (and optionally fields, title, description, extra)",
                    "not-a-mapping",
                )
            ]
        )
    problems = list(doc.problems)  # duplicate keys: every one, with the rest
    try:
        definition = ProcessDefinition.model_validate(doc.data)
    except ValidationError as exc:
        problems += _translate(exc, doc)
        salvaged = salvage(doc.data, exc, _clean_path)
        if salvaged is not None:  # the structural checks run on what could be read
            model, repaired = salvaged
            problems += [
                _locate(f, doc)
                for f in run_all_checks(model)
                if not any(f.path[: len(r)] == r for r in repaired)
            ]
        raise DefinitionError(_in_order(problems)) from None
    problems += [_locate(f, doc) for f in run_all_checks(definition)]
    if problems:
        raise DefinitionError(_in_order(problems))
    return definition


def _in_order(problems: list[Problem]) -> list[Problem]:
    """Problems by position in the file (stable: same place, order found)."""
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _locate(finding: Finding, doc: Document) -> Problem:
    if finding.offset is not None:
        line, column = doc.offset_position(finding.path, finding.offset)
    else:
        line, column = doc.position(finding.path, key=finding.key)
    return Problem(finding.message, finding.code, doc.file, line, column)


# -- pydantic errors -> sentences ---------------------------------------------------------------


def _clean_path(loc: tuple[Any, ...], data: Any) -> tuple[Path, bool]:
    """Drop the union tags pydantic puts in ``loc``; tell whether it points at a mapping key."""
    path: list[str | int] = []
    node = data
    key = False
    i = 0
    while i < len(loc):
        el = loc[i]
        if el == "[key]":
            key = True
            i += 1
            continue
        if isinstance(node, list) and isinstance(el, str):
            i += 1  # a list's items are numbered: this is a union's tag (access fire lists)
            continue
        is_criterion = (
            len(path) >= 2 and path[-2] in ("guard", "exit_criteria") and isinstance(path[-1], int)
        )
        if is_criterion and el in CRITERION_KINDS and i + 1 < len(loc):
            # pydantic puts the discriminator's tag right after the criterion's index
            i += 1
            el = loc[i]
        path.append(el)
        node = _child(node, el)
        i += 1
    return tuple(path), key


def _child(node: Any, el: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(el)
    if isinstance(node, list) and isinstance(el, int) and 0 <= el < len(node):
        return node[el]
    return None


def _get(data: Any, path: Path) -> Any:
    node = data
    for el in path:
        node = _child(node, el)
    return node


def _model_at(path: Path, data: Any) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` (for listing allowed keys)."""
    n = len(path)
    if n == 0:
        return ProcessDefinition
    if n == 2 and path[0] == "fields":
        return FieldSpec
    if n == 2 and path[0] == "stages":
        return Stage
    if n == 2 and path[0] == "transitions":
        return Transition
    if n == 4 and path[0] == "stages" and path[2] == "playbook":
        return PlaybookItem
    if n >= 4 and path[-2] in ("guard", "exit_criteria"):
        node = _get(data, path)
        kinds = [k for k in CRITERION_KINDS if isinstance(node, dict) and k in node]
        return _CRITERION_MODELS[kinds[0]] if len(kinds) == 1 else None
    if n >= 5 and path[-1] == "activity":
        return ActivityRequirement
    return _extension_model_at(path)


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "slas": SlaPolicy,
    "calendars": CalendarSpec,
    "teams": Team,
    "schedules": Schedule,
    "subscriptions": SubscriptionSpec,
    "routing": RoutingRule,
    "reroute": RerouteRule,
}
_NESTED_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    ("slas", "ladder"): LadderStep,
    ("slas", "fulfilled_by"): Fulfilment,
    ("slas", "tasks"): TaskPlan,
    ("slas", "snooze"): SnoozeRule,
    ("slas", "ladder", "fire"): FireAction,
    ("slas", "ladder", "reassign"): ReassignAction,
    ("slas", "fulfilled_by", "activity"): ActivityRequirement,
    ("teams", "members"): Member,
    ("teams", "share_cap"): ShareCap,
    ("calendars", "holidays"): HolidaySpec,
}


def _extension_model_at(path: Path) -> type[BaseModel] | None:
    """Models of the SLA, team, calendar, schedule, subscription, access and lint sections."""
    if path == ("lint",):
        return LintSettings
    if path == ("access",):
        return AccessSpec
    if path == ("match_account",):
        return AccountMatch
    if len(path) == 3 and path[:2] == ("access", "roles"):
        return RoleRule
    if len(path) == 3 and path[:2] == ("access", "sharing"):
        return SharingRule
    if len(path) == 3 and path[:2] == ("lint", "ignore"):
        return Suppression
    if not path or not isinstance(path[0], str):
        return None
    if len(path) == 2:
        return _SECTION_MODELS.get(path[0])
    names = tuple(p for p in path[2:] if isinstance(p, str))
    return _NESTED_MODELS.get((path[0], *names))


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


_SECTION_WORDS = {
    "slas": "SLA",
    "calendars": "calendar",
    "teams": "team",
    "schedules": "schedule",
    "subscriptions": "subscription",
    "routing": "routing rule",
}


def _describe(path: Path, data: Any) -> str:
    """``transition 'qualify' guard 'score_ok'``-style words for where ``path`` points."""
    words: list[str] = []
    if len(path) >= 2 and path[0] == "fields":
        words.append(f"field '{path[1]}'")
    elif len(path) >= 2 and path[0] == "stages":
        words.append(f"stage '{path[1]}'")
    elif len(path) >= 2 and path[0] == "transitions":
        name = _get(data, (*path[:2], "name"))
        words.append(f"transition '{name}'" if isinstance(name, str) else f"transitions[{path[1]}]")
    elif len(path) >= 2 and path[0] in _SECTION_WORDS:
        word = _SECTION_WORDS[str(path[0])]
        words.append(f"{word} {path[1] + 1}" if isinstance(path[1], int) else f"{word} '{path[1]}'")
    elif path and path[0] in ("lint", "match_account"):
        words.append(".".join(str(p) for p in path[:3]))
    elif path and path[0] == "access":
        words.append(_access_words(path))
    if len(path) >= 4 and path[2] in ("guard", "exit_criteria", "playbook"):
        ident = _get(data, (*path[:4], "id"))
        label = {"guard": "guard", "exit_criteria": "exit criterion", "playbook": "playbook item"}
        what = label[str(path[2])]
        words.append(f"{what} '{ident}'" if isinstance(ident, str) else f"{what} #{path[3]}")
    return " ".join(words) or "definition"


def _access_words(path: Path) -> str:
    """``access role 'rep'``, ``sharing rule 2`` or ``access``."""
    if len(path) >= 3 and path[1] == "roles":
        return f"access role '{path[2]}'"
    if len(path) >= 3 and path[1] == "sharing" and isinstance(path[2], int):
        return f"sharing rule {path[2] + 1}"
    return "access"


def _key_name(path: Path) -> str:
    for el in reversed(path):
        if isinstance(el, str):
            return el
    return ""


_EXPECTED = {
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "tuple_type": "a list",
    "list_type": "a list",
    "string_type": "text",
    "int_type": "an integer (a whole number)",
    "int_parsing": "an integer (a whole number)",
    "int_from_float": "an integer (a whole number)",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def _names_key(where: str, path: Path) -> bool:
    """Whether ``where`` already names the last key of ``path`` (``field 'budget'``)."""
    return len(path) == 2 and path[0] in ("fields", "stages")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else type(value).__name__


def _subject(where: str, path: Path, name: str) -> str:
    """``transition 'win': 'guard'`` or just ``field 'budget'`` when that names the key."""
    if not name or _names_key(where, path) or (where == "definition" and not path):
        return where
    return f"{where}: '{name}'"


def _message(kind: str, err: Any, where: str, path: Path, name: str) -> str:
    value = err.get("input")
    ctx = err.get("ctx") or {}
    subject = _subject(where, path, name)
    if kind in _EXPECTED:
        hint = ""
        if kind == "string_type" and isinstance(value, bool):
            hint = " (YAML reads yes/no/on/off as true/false: quote the text)"
        return f"{subject}: expected {_EXPECTED[kind]}, got {_shown(value)}{hint}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"{subject}: must be {words} {ctx.get(key)}, got {_shown(value)}"
    if kind == "too_short":
        return f"{subject}: needs at least {ctx.get('min_length')} entries"
    if kind == "too_long":
        return f"{subject}: allows at most {ctx.get('max_length')} entries"
    if kind == "string_too_long":
        return f"{subject}: at most {ctx.get('max_length')} characters"
    msg = str(err["msg"])
    return f"{subject}: {msg[0].lower() + msg[1:]}"


def _inside(path: Path, others: list[Path]) -> bool:
    return any(len(o) > len(path) and o[: len(path)] == path for o in others)


def _translate(exc: ValidationError, doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[Path, str]] = set()
    errors = [(err, *_clean_path(tuple(err["loc"]), doc.data)) for err in exc.errors()]
    paths = [path for _, path, _ in errors]
    keys_given: dict[Path, list[str]] = {}
    for err, path, _ in errors:
        if err["type"] == "extra_forbidden":
            keys_given.setdefault(path[:-1], []).append(str(path[-1]))
    for err, path, key in errors:
        if err["type"] == "too_short" and _inside(path, paths):
            continue  # "no transitions left" only because its items failed: noise
        problem = _problem(err, path, key, doc, keys_given)
        if problem is not None and (path, problem.message) not in seen:
            seen.add((path, problem.message))
            problems.append(problem)
    return problems


def _problem(
    err: Any, path: Path, key: bool, doc: Document, keys_given: dict[Path, list[str]]
) -> Problem | None:
    """The problem one validation error reports; None for a missing key reported as misspelt."""
    kind = err["type"]
    where = _describe(path, doc.data)
    name = _key_name(path)
    if kind == "missing":
        if did_you_mean(name, keys_given.get(path[:-1], [])):
            return None  # the misspelt key is reported, with the suggestion
        message = f"{where}: missing required key '{name}'"
        return doc.problem(path[:-1], message, "missing-key")
    if kind == "extra_forbidden":
        model = _model_at(path[:-1], doc.data)
        keys = _keys_of(model) if model else []
        hint = did_you_mean(name, keys)
        listing = f" (allowed: {allowed(keys, 20)})" if keys else ""
        message = f"{where}: unknown key '{name}'{hint}{listing}"
        return doc.problem(path, message, "unknown-key", key=True)
    if kind == "criterion_kind":
        return _criterion_kind_problem(path, doc, where)
    if kind == "string_pattern_mismatch":
        return _name_problem(err, path, key, doc, where, name)
    return _value_problem(kind, err, path, doc, where, name)


_CRITERION_COMMON = ("id", "message", "when")


def _criterion_kind_problem(path: Path, doc: Document, where: str) -> Problem:
    """A criterion of no known kind: the unknown word with a did-you-mean, or the kinds given
    together; always what a criterion needs."""
    needs = f"a criterion needs exactly one of {', '.join(CRITERION_KINDS)} (plus id and message)"
    node = _get(doc.data, path)
    keys = [str(k) for k in node] if isinstance(node, dict) else []
    kinds = [k for k in keys if k in CRITERION_KINDS]
    unknown = [k for k in keys if k not in CRITERION_KINDS and k not in _CRITERION_COMMON]
    if len(kinds) > 1:
        both = " and ".join(f"'{k}'" for k in kinds)
        return doc.problem(path, f"{where}: has {both}; {needs}", "criterion-kind")
    if unknown and not kinds:
        word = unknown[0]
        hint = did_you_mean(word, (*CRITERION_KINDS, *_CRITERION_COMMON))
        message = f"{where}: unknown key '{word}'{hint}; {needs}"
        return doc.problem((*path, word), message, "criterion-kind", key=True)
    return doc.problem(path, f"{where}: {needs}", "criterion-kind")


def _name_problem(err: Any, path: Path, key: bool, doc: Document, where: str, name: str) -> Problem:
    """An invalid name: a mapping key, or a value (a process name or another name)."""
    if key:
        message = (
            f"{where}: '{path[-1]}' is not a valid name; use a letter, then letters, "
            "digits or underscores"
        )
        return doc.problem(path, message, "invalid-name", key=True)
    pattern_hint = (
        "lower-case words joined by '-' or '_' (inbound-lead)"
        if path == ("process",)
        else "a letter, then letters, digits or underscores"
    )
    message = f"{where}: {err.get('input')!r} is not a valid name for '{name}'; use {pattern_hint}"
    return doc.problem(path, message, "invalid-name")


def _value_problem(
    kind: str, err: Any, path: Path, doc: Document, where: str, name: str
) -> Problem:
    """A value that is not allowed: a literal or enum, a failed check, or a type or bound."""
    value = err.get("input")
    if kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        message = f"{where}: {_shown(value)} is not allowed for '{name}' (allowed: {expected})"
        return doc.problem(path, message, "invalid-value")
    if kind in ("value_error", "assertion_error"):
        text = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        subject = where if len(path) <= 2 else _subject(where, path, name)
        return doc.problem(path, f"{subject}: {text}", "invalid-value")
    return doc.problem(path, _message(kind, err, where, path, name), "invalid-value")
