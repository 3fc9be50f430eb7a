"""The leadflow command line.

``main`` answers ``leadflow --version`` without importing the commands (and so the engine,
SQLAlchemy, Alembic): it starts in a fraction of the time. ``app`` (the typer app) is loaded on
first use.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["app", "main"]


def main() -> None:
    """Run the ``leadflow`` command line."""
    if sys.argv[1:] == ["--version"]:
        from leadflow.cli._version import version

        print(f"leadflow {version()}")
        return
    from leadflow.cli._app import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from leadflow.cli._app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
