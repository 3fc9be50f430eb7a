"""A throwaway PostgreSQL server for the test session.

The server is built from the PostgreSQL server binaries found on the machine, lives in a fresh
temporary directory, listens only on 127.0.0.1 (plus a private Unix socket directory), runs with
durability switched off for speed, and is stopped and deleted again when the session ends, also
when starting it failed half-way.

Typical use (see ``tests/conftest.py``)::

    with start_server(find_bindir()) as server:
        url = server.create_database()  # postgresql+psycopg://postgres@127.0.0.1:PORT/NAME
        ...

Where the binaries are looked for, in order:

1. the directory named by the environment variable ``LEADFLOW_PG_BIN``;
2. ``pg_config --bindir``;
3. the newest ``/usr/lib/postgresql/*/bin`` (Debian and Ubuntu layout).

When none holds ``initdb`` and ``postgres``, :func:`find_bindir` raises
:class:`PostgresUnavailable` whose message is the reason the PostgreSQL tests are skipped.

PostgreSQL refuses to run as root: when the tests run as root, ``initdb`` and ``postgres`` run
as the ``postgres`` OS user, and the temporary directory is handed over to that user.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = [
    "PostgresServer",
    "PostgresUnavailable",
    "find_bindir",
    "start_server",
]

#: Environment variable naming the directory that holds ``initdb`` and ``postgres``.
BIN_ENV_VAR = "LEADFLOW_PG_BIN"
#: The only address the server listens on.
HOST = "127.0.0.1"
#: The superuser created by ``initdb -U``; it connects without a password (trust auth).
SUPERUSER = "postgres"
#: OS user that runs the server when the tests run as root.
OS_USER = "postgres"

_STARTUP_TIMEOUT_S = 30.0
_SHUTDOWN_TIMEOUT_S = 30.0
_INITDB_TIMEOUT_S = 120.0
_POLL_INTERVAL_S = 0.1
_PORT_ATTEMPTS = 3
_REQUIRED_BINARIES = ("initdb", "postgres")
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresUnavailable(Exception):
    """No usable PostgreSQL server binaries here; the message is the reason to skip."""


def find_bindir() -> Path:
    """Return the directory holding ``initdb`` and ``postgres``, or raise `PostgresUnavailable`."""
    override = os.environ.get(BIN_ENV_VAR)
    if override:
        bindir = Path(override)
        if not _has_server_binaries(bindir):
            raise PostgresUnavailable(
                f"{BIN_ENV_VAR}={override} does not hold {' and '.join(_REQUIRED_BINARIES)}"
            )
        return _checked_for_user(bindir)

    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    )
    for bindir in candidates:
        if _has_server_binaries(bindir):
            return _checked_for_user(bindir)
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, postgres) found: set "
        f"{BIN_ENV_VAR}, put pg_config on PATH, or install the 'postgresql' package"
    )


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in _REQUIRED_BINARIES)


def _version_key(bindir: Path) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``: numeric version, unknown ones first."""
    parts = bindir.parent.name.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (-1,)


def _checked_for_user(bindir: Path) -> Path:
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, and there is no '{OS_USER}' OS user to run PostgreSQL as"
            ) from None
    return bindir


