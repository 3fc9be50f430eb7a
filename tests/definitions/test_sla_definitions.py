"""SLA, calendar, team, routing, schedule and subscription sections: what loads, and every
refusal with its position, naming what was wrong and what is allowed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadflow.definitions import DefinitionError, load_definition

BASE = """\
process: p
version: 1
fields:
  email: {type: string}
  score: {type: integer}
  tz: {type: string}
  lost_reason: {type: enum, values: [no_response]}
stages:
  new: {initial: true}
  waiting: {}
  won: {closed: won}
  lost: {closed: lost}
transitions:
  - {name: wait, from: new, to: waiting}
  - {name: back, from: waiting, to: new}
  - {name: win, from: [new, waiting], to: won}
  - {name: lose, from: "*", to: lost, requires: [lost_reason]}
"""


def load(extra: str):  # type: ignore[no-untyped-def]
    return load_definition(BASE + extra, file="p.yaml")


def problems(extra: str) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        load(extra)
    return [str(p) for p in info.value.problems]


def test_a_full_sla_section_loads_with_its_meaning() -> None:
    """Targets, shares, business amounts, shorthand actions and tasks load as declared."""
    d = load(
        """\
calendars:
  office: {timezone: Europe/Berlin, timezone_field: tz, hours: {mon-fri: "09:00-17:00"},
           holidays: {country: DE, subdivision: BY}, closed: [2026-12-24]}
teams:
  sdr: {members: [ana, {id: ben, weight: 2, capacity: 5}], strategy: weighted_round_robin,
        lead: lea, share_cap: {max: 2%, window: 30d}}
routing:
  - {when: "has(lead.score) && lead.score > 90", team: sdr}
slas:
  respond:
    stages: new
    pause_in: waiting
    target: 4h business
    calendar: office
    fulfilled_by: {activity: {type: call, min: 2}}
    ladder:
      - {at: 50%, notify: owner}
      - {at: 4h business, reassign: true, fire: lose}
    tasks: {activity: call, at: [0d, 1d business]}
schedules:
  weekly: {cron: "0 18 * * sun", timezone: Europe/Berlin, release: sdr}
subscriptions:
  crm: {events: leadflow.lead.stage_changed, stages: {new: "1", won: "2"}}
