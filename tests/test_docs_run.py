"""Every ``python`` and ``sh`` code block of the README and docs/ runs as written, from a clean
directory (docs/http-api.md's curl examples run in tests/service/test_http_docs.py).

Each page runs in its own empty temporary directory, with ``examples/`` linked in as a checkout
has it (the docs' paths are those of a checkout); its blocks run in page order: a ``python``
block with ``python -c``, a ``sh`` block with ``bash -e``, both with this interpreter's
``leadflow`` first on ``PATH`` and no ``LEADFLOW_DB`` set. A comment right before a block says
how it runs, when it is not plainly so:

* ``<!-- docs-test: skip: REASON -->``: not run (it serves forever, needs a server elsewhere, or
  installs); the reason is required, and the test reports it.
* ``<!-- docs-test: file NAME -->`` (on a ``yaml``/``toml`` block): written to NAME for the
  blocks after it, as a reader saves it.
* ``<!-- docs-test: continues -->`` (on a ``python`` block): runs after the previous python
  block of the page, in the same interpreter (the page builds on it).
* ``<!-- docs-test: needs PATH -->``: runs only when PATH (relative to the checkout) exists,
  for examples on a public dataset that is not shipped; the page says where to get it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md"))]
SKIPPED_PAGES = {"http-api.md"}  # run by tests/service/test_http_docs.py
BLOCK = re.compile(
    r"(?:<!-- docs-test: (?P<mark>[^>]*?) -->\n)?^```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^```$",
    re.S | re.M,
)
RUN = ("python", "sh")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page, with its docs-test mark."""

    page: str
    line: int
    lang: str
    body: str
    mark: str


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    return [
        Block(
            page.name,
            text[: m.start("lang")].count("\n") + 1,
            m["lang"],
            m["body"],
            (m["mark"] or "").strip(),
        )
        for m in BLOCK.finditer(text)
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(argv: list[str], cwd: Path, where: str) -> None:
    done = subprocess.run(
        argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=280, check=False
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def _steps(blocks: list[Block]) -> list[tuple[str, str, str]]:
    """(kind, code, where) to run in order: python blocks joined to the ones they continue."""
    steps: list[tuple[str, str, str]] = []
    for b in blocks:
        where = f"{b.page}:{b.line}"
        if b.mark.startswith("skip:"):
            continue
        if b.mark.startswith("needs ") and not (ROOT / b.mark.removeprefix("needs ")).exists():
            continue
        if b.mark.startswith("file "):
            steps.append(("file", b.body, b.mark.removeprefix("file ").strip()))
        elif b.lang == "python" and b.mark == "continues":
            last = max(i for i, s in enumerate(steps) if s[0] == "python")
            kind, code, first = steps.pop(last)
            steps.append((kind, code + "\n" + b.body, f"{first}+{b.line}"))
        elif b.lang in RUN:
            steps.append((b.lang, b.body, where))
    return steps


def test_every_skip_gives_a_reason() -> None:
    """A block is skipped only with a reason, and every mark is one the runner knows."""
    for page in PAGES:
        for b in blocks_of(page):
            if not b.mark:
                continue
            assert b.mark.startswith(("skip: ", "file ", "needs ")) or b.mark == "continues", (
                f"{b.page}:{b.line}: unknown docs-test mark {b.mark!r}"
            )
            if b.mark.startswith("skip:"):
                assert len(b.mark.removeprefix("skip:").strip()) > 10, f"{b.page}:{b.line}"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.name not in SKIPPED_PAGES], ids=lambda p: p.name
)
def test_the_page_runs_from_a_clean_directory(page: Path, tmp_path: Path) -> None:
    """Every python and sh block of the page runs, in order, and exits 0."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for kind, code, where in _steps(blocks_of(page)):
        if kind == "file":
            (tmp_path / where).write_text(code, encoding="utf-8")
        elif kind == "python":
            _run([sys.executable, "-c", code], tmp_path, where)
        else:
            _run(["bash", "-e", "-c", code], tmp_path, where)
