"""One action on one lead, as a person: what the selected-cards bulk action and the batch
runner both do per lead."""

from __future__ import annotations

from leadflow.definitions import LeadflowError
from leadflow.engine import Engine, GuardFailed
from leadflow.engine.access import Actor

__all__ = ["apply_one"]


def apply_one(
    engine: Engine, process: str, action: str, argument: str | None, lead_id: str, actor: Actor
) -> str | None:
    """Fire ``argument`` (``action`` ``fire``) or give the lead to ``argument`` (``assign``;
    None unassigns) as ``actor``: None when it worked, else why not (the unmet criteria's
    messages, or the error's)."""
    try:
        if action == "fire":
            engine.fire(process, lead_id, argument or "", actor=actor)
        else:
            engine.assign(process, lead_id, argument, actor=actor)
    except GuardFailed as exc:
        return "; ".join(c.message for c in exc.unmet)
    except LeadflowError as exc:
        return str(exc)
    return None
