"""YAML (and JSON) text to plain data, remembering where every node came from.

PyYAML's composer gives nodes with positions; we build the Python values ourselves so that we
can reject duplicate keys, cap alias expansion (a "billion laughs" document cannot blow up) and
record a ``(line, column)`` for every path into the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ._errors import Problem

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Document", "SourceError", "parse_document"]

MAX_BYTES = 1_000_000
"""Definitions larger than this are refused before parsing."""
MAX_NODES = 50_000
"""Documents that expand (through aliases) to more nodes than this are refused."""
MAX_DEPTH = 64
"""Documents nested deeper than this are refused."""

Path = tuple[str | int, ...]


class SourceError(Exception):
    """The text is not a well-formed, reasonably sized YAML/JSON document."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass
class Document:
    """Parsed data plus the position of every node and every mapping key, by path."""

    data: Any
    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    """Path -> (line, column) of the node's value (1-based)."""
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    """Path -> (line, column) of the mapping key that introduced the node (1-based)."""
    scalars: dict[Path, ScalarNode] = field(default_factory=dict)
    """Path -> the scalar node (its style and marks map offsets inside it to the source)."""
    lines: list[str] = field(default_factory=list)
    """The source text's lines, for block scalars."""
    problems: list[Problem] = field(default_factory=list)
    """Problems that did not stop the parse (duplicate keys: the first value is kept), for the
    loader to report with the others (see ``parse_document(..., collect=True)``)."""

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of ``path``, or of its nearest ancestor the document has."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)

    def offset_position(self, path: Path, offset: int) -> tuple[int, int]:
        """The source position of character ``offset`` of the scalar at ``path``."""
        node = self.scalars.get(path)
        if node is None:
            return self.position(path)
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        value = node.value
        if node.style in ("|", ">"):
            # content starts on the line after the indicator, at the block's indentation
            first = node.start_mark.line + 1
            while first < len(self.lines) and not self.lines[first].strip():
                first += 1
            if first >= len(self.lines):
                return line, column
            indent = len(self.lines[first]) - len(self.lines[first].lstrip(" "))
            before = value[:offset]
            row = before.count("\n") if node.style == "|" else 0
            col = len(before) - (before.rfind("\n") + 1) if node.style == "|" else len(before)
            return first + row + 1, indent + col + 1
        if node.style == "'":
            return line, column + 1 + offset + value[:offset].count("'")
        if node.style == '"':
            extra = sum(1 for ch in value[:offset] if ch in '"\\')
            return line, column + 1 + offset + extra
        return line, column + offset

    def problem(self, path: Path, message: str, code: str, *, key: bool = False) -> Problem:
        """A :class:`Problem` located at ``path``."""
        line, column = self.position(path, key=key)
        return Problem(message=message, code=code, file=self.file, line=line, column=column)


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.constructor = yaml.SafeLoader("")
        self.open: set[int] = set()
        """Ids of the collection nodes being built (an alias back to one is a cycle)."""

    def fail(self, node: Node, message: str, code: str) -> SourceError:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return SourceError([Problem(message, code, self.doc.file, line, column)])

    def build(self, node: Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(
                node,
                f"the document expands to more than {MAX_NODES} nodes; "
                "aliases that multiply (a 'billion laughs' document) are refused",
                "document-too-large",
            )
        if depth > MAX_DEPTH:
            raise self.fail(
                node, f"the document nests deeper than {MAX_DEPTH} levels", "document-too-deep"
            )
        if path not in self.doc.values:
            self.doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, ScalarNode):
            self.doc.scalars[path] = node
            return self.scalar(node)
        if id(node) in self.open:
            raise self.fail(
                node,
                "recursive alias: the alias refers to a node that contains it; "
                "a definition must be a finite tree",
                "recursive-alias",
            )
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [
                    self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)
                ]
            if isinstance(node, MappingNode):
                return self.build_mapping(node, path, depth)
        finally:
            self.open.discard(id(node))
        raise self.fail(node, "unsupported YAML node", "yaml-syntax")  # pragma: no cover

    def scalar(self, node: ScalarNode) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            raise
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            raise self.fail(
                node, f"{node.value!r} is not a valid {tag} value ({exc})", "yaml-syntax"
            ) from exc

    def build_mapping(self, node: MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        explicit: set[Any] = set()
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                for source in _merge_sources(value_node):
                    data = self.build(source, path, depth + 1)
                    if not isinstance(data, dict):
                        raise self.fail(source, "'<<' must merge a mapping", "yaml-syntax")
                    for k, v in data.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "mapping keys must be plain text", "yaml-syntax")
            # keys keep their spelling: YAML 1.1 would read `on:`/`yes:` as true
            key = key_node.value
            if key in explicit:
                first = self.doc.keys[(*path, key)]
                self.doc.problems += self.fail(
                    key_node,
                    f"duplicate key '{key}' (first defined at line {first[0]}); "
                    "each key may appear once in a mapping",
                    "duplicate-key",
                ).problems
                continue  # the first value stays; every further duplicate is reported
            explicit.add(key)
            child = (*path, key)
            self.doc.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, child, depth + 1)
        for k, v in merged.items():
            result.setdefault(k, v)
        return result


