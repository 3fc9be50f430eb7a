"""The public API of each package is exactly its ``__all__`` (in the spirit of httpx's test).

``__all__`` is sorted the way ruff's RUF022 sorts it (constants, then classes, then the rest,
each in natural order), names only what exists, and lists every public class or function of
leadflow that the package namespace holds.
"""

from __future__ import annotations

import importlib
import inspect
import re
from types import ModuleType

import pytest

PACKAGES = [
    "leadflow.definitions",
    "leadflow.engine",
    "leadflow.engine.access",
    "leadflow.engine.graph",
    "leadflow.engine.migration",
    "leadflow.engine.reports",
    "leadflow.engine.routing",
    "leadflow.engine.simulate",
    "leadflow.engine.sla",
    "leadflow.engine.store",
    "leadflow.engine.worker",
    "leadflow.adapters",
    "leadflow.cli",
    "leadflow.service",
]


def isort_key(name: str) -> tuple[int, list[int | str]]:
    """RUF022's order: SCREAMING_CASE, then CamelCase, then anything else; natural within."""
    if name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    natural: list[int | str] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
    return group, natural


@pytest.fixture(params=PACKAGES)
def package(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def test_isort_key_orders_like_ruff() -> None:
    """The sort key puts constants first, classes next and is case-sensitive within a group."""
    names = ["load", "Engine", "EVENT_TYPES", "LeadflowError", "LeadNotFound", "v10", "v9"]
    assert sorted(names, key=isort_key) == [
        "EVENT_TYPES",
        "Engine",
        "LeadNotFound",
        "LeadflowError",
        "load",
        "v9",
        "v10",
    ]


def test_all_is_a_sorted_list_of_unique_strings(package: ModuleType) -> None:
    """``__all__`` is a list of distinct names in RUF022 order."""
    exported = package.__all__
    assert isinstance(exported, list)
    assert all(isinstance(name, str) for name in exported)
    assert len(set(exported)) == len(exported)
    assert exported == sorted(exported, key=isort_key)


def test_every_listed_name_exists(package: ModuleType) -> None:
    """Every name in ``__all__`` is an attribute of the package."""
    assert [name for name in package.__all__ if not hasattr(package, name)] == []


def test_every_public_class_and_function_is_listed(package: ModuleType) -> None:
    """Each public class or function of leadflow in the package namespace is in ``__all__``."""
    unlisted = [
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith("leadflow.")
        and name not in package.__all__
    ]
    assert unlisted == []


def test_star_import_gives_exactly_all(package: ModuleType) -> None:
    """``from <package> import *`` binds exactly the names of ``__all__``."""
    namespace: dict[str, object] = {}
    exec(f"from {package.__name__} import *", namespace)
    namespace.pop("__builtins__", None)
    assert sorted(namespace) == sorted(package.__all__)


def test_exported_classes_and_functions_come_from_leadflow(package: ModuleType) -> None:
    """Exported classes and functions are leadflow's own, not re-exported third-party ones."""
    foreign = [
        name
        for name in package.__all__
        if (inspect.isclass(value := getattr(package, name)) or inspect.isfunction(value))
        and not value.__module__.startswith("leadflow.")
    ]
    assert foreign == []
