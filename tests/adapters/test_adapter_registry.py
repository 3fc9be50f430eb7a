"""The adapter registry: built-ins by module path, registered factories, and entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadflow.adapters import AdapterConfigError, available, factory_for, register
from leadflow.adapters._registry import ENTRY_POINT_GROUP, _unregister


def _factory(name: str, options: object, resolve: object) -> object:
    return (name, options)


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path holding a tiny installed distribution with adapter entry points."""
    (tmp_path / "lf_fake_plugin.py").write_text(
        textwrap.dedent(
            """
            def create(name, options, resolve_secret):
                return ("zendesk", name, dict(options))

            NOT_CALLABLE = 42
            """
        )
    )
    dist = tmp_path / "lf_fake_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lf-fake-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "zendesk = lf_fake_plugin:create\n"
        "broken = lf_fake_plugin_missing:create\n"
        "numb = lf_fake_plugin:NOT_CALLABLE\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("lf_fake_plugin", None)


def test_importing_the_package_imports_no_concrete_adapter() -> None:
    """``import leadflow.adapters`` loads neither a built-in adapter module nor httpx."""
    code = (
        "import sys, leadflow.adapters; "
        "print(sorted(m for m in sys.modules if m.startswith('leadflow.adapters.') "
        "and m.split('.')[2] in ('webhook', 'jsonl', 'hubspot', 'salesforce', 'pipedrive')), "
        "'httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] False"


def test_builtin_types_resolve_to_their_module_create() -> None:
    """``webhook`` and ``jsonl`` resolve to the ``create`` function of their module."""
    from leadflow.adapters import jsonl, webhook

    assert factory_for("webhook") is webhook.create
    assert factory_for("jsonl") is jsonl.create
    assert {"jsonl", "webhook"} <= set(available())


def test_unknown_type_lists_the_available_ones_with_a_hint() -> None:
    """An unknown type name raises AdapterConfigError naming the choices and the close one."""
    with pytest.raises(AdapterConfigError) as info:
        factory_for("webhok")
    message = str(info.value)
    assert "unknown adapter type 'webhok'" in message
    assert "did you mean 'webhook'?" in message
    assert "jsonl" in message
    assert ENTRY_POINT_GROUP in message


def test_registered_factory_wins_and_can_be_removed() -> None:
    """A registered factory is returned for its name, even over a built-in of that name."""
    register("jsonl", _factory)
    register("custom-sink", _factory)
    try:
        assert factory_for("jsonl") is _factory
        assert factory_for("custom-sink") is _factory
        assert "custom-sink" in available()
    finally:
        _unregister("jsonl")
        _unregister("custom-sink")
    assert factory_for("jsonl") is not _factory


@pytest.mark.parametrize("bad", ["", "Webhook", "1st", "has space", "x" * 65])
def test_register_refuses_bad_type_names(bad: str) -> None:
    """Type names are lowercase identifiers of at most 64 characters; others are refused."""
    with pytest.raises(AdapterConfigError, match="adapter type name"):
        register(bad, _factory)


def test_register_refuses_a_non_callable_factory() -> None:
    """A factory must be callable."""
    with pytest.raises(AdapterConfigError, match="must be callable"):
        register("thing", 42)  # type: ignore[arg-type]


def test_entry_point_factories_are_discovered(plugin_dir: Path) -> None:
    """A distribution declaring the entry-point group adds its types to the registry."""
    assert "zendesk" in available()
    factory = factory_for("zendesk")
    assert factory("desk", {"a": 1}, lambda ref: ref) == ("zendesk", "desk", {"a": 1})


def test_entry_point_that_fails_to_load_names_itself(plugin_dir: Path) -> None:
    """A broken third-party entry point gives an AdapterConfigError naming it and the cause."""
    with pytest.raises(AdapterConfigError) as info:
        factory_for("broken")
    assert "lf_fake_plugin_missing:create" in str(info.value)
    assert "ModuleNotFoundError" in str(info.value)


def test_entry_point_that_is_not_callable_is_refused(plugin_dir: Path) -> None:
    """An entry point whose object is not a factory is refused, naming it."""
    with pytest.raises(AdapterConfigError, match="lf_fake_plugin:NOT_CALLABLE"):
        factory_for("numb")