@dataclass(frozen=True)
class _RunAs:
    """Keyword arguments for `subprocess` that drop root to the ``postgres`` user (or nothing)."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_current_user(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        entry = pwd.getpwnam(OS_USER)
        return cls(entry.pw_uid, entry.pw_gid)

    def give(self, path: Path) -> None:
        """Hand ``path`` over to the user the server runs as."""
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    @property
    def extra_groups(self) -> list[int] | None:
        """Supplementary groups: none (drop root's) when switching user, else unchanged."""
        return None if self.uid is None else []


@dataclass
class PostgresServer:
    """A running throwaway server; make databases with `create_database`."""

    bindir: Path
    basedir: Path
    port: int
    process: subprocess.Popen[bytes]
    run_as: _RunAs = field(default_factory=_RunAs)
    settings: tuple[str, ...] = ()
    host: str = HOST
    _counter: Iterator[int] = field(default_factory=itertools.count, repr=False)

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self.basedir / "data"

    @property
    def logfile(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.basedir / "postgres.log"

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL of database ``dbname`` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """A plain autocommit psycopg connection to ``dbname``; the caller closes it."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=SUPERUSER,
            dbname=dbname,
            connect_timeout=5,
            autocommit=True,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create a new empty database (default: a unique name) and return its SQLAlchemy URL."""
        if name is None:
            name = f"leadflow_{next(self._counter)}_{uuid.uuid4().hex[:8]}"
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"not a plain lower-case database name: {name!r}")
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, closing any connections still open to it."""
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server: a fast shutdown (connections are closed, work is rolled back), or
        with ``immediate`` one that needs crash recovery at the next start (SIGQUIT)."""
        if immediate and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGQUIT)
        _stop(self.process)

    def start(self, timeout: float = _STARTUP_TIMEOUT_S) -> None:
        """Start the stopped server again on the same port and data directory."""
        self.process = _spawn(
            self.bindir, self.basedir, self.basedir / "sock", self.run_as, self.port, self.settings
        )
        try:
            _wait_until_ready(self, timeout)
        except _ExitedEarly:
            raise RuntimeError(
                f"PostgreSQL did not restart (exit code {self.process.returncode}); "
                f"log tail:\n{self.log_tail()}"
            ) from None

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server log, for error messages."""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def start_server(
    bindir: Path, *, timeout: float = _STARTUP_TIMEOUT_S, settings: tuple[str, ...] = ()
) -> Iterator[PostgresServer]:
    """Run a fresh server from ``bindir`` for the ``with`` block, then stop it and delete it all.

    ``settings`` are more ``name=value`` server settings (they win over the defaults, which
    trade durability for speed: ``synchronous_commit=on`` keeps commits across an immediate
    shutdown).

    Raises `RuntimeError` (with the server log's tail) when ``initdb`` fails or the server does
    not accept connections within ``timeout`` seconds.
    """
    run_as = _RunAs.for_current_user()
    basedir = Path(tempfile.mkdtemp(prefix="leadflow-pg-", dir=_temp_parent(run_as)))
    try:
        run_as.give(basedir)
        _initdb(bindir, basedir, run_as)
        sockdir = basedir / "sock"
        sockdir.mkdir()
        run_as.give(sockdir)
        server = _launch(bindir, basedir, sockdir, run_as, timeout, settings)
        try:
            yield server
        finally:
            _stop(server.process)
    finally:
        shutil.rmtree(basedir, ignore_errors=True)


def _temp_parent(run_as: _RunAs) -> str | None:
    """Where to make the temp directory: as usual, or ``/tmp`` if ``postgres`` is locked out."""
    if run_as.uid is None:
        return None
    parent = Path(tempfile.gettempdir()).resolve()
    reachable = all(p.stat().st_mode & 0o001 for p in (parent, *parent.parents))
    return None if reachable else "/tmp"


def _initdb(bindir: Path, basedir: Path, run_as: _RunAs) -> None:
    cmd = [
        str(bindir / "initdb"),
        "--pgdata",
        str(basedir / "data"),
        "--username",
        SUPERUSER,
        "--auth",
        "trust",
        "--encoding",
        "UTF8",
        "--locale",
        "C",
        "--no-sync",
        "--no-instructions",
    ]
    result = subprocess.run(
        cmd,
        cwd=basedir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_INITDB_TIMEOUT_S,
        check=False,
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=run_as.extra_groups,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"initdb failed with exit code {result.returncode}:\n{result.stdout}{result.stderr}"
        )


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the server retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _launch(
    bindir: Path,
    basedir: Path,
    sockdir: Path,
    run_as: _RunAs,
    timeout: float,
    settings: tuple[str, ...],
) -> PostgresServer:
    """Start ``postgres`` on a free port and wait until it accepts connections.

    Picking a free port and binding it are not atomic, so if the server dies at start-up
    because another process took the port meanwhile, it is tried again on another port.
    """
    for attempt in itertools.count(1):
        port = _free_port()
        process = _spawn(bindir, basedir, sockdir, run_as, port, settings)
        server = PostgresServer(
            bindir=bindir,
            basedir=basedir,
            port=port,
            process=process,
            run_as=run_as,
            settings=settings,
        )
        try:
            _wait_until_ready(server, timeout)
        except _ExitedEarly:
            _stop(process)
            if attempt < _PORT_ATTEMPTS and "already in use" in server.log_tail():
                continue
            raise RuntimeError(
                f"PostgreSQL exited at start-up with code {process.returncode}; "
                f"log tail:\n{server.log_tail()}"
            ) from None
        except BaseException:
            _stop(process)
            raise
        return server
    raise AssertionError("unreachable")  # pragma: no cover


def _spawn(
    bindir: Path,
    basedir: Path,
    sockdir: Path,
    run_as: _RunAs,
    port: int,
    settings: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """Start ``postgres`` on ``port`` (not waiting for it to accept connections)."""
    cmd = [
        str(bindir / "postgres"),
        "-D",
        str(basedir / "data"),
        "-p",
        str(port),
        "-k",
        str(sockdir),
        "-c",
        f"listen_addresses={HOST}",
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=100",
    ]
    for setting in settings:
        cmd.extend(("-c", setting))
    with open(basedir / "postgres.log", "ab") as log:
        return subprocess.Popen(
            cmd,
            cwd=basedir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches pytest, which then stops the server.
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=run_as.extra_groups,
        )


class _ExitedEarly(Exception):
    """The server process ended before it accepted a connection."""


def _wait_until_ready(server: PostgresServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if server.process.poll() is not None:
            raise _ExitedEarly
        try:
            with server.connect() as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            last_error = exc
        else:
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"PostgreSQL did not accept connections on {server.host}:{server.port} "
                f"within {timeout:.0f} s (last error: {last_error}); "
                f"log tail:\n{server.log_tail()}"
            )
        time.sleep(_POLL_INTERVAL_S)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT: roll back, disconnect, exit); kill if that takes too long."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=_SHUTDOWN_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    process.wait()
