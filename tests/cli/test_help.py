"""The help texts: nothing in square brackets is lost to rich markup, every command's summary is
one line, and the commands are grouped by what a person is doing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from leadflow.cli import app

ROOT = typer.main.get_command(app)
BRACKETED = re.compile(r"(?<!\\)\[[^\]\s]*\]|\\\[[^\]\s]*\]")
PANELS = ("Authoring", "Running", "Operating", "Reporting")


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command under ``group`` (typer's own click), itself included."""
    yield path
    for name, sub in getattr(group, "commands", {}).items():
        yield from commands(sub, (*path, name))


def command_at(path: tuple[str, ...]) -> Any:
    """The command at ``path``."""
    node = ROOT
    for name in path:
        node = node.commands[name]
    return node


def rendered(path: tuple[str, ...]) -> str:
    """``leadflow PATH --help`` as a wide terminal shows it."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("path", list(commands(ROOT)), ids=lambda p: " ".join(p) or "leadflow")
def test_bracketed_words_survive_rich_markup(path: tuple[str, ...]) -> None:
    """Every ``[...]`` of a help text (``[inbound.<name>]``, ``leadflow[serve]``) is shown."""
    command = command_at(path)
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    wanted = [m.removeprefix("\\") for t in texts for m in BRACKETED.findall(t)]
    shown = "".join(rendered(path).split())  # rich may break a long word across lines
    missing = [w for w in wanted if w not in shown]
    assert missing == [], f"leadflow {' '.join(path)} --help lost {missing}"


@pytest.mark.parametrize("path", list(commands(ROOT)), ids=lambda p: " ".join(p) or "leadflow")
def test_every_summary_is_one_line(path: tuple[str, ...]) -> None:
    """A command's first paragraph (its line in the command list) has no line break."""
    first = (command_at(path).help or "").strip().split("\n\n")[0]
    assert "\n" not in first, f"leadflow {' '.join(path)}: {first!r}"


def test_top_level_commands_are_grouped_by_activity() -> None:
    """``leadflow --help`` shows the commands in the panels authoring, running, operating and
    reporting, in that order, and no command outside them."""
    text = rendered(())
    heads = [p for p in re.findall(r"╭─ (\w+) ─", text) if p != "Options"]
    assert heads == list(PANELS)
    assert "─ Commands ─" not in text
