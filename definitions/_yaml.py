"""YAML (and JSON) text to plain data, remembering where every node came from.

PyYAML's composer gives nodes with positions; we build the Python values ourselves so that we
can reject duplicate keys, cap alias expansion (a "billion laughs" document cannot blow up) and
record a ``(line, column)`` for every path into the document.
"""

from __future__ import annotations

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
    quoted: dict[Path, int] = field(default_factory=dict)
    """Path -> 1 for scalars written in quotes (so offsets inside them can be mapped)."""

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

    def problem(self, path: Path, message: str, code: str, *, key: bool = False) -> Problem:
        """A :class:`Problem` located at ``path``."""
        line, column = self.position(path, key=key)
        return Problem(message=message, code=code, file=self.file, line=line, column=column)


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.constructor = yaml.SafeLoader("")

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
            if node.style in ("'", '"'):
                self.doc.quoted[path] = 1
            return self.constructor.construct_object(node, deep=True)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.build_mapping(node, path, depth)
        raise self.fail(node, "unsupported YAML node", "yaml-syntax")  # pragma: no cover

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
            key = self.constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, bool)) or key is None:
                raise self.fail(key_node, f"mapping key {key!r} is not text", "yaml-syntax")
            key = str(key) if not isinstance(key, str) else key
            if key in explicit:
                first = self.doc.keys[(*path, key)]
                raise self.fail(
                    key_node,
                    f"duplicate key '{key}' (first defined at line {first[0]}); "
                    "each key may appear once in a mapping",
                    "duplicate-key",
                )
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


def parse_document(text: str | bytes, file: str = "<string>") -> Document:
    """Parse one YAML or JSON document; raise :class:`SourceError` with located problems."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
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
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(
                [Problem(f"the file is not UTF-8 text ({exc.reason})", "not-utf8", file)]
            ) from exc
    doc = Document(data=None, file=file)
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise SourceError(
            [Problem(f"YAML syntax error: {what}", "yaml-syntax", file, line, column)]
        ) from exc
    except yaml.YAMLError as exc:
        raise SourceError([Problem(f"YAML syntax error: {exc}", "yaml-syntax", file)]) from exc
    except RecursionError as exc:
        raise SourceError(
            [Problem("the document nests too deeply to read", "document-too-deep", file)]
        ) from exc
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
        raise SourceError(
            [Problem("the document nests too deeply to read", "document-too-deep", file)]
        ) from exc
    return doc
