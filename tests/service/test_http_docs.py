"""docs/http-api.md runs as written: every curl example, in order, against a real service.

The service is ``python -m leadflow.cli serve`` in a subprocess, on a fresh SQLite file with the
shipped ``inbound-lead`` process deployed and two tokens made by ``leadflow token create``
(``ci``, an admin, and ``ana``, a rep of team ``sdr`` acting as ``sdr_ana``).

The convention the doc follows (and this test enforces):

* An example is a ``sh`` code block that calls ``curl``. It calls curl once, with ``-sS``, never
  ``-f`` (the refusals are part of what the doc shows), and uses only ``$LEADFLOW_URL``,
  ``$TOKEN`` and ``$REP_TOKEN``, which this test sets in the environment.
* The block's line ``# -> STATUS`` is the status the answer must have; the ``# Name: value``
  lines after it are headers the answer must carry with exactly that value.
* A ``json`` code block right after the example is the answer's body. It must match: the same
  members and items, except that ``"..."`` matches any value, a ``"...": "..."`` member allows
  more members, a trailing ``"..."`` item allows more items, and a time matches any time.

Each block runs with ``bash -e``, after a prelude that wraps ``curl`` so the status, headers and
body land in files (``curl -w '%{http_code}' -D ... -o ...``); the block must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leadflow.definitions import library_path

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "http-api.md"
CURL = shutil.which("curl") or "/usr/bin/curl"
ANY = "..."
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
PRELUDE = """\
curl() {{
  command {curl} "$@" -D "$LF_OUT/headers" -o "$LF_OUT/body" -w '%{{http_code}}' \\
    > "$LF_OUT/status"
}}
"""


@dataclass(frozen=True)
class Example:
    """One curl example of the doc: where it is, what it runs, what it should answer."""

    line: int
    script: str
    status: int
    headers: dict[str, str]
    body: Any | None


def examples(text: str) -> list[Example]:
    """The doc's curl examples, in order, with the answer each one documents."""
    found: list[Example] = []
    blocks = list(FENCE.finditer(text))
    for index, block in enumerate(blocks):
        language, script = block.group(1), block.group(2)
        if language != "sh" or not re.search(r"(^|\|\s*)curl\b", script, re.M):
            continue
        line = text.count("\n", 0, block.start()) + 1
        comments = [c.strip() for c in script.splitlines() if c.strip().startswith("#")]
        statuses = [c for c in comments if c.startswith("# -> ")]
        assert len(statuses) == 1, f"http-api.md:{line}: one '# -> STATUS' line per example"
        status = int(statuses[0].removeprefix("# -> ").split()[0])
        after = comments[comments.index(statuses[0]) + 1 :]
        headers = dict(c.removeprefix("# ").split(": ", 1) for c in after)
        body = None
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if (
            following is not None
            and following.group(1) == "json"
            and not text[block.end() : following.start()].strip()
        ):
            body = json.loads(following.group(2))
        found.append(Example(line, script, status, headers, body))
    return found


