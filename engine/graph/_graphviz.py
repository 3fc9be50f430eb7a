"""Drawing DOT text as SVG or PNG with Graphviz's ``dot``, run as a subprocess with a timeout.

Graphviz is an optional system tool (``apt install graphviz``); leadflow never links to it.
Every way the run can fail becomes a :class:`GraphvizError` whose message says what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Literal

from leadflow.definitions import LeadflowError

__all__ = ["DEFAULT_TIMEOUT", "MISSING_DOT", "GraphvizError", "graphviz"]

DEFAULT_TIMEOUT = 60.0
"""Seconds ``dot`` may take before it is stopped (a few hundred stages take well under one)."""

MISSING_DOT = (
    "Graphviz `dot` was not found on PATH: install Graphviz (apt install graphviz) "
    "or use --format mermaid|dot"
)


class GraphvizError(LeadflowError, RuntimeError):
    """``dot`` is missing, failed, or did not finish in time."""

    code = "graphviz-failed"


def graphviz(
    dot: str,
    fmt: Literal["svg", "png"],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    executable: str = "dot",
) -> bytes:
    """``dot`` (DOT text) rendered by Graphviz as ``fmt``; the bytes ``dot`` wrote.

    ``executable`` is looked up on PATH (or used as given when it is a path).
    """
    path = shutil.which(executable)
    if path is None:
        raise GraphvizError(MISSING_DOT)
    try:
        done = subprocess.run(
            [path, f"-T{fmt}"],
            input=dot.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
    except subprocess.TimeoutExpired as exc:
        raise GraphvizError(
            f"Graphviz `dot` did not finish within {timeout:g}s; use --format dot and render "
            "the file with more time"
        ) from exc
    except OSError as exc:
        raise GraphvizError(f"cannot run Graphviz `{path}`: {exc.strerror or exc}") from exc
    if done.returncode != 0 or not done.stdout:
        detail = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
        raise GraphvizError(
            f"Graphviz `dot -T{fmt}` failed (exit code {done.returncode})"
            + (f": {detail}" if detail else "")
        )
    return done.stdout
