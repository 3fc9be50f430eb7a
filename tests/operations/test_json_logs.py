"""``--log-format json``: the worker's and the service's log lines are one JSON object each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from worker_support import ESCALATE, LEADFLOW, spawn_worker, stop_worker, wait_registered

from leadflow.engine import Engine


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_worker_logs_json_lines(sqlite_url: str) -> None:
    """Every leadflow line on stderr parses as JSON with time, level, logger and message."""
    with Engine(sqlite_url, create=True) as e:
        e.deploy(ESCALATE)
    proc = spawn_worker(sqlite_url, "--log-format", "json")
    wait_registered(sqlite_url, proc)
    code, err = stop_worker(proc)
    assert code == 0, err
    records = _lines(err)
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(str(r["message"]).startswith("worker ") for r in records)
    assert all(r["logger"] == "leadflow.worker" for r in records)


def test_the_service_logs_json_lines(tmp_path: Path) -> None:
    """``leadflow serve --log-format json``: uvicorn's start-up and access lines are JSON."""
    db = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(db, create=True) as e:
        e.deploy(ESCALATE)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("LEADFLOW_DB", "LEADFLOW_CONFIG")}
    server = subprocess.Popen(
        [sys.executable, "-c", LEADFLOW, "serve", "--db", db, "--port", str(port),
         "--log-format", "json"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert server.poll() is None
                assert time.monotonic() < deadline, "leadflow serve did not start"
                time.sleep(0.1)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    records = _lines(err)
    assert any(r["logger"] == "uvicorn.access" and "/healthz" in str(r["message"]) for r in records)
    assert not [line for line in err.splitlines() if line.startswith("INFO:")]
