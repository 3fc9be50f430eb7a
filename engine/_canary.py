"""Canary starts: a deterministic share of a process's new leads starts on a chosen version.

``set_canary(runtime, "inbound-lead", 3, 0.1)`` stores one ``lf_canaries`` row; from then on
:func:`choose_version` (called by ``Engine.start`` and ``start_many`` where they pick the
version) starts a lead on version 3 when the hash of its id falls in the first 10% of the hash
space, and on the newest *other* deployed version otherwise. The hash (SHA-256 of the process
and the lead id) does not depend on time or on the process that computes it, so a retried
start picks the same version, and raising the share only moves leads from the rest to the
canary, never back. Without a canary row, leads start on the newest version, as always.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from leadflow.definitions import LeadflowError
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._errors import StorageError
from leadflow.engine._runtime import Runtime
from leadflow.engine.store import Tx
from leadflow.engine.store.tables import canaries

__all__ = [
    "Canary",
    "InvalidCanary",
    "bucket",
    "canary",
    "choose_version",
    "clear_canary",
    "set_canary",
    "version_chooser",
]

_SCALE = float(1 << 64)


class InvalidCanary(LeadflowError, ValueError):
    """A canary with a share outside (0, 1] or a version that is not deployed; nothing changed."""

    code = "invalid-canary"

    def __init__(self, process: str, message: str) -> None:
        self.process = process
        super().__init__(f"canary of process '{process}': {message}")


@dataclass(frozen=True, slots=True)
class Canary:
    """A canary: ``share`` of the new leads of ``process`` start on ``version``."""

    process: str
    version: int
    share: float
    """Of new leads, in (0, 1]."""
    set_at: datetime


def bucket(process: str, lead_id: str) -> float:
    """Where a lead falls in [0, 1): the first 64 bits of SHA-256(process, NUL, lead id)."""
    digest = hashlib.sha256(f"{process}\0{lead_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def _versions(tx: Tx, process: str) -> tuple[int, int | None, float, int | None] | None:
    """(newest version, canary version, share, newest version other than the canary's) in one
    round trip (this runs on every start); None when nothing of ``process`` is deployed."""
    p = tx.store.param
    tx.cur.execute(
        "SELECT max(d.version), c.version, c.share, "
        "max(CASE WHEN d.version <> c.version THEN d.version END) "
        "FROM lf_definitions d LEFT JOIN lf_canaries c ON c.process = d.process "
        f"WHERE d.process = {p} GROUP BY c.version, c.share",
        (process,),
    )
    r = tx.cur.fetchone()
    if r is None or r[0] is None:
        return None
    return (
        int(r[0]),
        None if r[1] is None else int(r[1]),
        float(r[2] or 0.0),
        None if r[3] is None else int(r[3]),
    )


def version_chooser(runtime: Runtime, tx: Tx, process: str) -> Callable[[str], CompiledProcess]:
    """The version each new lead of ``process`` starts on, as seen by ``tx``: a function of
    the lead id (the newest version for everyone when the process has no canary)."""
    found = _versions(tx, process)
    if found is None:
        runtime.latest(tx, process)  # raises UnknownProcess naming what is deployed
        raise AssertionError(process)  # pragma: no cover - _latest raised
    latest, version, share, other = found
    if version is None:
        compiled = runtime.compiled(process, latest)
        return lambda _lead_id: compiled
    chosen = runtime.compiled(process, version)
    rest = runtime.compiled(process, other) if other is not None else chosen

    def choose(lead_id: str) -> CompiledProcess:
        return chosen if bucket(process, str(lead_id)) < share else rest

    return choose


def choose_version(runtime: Runtime, tx: Tx, process: str, lead_id: str) -> CompiledProcess:
    """The version ``lead_id`` starts on (see :func:`version_chooser`)."""
    return version_chooser(runtime, tx, process)(lead_id)


def set_canary(
    runtime: Runtime, process: str, version: int, share: float, at: datetime | None = None
) -> Canary:
    """Start ``share`` (0 < share <= 1) of the new leads of ``process`` on ``version``.

    Replaces the process's previous canary. Raises :class:`InvalidCanary` for a share out of
    range and :class:`~leadflow.engine.UnknownProcess` when the version is not deployed.
    """
    given: object = share
    if (
        isinstance(given, bool)
        or not isinstance(given, (int, float))
        or not math.isfinite(given)
        or not 0 < given <= 1
    ):
        raise InvalidCanary(
            process, f"share must be a number in (0, 1] (0.1 = 10% of new leads), not {share!r}"
        )
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidCanary(process, f"version must be a whole number, not {version!r}")
    runtime.compiled(process, version)  # UnknownProcess names what is deployed
    when = runtime.now(at)
    row = {"version": version, "share": float(share), "set_at": when}
    try:
        with runtime.store.sa.begin() as conn:
            done = conn.execute(
                canaries.update().where(canaries.c.process == process).values(**row)
            ).rowcount
            if not done:
                conn.execute(canaries.insert().values(process=process, **row))
    except sa.exc.IntegrityError:
        return set_canary(runtime, process, version, share, at)  # set concurrently: ours wins
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"set the canary of {process}: {exc.__cause__ or exc}") from exc
    return Canary(process, version, float(share), when)


def clear_canary(runtime: Runtime, process: str) -> bool:
    """New leads of ``process`` start on the newest version again; False if there was no canary."""
    try:
        with runtime.store.sa.begin() as conn:
            done = conn.execute(canaries.delete().where(canaries.c.process == process)).rowcount
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"clear the canary of {process}: {exc.__cause__ or exc}") from exc
    return bool(done)


def canary(runtime: Runtime, process: str) -> Canary | None:
    """The canary of ``process``, or None."""
    t = canaries
    rows = runtime.store.query(
        sa.select(t.c.version, t.c.share, t.c.set_at).where(t.c.process == process),
        f"read the canary of {process}",
    )
    if not rows:
        return None
    version, share, set_at = rows[0]
    return Canary(process, int(version), float(share), runtime.store.decode_time(set_at))
