"""The import graph of leadflow's rooms, read from the source, and the rules it must keep.

Rooms, lowest first: ``definitions`` (the language) <- ``engine`` (the runtime) <- ``adapters``
(the edges to other systems) <- ``cli`` and ``service`` (composition roots). Each folder of the
repository is one room (``engine/`` is ``leadflow.engine``). The rules:

- an import points to the same room or a lower one: never up, and never between the two
  composition roots (nothing imports ``cli`` or ``service``);
- ``adapters`` use the engine's public API only (no module or name with a leading underscore);
- no module imports a private name (a ``_module`` or ``_name``) owned by a package that is
  neither its own nor one of its ancestors: ``leadflow.engine.sla.sweep`` may use
  ``leadflow.engine._errors``, but ``leadflow.engine._engine`` may not use
  ``leadflow.engine.sla._clocks`` (it goes through ``leadflow.engine.sla``);
- no module reads another object's private attribute (``engine._planner``) unless the module
  itself defines an attribute of that name;
- no import circles: every strongly connected component of the module graph has one module.

Imports are found by walking each file's AST, so imports inside functions, under
``TYPE_CHECKING`` and ``importlib.import_module("...")`` with a literal all count. ``from X import
y`` is an edge to ``X.y`` when that is a module, else to ``X``; the implicit import of a parent
package by its submodules is not an edge (it would make every package a circle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOMS = {"definitions": 0, "engine": 1, "adapters": 2, "cli": 3, "service": 3}
"""Room folder -> rank; an import may point only to a room of lower rank (or its own)."""


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved."""

    line: int
    target: str
    """The absolute dotted name (a module, or a module plus the name taken from it)."""
    names_module: bool
    """Whether ``target`` is a module or package (not a name inside one)."""


@dataclass
class Module:
    """One source file of a room."""

    name: str
    path: Path
    is_package: bool
    imports: list[Import] = field(default_factory=list)
    private_reads: list[tuple[int, str]] = field(default_factory=list)
    """(line, attribute) of ``x._attr`` reads that the module defines no ``_attr`` for."""

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]

    @property
    def room(self) -> str:
        return self.name.split(".")[1]


