"""The house's rules hold for the real source tree, and the checker catches each kind of break.

The rules and how imports are read are in ``tests/layering.py``; ``docs/architecture.md`` draws
the rooms.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from layering import Graph, strongly_connected

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def graph() -> Graph:
    return Graph(ROOT)


def test_the_scan_sees_every_room(graph: Graph) -> None:
    """Every room has modules, and their imports are resolved to modules of the rooms."""
    rooms = {m.room for m in graph.modules.values()}
    assert {"definitions", "engine", "adapters", "cli"} <= rooms
    engine = graph.modules["leadflow.engine._engine"]
    targets = {graph.module_of(i) for i in engine.imports}
    assert {"leadflow.engine._runtime", "leadflow.engine.store", "leadflow.definitions"} <= targets
    assert graph.modules["leadflow.engine.store"].is_package


def test_imports_point_down_only(graph: Graph) -> None:
    """definitions <- engine <- adapters <- cli/service: no import points up or sideways."""
    assert graph.upward_imports() == []


def test_no_import_circles(graph: Graph) -> None:
    """The module graph has no strongly connected component of more than one module."""
    assert graph.circles() == []


def test_no_module_imports_another_packages_private_names(graph: Graph) -> None:
    """A private module or name is imported only from its own package or its descendants."""
    assert graph.private_imports() == []


def test_adapters_use_only_the_engines_public_api(graph: Graph) -> None:
    """The adapters import nothing underscored from leadflow.engine."""
    assert graph.adapters_beyond_public_api() == []


def test_no_module_reads_another_objects_private_attributes(graph: Graph) -> None:
    """No ``engine._planner``: a module reads only private attributes it defines itself."""
    assert graph.private_attribute_reads() == []


# -- the checker against planted violations ----------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Graph:
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    for room in ("definitions", "engine", "adapters", "cli"):
        init = tmp_path / room / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text("", encoding="utf-8")
    return Graph(tmp_path)


def test_a_clean_planted_tree_passes(tmp_path: Path) -> None:
    """A tree that keeps the rules yields no finding at all (the checks are not always red)."""
    graph = _tree(
        tmp_path,
        {
            "definitions/_model.py": "import yaml\n",
            "engine/_errors.py": "from leadflow.definitions import _model as m\n",
            "engine/sla/__init__.py": "from ._clock import Clock\n",
            "engine/sla/_clock.py": "from leadflow.engine._errors import X\n",
            "engine/_core.py": "from leadflow.engine.sla import Clock\n",
            "adapters/hub.py": "from leadflow.engine import Engine\n",
            "cli/_app.py": "from leadflow.adapters import hub\nfrom leadflow.engine import x\n",
        },
    )
    assert graph.upward_imports() == []
    assert graph.circles() == []
    assert graph.adapters_beyond_public_api() == []
    assert graph.private_attribute_reads() == []
    # a private module of definitions, used by the engine: that is a violation
    assert graph.private_imports() == [
        "leadflow.engine._errors:1 imports private leadflow.definitions._model"
    ]


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("from leadflow.engine import Engine\n", "leadflow.engine.Engine"),
        ("import leadflow.adapters\n", "leadflow.adapters"),
        ("def f():\n    from ..engine import _store\n", "leadflow.engine._store"),
        ("import importlib\nimportlib.import_module('leadflow.cli')\n", "leadflow.cli"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import leadflow.engine\n",
            "leadflow.engine",
        ),
    ],
)
def test_an_upward_import_is_caught_in_every_spelling(
    tmp_path: Path, source: str, target: str
) -> None:
    """definitions importing a higher room fails, however the import is written."""
    graph = _tree(tmp_path, {"definitions/_bad.py": source})
    (finding,) = graph.upward_imports()
    assert finding.startswith("leadflow.definitions._bad:")
    assert target in finding


def test_a_sideways_import_between_composition_roots_is_caught(tmp_path: Path) -> None:
    """The CLI and the service sit side by side: neither may import the other."""
    graph = _tree(
        tmp_path,
        {"service/__init__.py": "", "service/_app.py": "from leadflow.cli import app\n"},
    )
    assert graph.upward_imports() == ["leadflow.service._app:1 imports leadflow.cli.app (cli room)"]


def test_a_planted_circle_is_caught(tmp_path: Path) -> None:
    """Two engine modules importing each other (one only inside a function) form a circle."""
    graph = _tree(
        tmp_path,
        {
            "engine/_a.py": "from leadflow.engine._b import B\n",
            "engine/_b.py": "def f():\n    from leadflow.engine import _a\n",
            "engine/_c.py": "from leadflow.engine._a import A\n",
        },
    )
    assert graph.circles() == [["leadflow.engine._a", "leadflow.engine._b"]]


def test_a_circle_through_a_package_init_is_caught(tmp_path: Path) -> None:
    """A submodule importing its package's ``__init__``, which imports it back, is a circle."""
    graph = _tree(
        tmp_path,
        {
            "engine/__init__.py": "from leadflow.engine._core import Engine\n",
            "engine/_core.py": "from leadflow.engine.store import Store\n",
            "engine/store/__init__.py": "from leadflow.engine.store._rows import Store\n",
            "engine/store/_rows.py": "from leadflow.engine import StorageError\n",
        },
    )
    (circle,) = graph.circles()
    assert "leadflow.engine" in circle
    assert "leadflow.engine.store._rows" in circle


