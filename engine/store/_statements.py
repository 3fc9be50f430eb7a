"""The hot path's hand-written SQL, built once per dialect (parameter style, row locks)."""

from __future__ import annotations

from leadflow.engine.store._rows import SELECT_COLS

__all__ = ["WAKEUP_CHANNEL", "hot_path_statements"]

WAKEUP_CHANNEL = "leadflow_work"
"""The PostgreSQL notification channel a commit with new work notifies (see ``worker``)."""


def hot_path_statements(p: str, dialect: str) -> dict[str, str]:
    """The statements by name; ``p`` is the DBAPI placeholder (``?`` or ``%s``)."""
    statements = _common(p, dialect)
    if dialect == "postgresql":
        # a change's history row, its event and the wake-up of idle workers in one statement
        # (one round trip instead of three; the notification is sent at commit, as NOTIFY's)
        statements["log_one"] = (
            "WITH history AS ("
            + statements["history"]
            + f"), wake AS (SELECT pg_notify('{WAKEUP_CHANNEL}', '')) "
            "INSERT INTO lf_outbox (event_id, instance_id, seq, type, at, payload) "
            f"SELECT {', '.join([p] * 6)} FROM wake"
        )
        # and with its version-checked UPDATE: the log rows only if the UPDATE matched (the
        # statement's row count is 1 then, 0 on a conflict)
        statements["write_one"] = (
            "WITH updated AS ("
            + statements["update"]
            + " RETURNING id), history AS (INSERT INTO lf_history (instance_id, seq, at, kind, "
            f"trigger, from_stage, to_stage, actor, details) SELECT {', '.join([p] * 9)} "
            f"FROM updated), wake AS (SELECT pg_notify('{WAKEUP_CHANNEL}', '')) "
            "INSERT INTO lf_outbox (event_id, instance_id, seq, type, at, payload) "
            f"SELECT {', '.join([p] * 6)} FROM updated, wake"
        )
    return statements


def _common(p: str, dialect: str) -> dict[str, str]:
    return {
        "load": (f"SELECT {SELECT_COLS} FROM lf_instances WHERE process = {p} AND lead_id = {p}"),
        "insert": (
            "INSERT INTO lf_instances (process, lead_id, definition_version, stage, owner, "
            "data, closed, version, created_at, updated_at, stage_entered_at, stage_seq, sla) "
            f"VALUES ({', '.join([p] * 13)}) RETURNING id"
        ),
        "update": (
            f"UPDATE lf_instances SET definition_version = {p}, stage = {p}, owner = {p}, "
            f"data = {p}, closed = {p}, version = {p}, updated_at = {p}, "
            f"stage_entered_at = {p}, stage_seq = {p}, sla = {p} "
            f"WHERE id = {p} AND version = {p}"
        ),
        "history": (
            "INSERT INTO lf_history (instance_id, seq, at, kind, trigger, from_stage, "
            f"to_stage, actor, details) VALUES ({', '.join([p] * 9)})"
        ),
        "outbox": (
            "INSERT INTO lf_outbox (event_id, instance_id, seq, type, at, payload) "
            f"VALUES ({', '.join([p] * 6)})"
        ),
        "activity": (
            "INSERT INTO lf_activities (instance_id, type, at, seq, stage, actor, data) "
            f"VALUES ({', '.join([p] * 7)})"
        ),
        "latest": f"SELECT max(version) FROM lf_definitions WHERE process = {p}",
        "claim": (
            "SELECT id, instance_id, policy, step, due_at FROM lf_timers "
            f"WHERE due_at <= {p} ORDER BY due_at, id LIMIT {p}"
            + (" FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else "")
        ),
        "timer_delete": f"DELETE FROM lf_timers WHERE instance_id = {p} AND policy = {p}",
        "timer_insert": (
            f"INSERT INTO lf_timers (instance_id, policy, step, due_at) VALUES ({p}, {p}, {p}, {p})"
        ),
        "activities": (
            f"SELECT type, at, seq FROM lf_activities WHERE instance_id = {p} ORDER BY seq"
        ),
    }
