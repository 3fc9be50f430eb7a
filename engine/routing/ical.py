"""Out-of-office from a calendar: a rep's iCalendar feed or file (Google, Outlook, Apple) read
into away periods, so routing skips them on their days off without anyone typing them in.

An event counts as away when it is **all-day** (its start is a date) and **busy** (not
``TRANSP:TRANSPARENT``), or when Outlook marks it out of office
(``X-MICROSOFT-CDO-BUSYSTATUS:OOF``) whatever its length. Recurring events are expanded within
the window (``recurring-ical-events``). All-day events run from midnight to midnight in
``timezone`` (the rep's). Importing is idempotent: each period's note is ``ical:<UID>`` with
its start, and periods already imported are skipped, so a feed can be re-read every night.

Needs the ``[ical]`` extra (``icalendar``, ``recurring-ical-events``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadflow.engine.routing._store import InvalidAway, list_away, set_away
from leadflow.engine.store import Store

__all__ = ["IcalImport", "away_from_ical"]

_MAX_NOTE = 255


@dataclass(frozen=True, slots=True)
class IcalImport:
    """What an import did."""

    added: int
    """New away periods."""
    kept: int
    """Periods found that were imported before (left as they are)."""
    skipped: int
    """Events in the window that are not away (timed and busy-free, or free)."""


def _load(text: str | bytes) -> Any:
    try:
        import icalendar
        import recurring_ical_events  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the extra is installed in the tests
        raise InvalidAway(
            "reading iCalendar needs the [ical] extra: pip install 'leadflow[ical]'"
        ) from None
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError) as exc:
        raise InvalidAway(f"not an iCalendar file: {exc}") from None
    return recurring_ical_events.of(calendar)


def _instant(value: Any, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    assert isinstance(value, date)
    return datetime.combine(value, time(0), tzinfo=zone)


def away_from_ical(
    store: Store,
    member: str,
    text: str | bytes,
    *,
    timezone: str = "UTC",
    start: datetime,
    end: datetime,
) -> IcalImport:
    """Import ``member``'s away events of ``text`` (an iCalendar document) between ``start``
    and ``end`` (see the module). :class:`InvalidAway` for a bad file or timezone."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise InvalidAway(f"unknown timezone {timezone!r}; write an IANA name") from None
    events = _load(text).between(start, end)
    known = {p.note for p in list_away(store, member)}
    added = kept = skipped = 0
    for event in events:
        begin = event.get("DTSTART")
        finish = event.get("DTEND")
        if begin is None:
            skipped += 1
            continue
        all_day = not isinstance(begin.dt, datetime)
        oof = str(event.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper() == "OOF"
        free = str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
        if not oof and (free or not all_day):
            skipped += 1
            continue
        first = _instant(begin.dt, zone)
        last = (
            _instant(finish.dt, zone)
            if finish is not None
            else first + (timedelta(days=1) if all_day else timedelta(0))
        )
        if last <= first:
            skipped += 1
            continue
        uid = str(event.get("UID", "no-uid"))
        note = f"ical:{uid}@{first.astimezone(UTC).isoformat()}"[:_MAX_NOTE]
        if note in known:
            kept += 1
            continue
        set_away(store, member, first, last, note)
        known.add(note)
        added += 1
    return IcalImport(added, kept, skipped)