def test_a_private_import_across_packages_is_caught(tmp_path: Path) -> None:
    """A parent reaching into a sub-package's private module, and a sibling doing so, fail;
    a sub-package using its parent's private module does not."""
    graph = _tree(
        tmp_path,
        {
            "engine/_errors.py": "",
            "engine/sla/__init__.py": "",
            "engine/sla/_clocks.py": "from leadflow.engine._errors import E\n",
            "engine/reports/__init__.py": "",
            "engine/reports/_board.py": "from leadflow.engine.sla._clocks import Clock\n",
            "engine/_core.py": "from leadflow.engine.sla import _clocks\n",
            "engine/_ok.py": "from leadflow.engine._errors import _helper\n",
        },
    )
    assert graph.private_imports() == [
        "leadflow.engine._core:1 imports private leadflow.engine.sla._clocks",
        "leadflow.engine.reports._board:1 imports private leadflow.engine.sla._clocks.Clock",
    ]


def test_an_adapter_reaching_into_the_engine_is_caught(tmp_path: Path) -> None:
    """An adapter importing an engine module or name with an underscore fails."""
    graph = _tree(
        tmp_path,
        {
            "engine/store/__init__.py": "",
            "adapters/hub.py": (
                "from leadflow.engine.store import tables\n"
                "from leadflow.engine.store._outbox import claim\n"
            ),
        },
    )
    assert graph.adapters_beyond_public_api() == [
        "leadflow.adapters.hub:2 imports leadflow.engine.store._outbox.claim"
    ]


def test_reading_a_friends_private_attribute_is_caught(tmp_path: Path) -> None:
    """``engine._planner`` in a module that defines no ``_planner`` is a finding; ``self._x``
    and private attributes the module defines are not."""
    graph = _tree(
        tmp_path,
        {
            "engine/_sweep.py": (
                "class Sweep:\n"
                "    def __init__(self, engine):\n"
                "        self._engine = engine\n"
                "    def run(self, other):\n"
                "        self._engine.x\n"
                "        other._engine\n"
                "        return self._engine._planner.fire()\n"
            ),
        },
    )
    assert graph.private_attribute_reads() == ["leadflow.engine._sweep:7 reads ._planner"]


def test_strongly_connected_components() -> None:
    """Tarjan's algorithm finds each circle once, and singletons for the rest."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": set()}
    found = sorted(sorted(c) for c in strongly_connected(edges))
    assert found == [["a", "b", "c"], ["d", "e"], ["f"]]
