"""A small parser of CEL into a tree that lint can reason about.

The load-time checks already compiled every expression with ``cel``, which exposes no syntax
tree; this parser reads the same text into :class:`Node` objects, keeping what lint needs
(literals, ``lead.<field>`` reads, comparisons, ``&&``, ``||``, ``!``) and folding everything else
(calls, arithmetic, macros, maps) into ``other`` nodes that keep their children. When the text
uses something the parser does not know, :func:`parse` gives None and lint says nothing about
that expression: a missed finding, never a false one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .expressions import _literal_value, _string_end

__all__ = ["COMPARISONS", "Node", "parse", "walk"]

COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
"""Comparison operators; ``in`` is a node kind of its own."""

_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+[uU]?|[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|[0-9]+[uU]?"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING_START = re.compile(r"[rRbB]{0,2}['\"]")
_TWO = ("==", "!=", "<=", ">=", "&&", "||")
_ONE = "<>!+-*/%?:.,()[]{}"


@dataclass(frozen=True, slots=True)
class Node:
    """A node of the tree.

    ``kind`` is ``lit`` (``value`` and ``type``: int, uint, double, string, bytes, bool, null),
    ``field`` (``value``: the lead field read), ``list``, ``cmp`` (``op``), ``in``, ``and``,
    ``or``, ``not`` or ``other``; ``offset`` is where it starts in the expression.
    """

    kind: str
    offset: int
    children: tuple[Node, ...] = ()
    value: Any = None
    type: str = ""
    op: str = ""


class _Unsupported(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        string = _STRING_START.match(text, i)
        if string:
            end = _string_end(text, i)
            out.append(("string", text[i:end], i))
            i = end
            continue
        number = _NUMBER.match(text, i)
        if number:
            out.append(("number", number.group(), i))
            i = number.end()
            continue
        ident = _IDENT.match(text, i)
        if ident:
            out.append(("ident", ident.group(), i))
            i = ident.end()
            continue
        if text[i : i + 2] in _TWO:
            out.append(("op", text[i : i + 2], i))
            i += 2
            continue
        if ch in _ONE:
            out.append(("op", ch, i))
            i += 1
            continue
        raise _Unsupported(ch)
    return out


def _number(text: str, offset: int) -> Node:
    if text[-1] in "uU":
        return Node("lit", offset, value=int(text[:-1], 0), type="uint")
    if text.lower().startswith("0x"):
        return Node("lit", offset, value=int(text, 16), type="int")
    if any(c in text for c in ".eE"):
        return Node("lit", offset, value=float(text), type="double")
    return Node("lit", offset, value=int(text), type="int")


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> tuple[str, str, int]:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else ("end", "", -1)

    def take(self, text: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok[0] == "end" or (text is not None and tok[1] != text):
            raise _Unsupported(text or "end")
        self.i += 1
        return tok

    def at(self, *texts: str) -> bool:
        kind, text, _ = self.peek()
        return kind in ("op", "ident") and text in texts

    def expr(self) -> Node:
        cond = self.binary_or()
        if self.at("?"):
            self.take()
            yes = self.binary_or()
            self.take(":")
            no = self.expr()
            return Node("other", cond.offset, (cond, yes, no))
        return cond

    def binary_or(self) -> Node:
        items = [self.binary_and()]
        while self.at("||"):
            self.take()
            items.append(self.binary_and())
        return items[0] if len(items) == 1 else Node("or", items[0].offset, tuple(items))

    def binary_and(self) -> Node:
        items = [self.relation()]
        while self.at("&&"):
            self.take()
            items.append(self.relation())
        return items[0] if len(items) == 1 else Node("and", items[0].offset, tuple(items))

    def relation(self) -> Node:
        left = self.addition()
        while self.at(*COMPARISONS, "in"):
            op = self.take()[1]
            right = self.addition()
            kind = "in" if op == "in" else "cmp"
            left = Node(kind, left.offset, (left, right), op=op)
        return left

    def addition(self) -> Node:
        left = self.multiplication()
        while self.at("+", "-"):
            self.take()
            left = Node("other", left.offset, (left, self.multiplication()))
        return left

    def multiplication(self) -> Node:
        left = self.unary()
        while self.at("*", "/", "%"):
            self.take()
            left = Node("other", left.offset, (left, self.unary()))
        return left

    def unary(self) -> Node:
        if self.at("!"):
            offset = self.take()[2]
            return Node("not", offset, (self.unary(),))
        if self.at("-"):
            offset = self.take()[2]
            inner = self.unary()
            if inner.kind == "lit" and inner.type in ("int", "double"):
                return Node("lit", offset, value=-inner.value, type=inner.type)
            return Node("other", offset, (inner,))
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while self.at(".", "["):
            if self.take()[1] == ".":
                name = self.take()
                if name[0] != "ident":
                    raise _Unsupported(name[1])
                if self.at("("):
                    node = Node("other", node.offset, (node, *self.arguments("(", ")")))
                elif node.kind == "other" and node.value == "lead":
                    node = Node("field", node.offset, value=name[1])
                else:
                    node = Node("other", node.offset, (node,))
            else:
                index = self.expr()
                self.take("]")
                is_lead = node.kind == "other" and node.value == "lead"
                if is_lead and index.kind == "lit" and index.type == "string" and index.value:
                    node = Node("field", node.offset, value=index.value)
                else:
                    node = Node("other", node.offset, (node, index))
        return node

    def arguments(self, opening: str, closing: str) -> list[Node]:
        self.take(opening)
        args: list[Node] = []
        while not self.at(closing):
            args.append(self.expr())
            if self.at(":") and opening == "{":
                self.take()
                args.append(self.expr())
            if not self.at(","):
                break
            self.take()
        self.take(closing)
        return args

    def primary(self) -> Node:
        kind, text, offset = self.peek()
        if kind == "number":
            self.take()
            return _number(text, offset)
        if kind == "string":
            self.take()
            value = _literal_value(text)
            is_bytes = text[:2].lower() in ("b'", 'b"', "rb", "br")
            return Node("lit", offset, value=value, type="bytes" if is_bytes else "string")
        if kind == "ident":
            self.take()
            if text in ("true", "false"):
                return Node("lit", offset, value=text == "true", type="bool")
            if text == "null":
                return Node("lit", offset, value=None, type="null")
            if self.at("("):
                return Node("other", offset, tuple(self.arguments("(", ")")), value=text)
            return Node("other", offset, value=text)
        if text == "(":
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        if text == "[":
            return Node("list", offset, tuple(self.arguments("[", "]")))
        if text == "{":
            return Node("other", offset, tuple(self.arguments("{", "}")))
        if text == ".":
            self.take()
            return Node("other", offset, value=self.take()[1])
        raise _Unsupported(text)


def parse(expression: str) -> Node | None:
    """The tree of ``expression``, or None when it uses syntax this parser does not know."""
    try:
        parser = _Parser(expression)
        node = parser.expr()
        if parser.peek()[0] != "end":
            return None
        return node
    except (_Unsupported, ValueError, RecursionError):
        return None


def walk(node: Node) -> list[Node]:
    """``node`` and every node below it, parents first."""
    out = [node]
    for child in node.children:
        out.extend(walk(child))
    return out