def matches(documented: Any, actual: Any, where: str = "$") -> list[str]:
    """How ``actual`` differs from ``documented`` (the doc's pattern); empty when it matches."""
    if documented == ANY:
        return []
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        wanted = {k: v for k, v in documented.items() if k != ANY}
        problems = [f"{where}: missing {k!r}" for k in wanted if k not in actual]
        if ANY not in documented:
            problems += [f"{where}: undocumented {k!r}" for k in actual if k not in wanted]
        for key, value in wanted.items():
            if key in actual:
                problems += matches(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(documented, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        open_ended = bool(documented) and documented[-1] == ANY
        items = documented[:-1] if open_ended else documented
        if len(actual) < len(items) or (not open_ended and len(actual) != len(items)):
            return [f"{where}: {len(actual)} items, documented {len(items)}"]
        problems = []
        for n, item in enumerate(items):
            problems += matches(item, actual[n], f"{where}[{n}]")
        return problems
    if isinstance(documented, str) and TIME.match(documented):
        ok = isinstance(actual, str) and TIME.match(actual)
        return [] if ok else [f"{where}: expected a time, got {actual!r}"]
    if documented != actual or type(documented) is not type(actual):
        return [f"{where}: documented {documented!r}, got {actual!r}"]
    return []


def test_the_matcher_allows_only_what_the_doc_says() -> None:
    """``...`` values, members and items are wildcards; everything else must be equal."""
    assert matches({"a": 1, ANY: ANY}, {"a": 1, "b": 2}) == []
    assert matches({"a": 1}, {"a": 1, "b": 2}) == ["$: undocumented 'b'"]
    assert matches([1, ANY], [1, 2, 3]) == []
    assert matches([1], [1, 2]) == ["$: 2 items, documented 1"]
    assert matches({"t": "2026-03-02T15:00:00Z"}, {"t": "2027-01-01T00:00:00.5+00:00"}) == []
    assert matches({"n": 1.0}, {"n": 1}) != []
    assert matches(ANY, {"anything": [1]}) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    """This process's environment without the variables ``leadflow`` reads as options (a CLI
    test run in this worker may have left ``LEADFLOW_CONFIG`` behind)."""
    return {k: v for k, v in os.environ.items() if k not in ("LEADFLOW_DB", "LEADFLOW_CONFIG")}


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_clean_env(),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass(frozen=True)
class Service:
    url: str
    token: str
    rep_token: str


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """``leadflow serve`` on a free port over a fresh database; killed at the end."""
    db = f"sqlite:///{tmp_path / 'lf.db'}"
    _cli("deploy", str(library_path("inbound-lead")), "--db", db)
    token = _cli("token", "create", "--db", db, "--name", "ci", "--role", "admin")
    rep = _cli(
        "token", "create", "--db", db, "--name", "ana", "--role", "rep", "--team", "sdr",
        "--owner", "sdr_ana",
    )  # fmt: skip
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "leadflow.cli", "serve", "--db", db, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_clean_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "leadflow serve did not answer /healthz in 30 s"
            time.sleep(0.1)
        yield Service(url, token.splitlines()[-1], rep.splitlines()[-1])
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()


def _check(example: Example, service: Service, out: Path) -> list[str]:
    """Run one example; what is wrong with its answer (empty when it is as documented)."""
    calls = re.findall(r"(?:^|\|\s*)curl\b([^\n]*(?:\\\n[^\n]*)*)", example.script, re.M)
    assert len(calls) == 1, "one curl call per example"
    flags = calls[0].replace("\\\n", " ").split()
    assert "-sS" in flags, "call curl with -sS"
    assert not {"-f", "--fail", "-fsS", "-i", "-o", "-w", "-D"} & set(flags), "a flag the test owns"
    for name in ("headers", "body", "status"):
        (out / name).unlink(missing_ok=True)
    env = {
        **_clean_env(),
        "LEADFLOW_URL": service.url,
        "TOKEN": service.token,
        "REP_TOKEN": service.rep_token,
        "LF_OUT": str(out),
    }
    script = PRELUDE.format(curl=CURL) + example.script
    done = subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        return [f"exit code {done.returncode}: {done.stderr.strip()}"]
    status = int((out / "status").read_text())
    body = (out / "body").read_text(encoding="utf-8")
    if status != example.status:
        return [f"status {status}, documented {example.status}: {body[:500]}"]
    problems = []
    received = {}
    for line in (out / "headers").read_text().splitlines()[1:]:
        name, _, value = line.partition(":")
        received[name.strip().lower()] = value.strip()
    for name, value in example.headers.items():
        got = received.get(name.lower())
        if got != value:
            problems.append(f"header {name}: documented {value!r}, got {got!r}")
    if example.body is not None:
        problems += matches(example.body, json.loads(body))
    return problems


@pytest.mark.skipif(not Path(CURL).exists(), reason=f"curl is not installed (looked for {CURL})")
def test_every_curl_example_answers_as_documented(service: Service, tmp_path: Path) -> None:
    """Each example, in the doc's order, exits 0 and answers the documented status, headers and
    body."""
    found = examples(DOC.read_text(encoding="utf-8"))
    assert len(found) >= 30, f"only {len(found)} curl examples in {DOC.name}"
    for example in found:
        problems = _check(example, service, tmp_path)
        assert not problems, f"http-api.md:{example.line}:\n" + "\n".join(problems)


def test_every_api_route_has_an_example() -> None:
    """Each method and path of the OpenAPI document (and /docs) is called by some example."""
    from leadflow.engine import Engine
    from leadflow.service import create_app

    with Engine("sqlite://", create=True) as engine:
        spec = create_app(engine).openapi()
    routes = {(verb.upper(), path) for path, item in spec["paths"].items() for verb in item}
    routes |= {("GET", "/docs"), ("GET", "/openapi.json")}
    called = set()
    for example in examples(DOC.read_text(encoding="utf-8")):
        script = example.script.replace("\\\n", " ")
        method = re.search(r"-X (\w+)", script)
        verb = method.group(1) if method else ("POST" if " -d " in script else "GET")
        url = re.search(r'"\$LEADFLOW_URL(/[^"?]*)', script)
        assert url, f'http-api.md:{example.line}: call "$LEADFLOW_URL/..."'
        called.add((verb, url.group(1)))
    missing = {
        (verb, path)
        for verb, path in routes
        if not any(
            verb == v and re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/:]+", re.escape(path)), p)
            for v, p in called
        )
    }
    assert not missing, f"routes without an example in {DOC.name}: {sorted(missing)}"