"""
    )
    sla = d.slas["respond"]
    assert (sla.stages, sla.pause_in, sla.business) == (("new",), ("waiting",), True)
    assert sla.target.amount == timedelta(hours=4)
    assert [s.at.resolve(timedelta(hours=4)) for s in sla.ladder] == [
        timedelta(hours=2),
        timedelta(hours=4),
    ]
    assert sla.ladder[1].reassign is not None
    assert sla.ladder[1].reassign.team is None
    assert sla.ladder[1].fire is not None
    assert sla.ladder[1].fire.trigger == "lose"
    assert d.teams["sdr"].members[1].weight == 2
    assert d.teams["sdr"].share_cap is not None
    assert d.teams["sdr"].share_cap.max == 2
    assert d.subscriptions["crm"].events == ("leadflow.lead.stage_changed",)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "slas:\n  s: {stages: [nwe], target: 5m}\n",
            "p.yaml:19:15: SLA 's': unknown stage 'nwe' (did you mean 'new'?)",
        ),
        (
            "slas:\n  s: {stages: [new], target: 5m business}\n",
            "p.yaml:19:30: SLA 's': '5m business' counts business time; name the calendar",
        ),
        (
            "slas:\n  s: {stages: [new], target: 5m, calendar: office}\n",
            "p.yaml:19:44: SLA 's': unknown calendar 'office' (declare it under calendars)",
        ),
        (
            "slas:\n  s: {stages: [won], target: 5m}\n",
            "p.yaml:19:15: SLA 's': closed stage won cannot run an SLA clock",
        ),
        (
            "slas:\n  s: {stages: [new], target: 5m, ladder: [{at: 1m, fire: loose}]}\n",
            "p.yaml:19:58: SLA 's': unknown trigger 'loose' (did you mean 'lose'?)",
        ),
        (
            "slas:\n  s: {stages: [new], target: 5m, ladder: [{at: 1m, reassign: sdr}]}\n",
            "p.yaml:19:62: SLA 's': unknown team 'sdr' (declare it under teams)",
        ),
        (
            "slas:\n  s: {stages: [new], target: 5m, pause_when: 'activities.call > 1'}\n",
            "p.yaml:19:46: SLA 's': SLA conditions read lead, stage, owner and now, not activities",
        ),
        (
            "slas:\n  s: {stages: [new], target: 5m, fulfilled_by: {field_set: emial}}\n",
            "p.yaml:19:60: SLA 's': unknown field 'emial' (did you mean 'email'?)",
        ),
    ],
)
def test_sla_references_are_checked_with_positions(extra: str, expected: str) -> None:
    """Each wrong reference is one located sentence that names the fix."""
    assert any(p.startswith(expected) for p in problems(extra)), problems(extra)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("slas:\n  s: {stages: [new], target: 80%}\n", "a percentage is not allowed here"),
        ("slas:\n  s: {stages: [new], target: soon}\n", "is not a duration"),
        (
            "slas:\n  s: {stages: [new], target: 1h, ladder: [{at: 30m}, {at: 10m}]}\n",
            "the ladder's marks must be in clock order",
        ),
        (
            "slas:\n  s: {stages: [new], target: 1h, ladder: [{at: 50%}, {at: 30m}]}\n",
            "two ladder marks fall on the same moment",
        ),
        (
            "calendars: {c: {}}\nslas:\n  s: {stages: [new], target: 1h business, calendar: c,"
            " ladder: [{at: 10m}]}\n",
            "every amount must too (write it with 'business')",
        ),
        (
            "slas:\n  s: {stages: [new], target: 1h, fulfilled_by: {cel: 'true', field_set: a}}\n",
            "'fulfilled_by' needs exactly one of activity, field_set or cel",
        ),
        ("calendars: {c: {timezone: Mars/Olympus}}\n", "unknown timezone 'Mars/Olympus'"),
        ("calendars: {c: {holidays: {country: XX}}}\n", "'XX' is not a country"),
        (
            "calendars: {c: {holidays: {country: US, subdivision: ZZ}}}\n",
            "'ZZ' is not a subdivision of US",
        ),
        ("calendars: {c: {hours: {mon-fri: '17:00-09:00'}}}\n", "ends before it starts"),
        ("calendars: {c: {hours: {fri-mon: '09:00-17:00'}}}\n", "runs forward in the week"),
        ("calendars: {c: {hours: {mon: '9-5'}}}\n", "is not a time range"),
        ("teams: {t: {members: [a, a]}}\n", "member listed twice: a"),
        ("teams: {t: {members: [a], share_cap: {max: 0, window: 7d}}}\n", "must be more than 0"),
        ("schedules: {s: {cron: 'every sunday', release: t}}\n", "is not a cron expression"),
        ("schedules: {s: {cron: '0 18 * * sun'}}\n", "exactly one of 'release' or 'digest'"),
        ("subscriptions: {crm: {events: [stage_changed]}}\n", "is not an event type"),
    ],
)
def test_bad_values_are_refused_with_what_is_allowed(extra: str, fragment: str) -> None:
    """Malformed amounts, calendars, teams, schedules and subscriptions refuse the load."""
    found = problems(extra)
    assert any(fragment in p for p in found), found
    assert all(p.startswith("p.yaml:") for p in found)


def test_a_typo_in_an_sla_key_lists_the_allowed_keys() -> None:
    """An unknown key inside an SLA names the SLA and suggests the key meant."""
    (problem,) = problems("slas:\n  s: {stages: [new], target: 5m, fullfilled_by: {}}\n")
    assert "SLA 's': unknown key 'fullfilled_by' (did you mean 'fulfilled_by'?)" in problem
    assert "allowed: " in problem
