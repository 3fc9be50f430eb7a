"""``simulate --db PATH``: keep a run in a SQLite file for ``leadflow report`` and the forecast.

The run writes into a temporary file beside ``PATH`` and the file takes its name only when the
run is over, so a run that fails (a bad row, an interrupted replay) leaves no half-written
database behind. An existing file is never written into: its leads would mix with the run's.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from leadflow.cli._common import CliError

__all__ = ["kept_database", "target_path"]

SIDE_FILES = ("-wal", "-shm", "-journal")


def target_path(value: str) -> Path:
    """The file ``--db`` names (a path or a ``sqlite:///`` URL); :class:`CliError` if unusable."""
    path = Path(value)
    if "://" in value:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise CliError(f"--db {value!r} is not a path or a database URL") from exc
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            raise CliError(
                f"--db {value!r}: simulate keeps its run in a new SQLite file; give a path "
                "(sales.db) or sqlite:///sales.db"
            )
        path = Path(url.database)
    if path.exists():
        raise CliError(
            f"--db {path} already exists; simulate writes a new database (choose another path "
            "or remove that file)"
        )
    if not path.parent.is_dir():
        raise CliError(f"--db {path}: the folder {path.parent} does not exist")
    return path


def _remove(path: Path) -> None:
    for name in (str(path), *(str(path) + s for s in SIDE_FILES)):
        Path(name).unlink(missing_ok=True)


@contextmanager
def kept_database(target: Path | None) -> Iterator[str]:
    """The database URL to simulate in: in memory, or a temporary file renamed to ``target``
    when the block ends without an error (removed when it raises)."""
    if target is None:
        yield "sqlite://"
        return
    partial = target.parent / f".{target.name}.{secrets.token_hex(6)}.partial"
    try:
        yield f"sqlite:///{partial}"
    except BaseException:
        _remove(partial)
        raise
    if target.exists():
        _remove(partial)
        raise CliError(f"--db {target} appeared while the run went on; the run is not kept")
    os.replace(partial, target)
