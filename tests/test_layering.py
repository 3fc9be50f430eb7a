"""The package layers, read from the source: definitions is pure, engine knows no concrete adapter.

``leadflow.definitions`` is the language: it must not import ``leadflow.engine`` or
``leadflow.adapters``, neither absolutely nor by a relative import that climbs out of the package.
``leadflow.engine`` may use the ``leadflow.adapters`` package API but no module inside it (the
concrete adapters plug in from the outside). Imports are found by walking each file's AST, so
imports inside functions and ``importlib.import_module("...")`` calls with a literal count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = {"definitions": "leadflow.definitions", "engine": "leadflow.engine"}
ADAPTERS_DIR = ROOT / "adapters"


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


DEFINITION_FILES = _sources("definitions")
ENGINE_FILES = _sources("engine")


def module_of(path: Path, root: Path = ROOT) -> tuple[str, bool]:
    """(dotted module name, is a package ``__init__``) of a source file under ``root``."""
    rel = path.relative_to(root)
    top = PACKAGES.get(rel.parts[0], f"leadflow.{rel.parts[0]}")
    parts = [*top.split("."), *rel.parts[1:-1]]
    if rel.name != "__init__.py":
        parts.append(rel.stem)
    return ".".join(parts), rel.name == "__init__.py"


def _is_module(name: str) -> bool:
    """Whether ``name`` (``leadflow.adapters.x``) is a module or package of the adapters folder."""
    rest = name.split(".")[2:]
    if not rest:
        return True
    base = ADAPTERS_DIR.joinpath(*rest)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str, bool]]:
    """(line, absolute name, surely a module) of everything ``source`` imports.

    Relative names are resolved against ``module``. ``from X import y`` yields ``X`` (a module)
    and ``X.y`` (a module only if such a file exists). A relative import that climbs above
    ``leadflow`` yields ``<escapes leadflow>``.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, True
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1
                if up >= len(package):
                    yield node.lineno, "<escapes leadflow>", True
                    continue
                base_parts = package[: len(package) - up]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield node.lineno, base, True
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}", False
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__")
                )
            )
        ):
            yield node.lineno, node.args[0].value, True


def _shortest(flagged: list[tuple[int, str]]) -> list[str]:
    """``line N: name`` for each flagged name that no shorter flagged name of its line covers."""
    out = []
    for line, name in flagged:
        if not any(l2 == line and name.startswith(f"{n2}.") for l2, n2 in flagged):
            entry = f"line {line}: {name}"
            if entry not in out:
                out.append(entry)
    return out


def definitions_violations(source: str, module: str, is_package: bool) -> list[str]:
    """Imports of a definitions file that reach out of leadflow.definitions into leadflow."""
    flagged = [
        (line, name)
        for line, name, _ in imported_modules(source, module, is_package)
        if name == "<escapes leadflow>"
        or name in ("leadflow", "leadflow.engine", "leadflow.adapters")
        or (name.startswith("leadflow.") and not name.startswith("leadflow.definitions"))
    ]
    return _shortest(flagged)


def engine_violations(source: str, module: str, is_package: bool) -> list[str]:
    """Imports of an engine file that name a module inside ``leadflow.adapters``."""
    flagged = [
        (line, name)
        for line, name, certain in imported_modules(source, module, is_package)
        if name == "<escapes leadflow>"
        or (name.startswith("leadflow.adapters.") and (certain or _is_module(name)))
    ]
    return _shortest(flagged)


def _check(path: Path) -> tuple[str, str, bool]:
    module, is_package = module_of(path)
    return path.read_text(encoding="utf-8"), module, is_package


def test_the_scan_sees_the_packages() -> None:
    """Both packages have sources to scan, and engine's imports of definitions are resolved."""
    assert ROOT / "definitions" / "_model.py" in DEFINITION_FILES
    assert ROOT / "engine" / "_engine.py" in ENGINE_FILES
    assert module_of(ROOT / "engine" / "_engine.py") == ("leadflow.engine._engine", False)
    assert module_of(ROOT / "definitions" / "__init__.py") == ("leadflow.definitions", True)
    names = {n for _, n, _ in imported_modules(*_check(ROOT / "engine" / "_engine.py"))}
    assert {"leadflow.definitions", "leadflow.engine.store", "sqlalchemy"} <= names


@pytest.mark.parametrize(
    "path", DEFINITION_FILES, ids=[str(p.relative_to(ROOT)) for p in DEFINITION_FILES]
)
def test_definitions_imports_neither_engine_nor_adapters(path: Path) -> None:
    """A definitions module imports nothing of leadflow outside leadflow.definitions."""
    assert definitions_violations(*_check(path)) == []


@pytest.mark.parametrize("path", ENGINE_FILES, ids=[str(p.relative_to(ROOT)) for p in ENGINE_FILES])
def test_engine_imports_no_concrete_adapter(path: Path) -> None:
    """An engine module imports no module inside leadflow.adapters."""
    assert engine_violations(*_check(path)) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from leadflow.engine import Engine", ["line 1: leadflow.engine"]),
        ("import leadflow.adapters", ["line 1: leadflow.adapters"]),
        ("def f():\n    from ..engine import _store", ["line 2: leadflow.engine"]),
        ("from .. import engine", ["line 1: leadflow"]),
        ("from ... import x", ["line 1: <escapes leadflow>"]),
        (
            "import importlib\nimportlib.import_module('leadflow.engine')",
            ["line 2: leadflow.engine"],
        ),
        ("from ._model import Stage\nfrom leadflow.definitions import Stage\nimport yaml", []),
    ],
)
def test_definitions_check_catches_forbidden_imports(source: str, expected: list[str]) -> None:
    """The definitions check flags engine/adapters imports in every spelling, and only those."""
    assert definitions_violations(source, "leadflow.definitions._x", False) == expected


def test_engine_check_catches_concrete_adapter_imports() -> None:
    """The engine check flags ``leadflow.adapters.<module>`` but not names of the package API."""
    module = "leadflow.engine._x"
    sub = "leadflow.adapters.hubspot"
    assert engine_violations("from leadflow.adapters import __all__", module, False) == []
    assert engine_violations("import leadflow.adapters", module, False) == []
    assert engine_violations("from leadflow.definitions import Stage", module, False) == []
    assert engine_violations(f"import {sub}", module, False) == [f"line 1: {sub}"]
    assert engine_violations(f"from {sub} import Client", module, False) == [f"line 1: {sub}"]
    assert engine_violations("from ..adapters.hubspot import C", module, False) == [
        f"line 1: {sub}"
    ]
    assert engine_violations("def f():\n    import leadflow.adapters._x", module, False) == [
        "line 2: leadflow.adapters._x"
    ]