class Graph:
    """Every module of the rooms under ``root`` and what it imports."""

    def __init__(self, root: Path, rooms: dict[str, int] = ROOMS) -> None:
        self.root = root
        self.rooms = rooms
        self.modules: dict[str, Module] = {}
        for room in rooms:
            for path in sorted((root / room).rglob("*.py")) if (root / room).is_dir() else []:
                if "versions" in path.relative_to(root).parts:
                    continue  # Alembic revision scripts: loaded by path, not imported
                name, is_package = self.module_name(path)
                self.modules[name] = Module(name, path, is_package)
        for module in self.modules.values():
            tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
            module.imports = list(self._imports(tree, module))
            module.private_reads = _private_reads(tree)

    def module_name(self, path: Path) -> tuple[str, bool]:
        rel = path.relative_to(self.root)
        parts = ["leadflow", *rel.parts[:-1]]
        if rel.name != "__init__.py":
            parts.append(rel.stem)
        return ".".join(parts), rel.name == "__init__.py"

    def is_module(self, name: str) -> bool:
        return name in self.modules

    def _imports(self, tree: ast.AST, module: Module) -> Iterator[Import]:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(node.lineno, alias.name, True)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, module)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if alias.name != "*" and self.is_module(full):
                        yield Import(node.lineno, full, True)
                    else:
                        yield Import(node.lineno, full if alias.name != "*" else base, False)
            elif (literal := _import_module_literal(node)) is not None:
                yield Import(getattr(node, "lineno", 0), literal, True)

    def module_of(self, imp: Import) -> str | None:
        """The leadflow module an import runs (None outside the rooms)."""
        target = imp.target if imp.names_module else imp.target.rpartition(".")[0]
        while target and target not in self.modules:
            target = target.rpartition(".")[0]
        return target or None

    # -- the rules -----------------------------------------------------------------------------

    def upward_imports(self) -> list[str]:
        """Imports pointing to a higher room, or between rooms of the same rank."""
        out = []
        for module in self.modules.values():
            for imp in module.imports:
                room = _room(imp.target)
                if room is None or room == module.room:
                    continue
                if room not in self.rooms or self.rooms[room] >= self.rooms[module.room]:
                    out.append(f"{module.name}:{imp.line} imports {imp.target} ({room} room)")
        return sorted(set(out))

    def private_imports(self) -> list[str]:
        """Imports of a private module or name owned by a package that is not an ancestor."""
        out = []
        for module in self.modules.values():
            for imp in module.imports:
                owner = _private_owner(imp.target, self)
                if owner is None:
                    continue
                if module.package != owner and not module.package.startswith(f"{owner}."):
                    out.append(f"{module.name}:{imp.line} imports private {imp.target}")
        return sorted(set(out))

    def adapters_beyond_public_api(self) -> list[str]:
        """Adapter imports of an engine name or module with a leading underscore."""
        out = []
        for module in self.modules.values():
            if module.room != "adapters":
                continue
            for imp in module.imports:
                parts = imp.target.split(".")
                if parts[:2] == ["leadflow", "engine"] and any(_private(p) for p in parts[2:]):
                    out.append(f"{module.name}:{imp.line} imports {imp.target}")
        return sorted(set(out))

    def private_attribute_reads(self) -> list[str]:
        """Reads of another object's private attribute (``engine._planner``)."""
        return sorted(
            f"{m.name}:{line} reads ._{attr[1:]}"
            for m in self.modules.values()
            for line, attr in m.private_reads
        )

    def edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {name: set() for name in self.modules}
        for module in self.modules.values():
            for imp in module.imports:
                target = self.module_of(imp)
                if target is not None and target != module.name:
                    out[module.name].add(target)
        return out

    def circles(self) -> list[list[str]]:
        """Strongly connected components of more than one module (Tarjan's algorithm)."""
        return [sorted(c) for c in strongly_connected(self.edges()) if len(c) > 1]


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


_NAMEDTUPLE_API = frozenset({"_asdict", "_replace", "_fields", "_make", "_field_defaults"})
"""Public methods of ``typing.NamedTuple`` despite their underscore."""


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _room(target: str) -> str | None:
    parts = target.split(".")
    return parts[1] if parts[0] == "leadflow" and len(parts) > 1 else None


def _private_owner(target: str, graph: Graph) -> str | None:
    """The package owning the first private part of ``target`` (None: nothing private)."""
    parts = target.split(".")
    if parts[0] != "leadflow":
        return None
    for i, part in enumerate(parts):
        if _private(part):
            owner = ".".join(parts[:i])
            # a private name inside a module belongs to the module's package
            while owner and graph.is_module(owner) and not graph.modules[owner].is_package:
                owner = owner.rpartition(".")[0]
            return owner
    return None


def _resolve(node: ast.ImportFrom, module: Module) -> str:
    if not node.level:
        return node.module or ""
    package = module.package.split(".")
    up = node.level - 1
    if up >= len(package):
        return "<escapes leadflow>"
    base = package[: len(package) - up]
    return ".".join([*base, *([node.module] if node.module else [])])


def _import_module_literal(node: ast.AST) -> str | None:
    if not (
        isinstance(node, ast.Call)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return None
    func = node.func
    if (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    ):
        return node.args[0].value
    return None


def _private_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """``x._attr`` reads (x not self/cls) of attributes the module does not define itself."""
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            defined.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            defined.add(node.value)  # __slots__ entries, getattr names
    reads = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and node.attr not in defined
            and node.attr not in _NAMEDTUPLE_API
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            reads.append((node.lineno, node.attr))
    return reads