def _merge_sources(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    return [node]


_BARE_STAR = re.compile(r"(^|[:\[,-])\s*\*\s*($|[\],])")


def _hint(problem: str, text: str, line: int) -> str:
    """A plain-words hint for the YAML mistakes ops people make most."""
    lines = text.splitlines()
    near = " ".join(lines[max(line - 1, 0) : line + 1])
    if "'\\t'" in problem or "\t" in problem:
        return " (indent with spaces: YAML does not allow tabs)"
    if _BARE_STAR.search(near):
        return ' (a bare * starts a YAML alias: write "*" in quotes, as in from: "*")'
    if "mapping values are not allowed" in problem:
        return " (a value containing ': ' must be in quotes)"
    return ""


def _line_column(before: str) -> tuple[int, int]:
    """1-based (line, column) of the character following ``before``."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def parse_document(text: str | bytes, file: str = "<string>", *, collect: bool = False) -> Document:
    """Parse one YAML or JSON document; raise :class:`SourceError` with located problems.

    Every duplicate key is reported. With ``collect``, duplicates do not raise: they are left in
    ``Document.problems`` (the first value kept) for the caller to report with its own.
    """
    _check_size(text, file)
    if isinstance(text, bytes):
        text = _decode(text, file)
    doc = Document(data=None, file=file, lines=text.splitlines())
    root = _compose(text, file)
    if root is None:
        raise SourceError([Problem("the definition is empty", "empty-document", file)])
    try:
        doc.data = _Builder(doc).build(root, (), 0)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SourceError(
            [Problem(f"YAML error: {exc.problem}", "yaml-syntax", file, line, column)]
        ) from exc
    except RecursionError as exc:
        raise _too_deep(file) from exc
    if doc.problems and not collect:
        raise SourceError(doc.problems)
    return doc


def _too_deep(file: str) -> SourceError:
    """The error for a document nested too deeply for the parser or the builder."""
    return SourceError(
        [Problem("the document nests too deeply to read", "document-too-deep", file)]
    )


def _check_size(text: str | bytes, file: str) -> None:
    """Refuse a text of more than ``MAX_BYTES`` (counted as UTF-8) before parsing it."""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > MAX_BYTES:
        raise SourceError(
            [
                Problem(
                    f"the definition is {size} bytes; the limit is {MAX_BYTES} bytes",
                    "document-too-large",
                    file,
                )
            ]
        )


def _decode(text: bytes, file: str) -> str:
    """The UTF-8 text of ``text``; a located error at the first byte that is not UTF-8."""
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_column(exc.object[: exc.start].decode("utf-8", "replace"))
        raise SourceError(
            [
                Problem(
                    f"the file is not UTF-8 text: byte {exc.object[exc.start]:#04x} "
                    f"cannot be decoded ({exc.reason}); save it as UTF-8",
                    "not-utf8",
                    file,
                    line,
                    column,
                )
            ]
        ) from exc


def _compose(text: str, file: str) -> Node | None:
    """PyYAML's node tree of the single document in ``text`` (None when it is empty)."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text[: exc.position])
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise SourceError(
            [
                Problem(
                    f"YAML error: the character {char!r} is not allowed in YAML text "
                    f"({exc.reason})",
                    "yaml-syntax",
                    file,
                    line,
                    column,
                )
            ]
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        hint = _hint(what, text, mark.line if mark else 0)
        raise SourceError(
            [Problem(f"YAML syntax error: {what}{hint}", "yaml-syntax", file, line, column)]
        ) from exc
    except yaml.YAMLError as exc:
        raise SourceError([Problem(f"YAML syntax error: {exc}", "yaml-syntax", file)]) from exc
    except RecursionError as exc:
        raise _too_deep(file) from exc
