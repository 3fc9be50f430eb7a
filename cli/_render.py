"""How ``leadflow show``, ``history`` and ``next`` present a lead: rich text and JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from leadflow.cli._common import dump, when
from leadflow.engine import HistoryEntry, Instance, NextSteps

__all__ = [
    "history_json",
    "history_table",
    "instance_json",
    "next_json",
    "print_instance",
    "print_next",
]


def instance_json(instance: Instance) -> dict[str, Any]:
    """A lead's instance as a JSON-ready mapping."""
    return asdict(instance)


def print_instance(console: Console, instance: Instance) -> None:
    """A lead's stage, owner, versions, times and data, one per line."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    probability = f" ({instance.probability}% to win)" if instance.probability is not None else ""
    rows = [
        ("stage", f"{instance.stage}{probability}"),
        ("closed", instance.closed or "no (open)"),
        ("owner", instance.owner or "-"),
        ("version", f"{instance.version} (definition v{instance.definition_version})"),
        ("created", when(instance.created_at)),
        ("updated", when(instance.updated_at)),
        ("in stage since", when(instance.stage_entered_at)),
    ]
    rows += [(f"data.{k}", dump(v)) for k, v in sorted(instance.data.items())]
    for key, value in rows:
        grid.add_row(Text(key), Text(value))
    console.print(Text(f"{instance.process} / {instance.lead_id}", style="bold"))
    console.print(grid)


def history_text(entry: HistoryEntry) -> str:
    """What one history entry changed, in one line (with why, when a rule decided)."""
    text = _changed(entry)
    reason = entry.details.get("reason")
    return f"{text}; why: {reason}" if reason and entry.kind in ("started", "assigned") else text


def _changed(entry: HistoryEntry) -> str:
    d = entry.details
    if entry.kind == "started":
        owner = f"; owner {d['owner']}" if d.get("owner") else ""
        return f"started in {entry.to_stage}{owner}; data {dump(d.get('data', {}))}"
    if entry.kind == "transition":
        closed = f" (closed {d['closed']})" if d.get("closed") else ""
        changes = d.get("changes")
        extra = f"; set {dump({k: v[1] for k, v in changes.items()})}" if changes else ""
        return f"{entry.trigger}: {entry.from_stage} -> {entry.to_stage}{closed}{extra}"
    if entry.kind == "updated":
        return "; ".join(
            f"{k}: {dump(old)} -> {dump(new)}" for k, (old, new) in d.get("changes", {}).items()
        )
    if entry.kind == "activity":
        activity = d.get("activity", {})
        data = activity.get("data")
        return f"{activity.get('type')}" + (f" {dump(data)}" if data else "")
    if entry.kind == "assigned":
        return f"owner: {d.get('previous_owner') or '-'} -> {d.get('owner') or '-'}"
    return dump(d)


def history_json(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    """History entries as JSON-ready mappings."""
    return [asdict(e) for e in entries]


def history_table(process: str, lead_id: str, entries: list[HistoryEntry]) -> Table:
    """History entries as a table, oldest first."""
    table = Table(title=f"History of {lead_id} in {process}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("kind")
    table.add_column("change", overflow="fold")
    table.add_column("actor")
    for e in entries:
        table.add_row(str(e.seq), when(e.at), e.kind, Text(history_text(e)), Text(e.actor or "-"))
    return table


def next_json(steps: NextSteps) -> dict[str, Any]:
    """Next steps as a JSON-ready mapping."""
    return {
        "process": steps.process,
        "lead_id": steps.lead_id,
        "stage": steps.stage,
        "closed": steps.closed,
        "playbook": [asdict(p) for p in steps.playbook],
        "options": [
            {
                "trigger": o.trigger,
                "to": o.to,
                "title": o.title,
                "ready": o.ready,
                "requires": list(o.requires),
                "criteria": [c.as_dict() for c in o.criteria],
            }
            for o in steps.options
        ],
        "ready": steps.ready,
    }


def print_next(console: Console, steps: NextSteps) -> None:
    """The playbook with done marks, then every way out with each criterion met or unmet."""
    closed = f" (closed {steps.closed})" if steps.closed else ""
    title = f"{steps.process} / {steps.lead_id}: stage {steps.stage}{closed}"
    console.print(Text(title, style="bold"))
    if steps.playbook:
        console.print(Text("Playbook", style="bold"))
        for item in steps.playbook:
            mark = "[x]" if item.done else "[ ]"
            how = item.activity + (f", {item.template}" if item.template else "")
            console.print(Text(f"  {mark} {item.title}  ({how})"))
    if not steps.options:
        console.print(Text("No way out of this stage."))
        return
    console.print(Text("Next", style="bold"))
    for option in steps.options:
        line = Text(f"  {option.trigger} -> {option.to}  ")
        if option.ready:
            line.append("ready", style="green")
        else:
            line.append("blocked", style="red")
        if option.title:
            line.append(f"  ({option.title})")
        if option.requires:
            line.append(f"  needs --data with: {', '.join(option.requires)}")
        console.print(line)
        for c in option.criteria:
            if not c.applies:
                console.print(Text(f"      n/a   {c.id}: {c.message} (does not apply now)", "dim"))
            elif c.met:
                console.print(Text(f"      met   {c.id}: {c.message}", "green"))
            else:
                console.print(Text(f"      UNMET {c.id}: {c.message}", "red"))
