"""The distribution's shape: one `leadflow` namespace, four subpackages, data files shipped."""

from __future__ import annotations

import importlib
import importlib.metadata
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest

import leadflow

SUBPACKAGES = ("leadflow.definitions", "leadflow.engine", "leadflow.adapters", "leadflow.cli")


def test_leadflow_is_a_namespace_package() -> None:
    """`leadflow` itself has no `__init__`: it is a namespace over the four subpackages."""
    assert getattr(leadflow, "__file__", None) is None
    assert all(importlib.import_module(name) for name in SUBPACKAGES)


def test_nothing_installs_a_generic_top_level_module() -> None:
    """The installed files live under `leadflow/`; no top-level `engine`, `definitions` or
    `adapters` module that would clash with a host application's own."""
    # only installed distributions have a RECORD; a source tree's leadflow.egg-info
    # (left by `pip install .` next to the tests) lists source files, not installed ones
    installed = [
        d for d in importlib.metadata.distributions(name="leadflow") if d.read_text("RECORD")
    ]
    assert installed, "leadflow is not installed (pip install '.[test]')"
    for dist in installed:
        tops = {f.parts[0] for f in dist.files or [] if not f.parts[0].startswith("..")}
        assert not tops & {"engine", "definitions", "adapters", "engine.py", "definitions.py"}
        assert "leadflow" in tops or any(t.startswith("__editable__") for t in tops)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_ships_py_typed(package: str) -> None:
    """Each subpackage is marked typed (PEP 561) for the host application's type checker."""
    assert resources.files(package).joinpath("py.typed").is_file()


def test_data_files_are_shipped() -> None:
    """The shipped processes, their templates and the Alembic migrations are package data."""
    library = resources.files("leadflow.definitions").joinpath("library")
    assert library.joinpath("inbound-lead.yaml").is_file()
    assert library.joinpath("templates").is_dir()
    migrations = resources.files("leadflow.engine.store").joinpath("upgrades")
    assert migrations.joinpath("env.py").is_file()
    assert migrations.joinpath("versions", "0001_initial.py").is_file()


def test_web_assets_are_package_data() -> None:
    """Every template and static file of the web app matches a package-data pattern, so the
    wheel ships it (a file that matches none works from a checkout and is missing installed)."""
    root = Path(__file__).parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["leadflow.service.web"]
    web = root / "service" / "web"
    files = [
        path.relative_to(web).as_posix()
        for folder in ("templates", "static")
        for path in (web / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert "templates/base.html" in files
    assert "static/app.js" in files
    assert "static/vendor/vega.min.js" in files
    assert "static/vendor/LICENSE.vega" in files

    def shipped(file: str, pattern: str) -> bool:
        # setuptools' globs: a "*" stays within one folder (fnmatch's would cross "/")
        return file.count("/") == pattern.count("/") and fnmatch(file, pattern)

    assert [f for f in files if not any(shipped(f, p) for p in patterns)] == []


def test_console_script_points_at_the_cli() -> None:
    """`pip install .` gives a `leadflow` command running the typer app."""
    scripts = importlib.metadata.entry_points(group="console_scripts")
    (script,) = [s for s in scripts if s.name == "leadflow"]
    assert script.value == "leadflow.cli:main"


def test_every_package_folder_is_listed_for_setuptools() -> None:
    """Each folder with an ``__init__.py`` in a room is a package pyproject.toml ships (a
    missing one would work from a checkout and vanish from the installed wheel)."""
    root = Path(__file__).parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    folders = {name: Path(folder) for name, folder in setuptools["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in sorted((root / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(root / folder).parts
            found.add(".".join([name, *rel]))
    assert found == set(setuptools["packages"])
