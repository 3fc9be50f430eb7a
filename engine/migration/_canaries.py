"""Canary starts over the public :class:`~leadflow.engine.Engine` (the state is in
``leadflow.engine._canary``, which ``Engine.start`` consults)."""

from __future__ import annotations

from datetime import datetime

from leadflow.engine import _canary
from leadflow.engine._canary import Canary
from leadflow.engine._engine import Engine

__all__ = ["canary", "clear_canary", "set_canary"]


def set_canary(
    engine: Engine, process: str, version: int, share: float, at: datetime | None = None
) -> Canary:
    """Start ``share`` (0 < share <= 1) of the new leads of ``process`` on ``version``; the
    choice is a hash of the lead id, so a retried start picks the same version.

    :class:`~leadflow.engine.migration.InvalidCanary` for a share outside that range and
    :class:`~leadflow.engine.UnknownProcess` when the version is not deployed.
    """
    return _canary.set_canary(engine.runtime, process, version, share, at)


def clear_canary(engine: Engine, process: str) -> bool:
    """New leads of ``process`` start on the newest version again; False if there was no canary."""
    return _canary.clear_canary(engine.runtime, process)


def canary(engine: Engine, process: str) -> Canary | None:
    """The canary of ``process``, or None."""
    return _canary.canary(engine.runtime, process)
