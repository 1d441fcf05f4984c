"""Channels and moments: when the visitor's own choices hold a decision back, and what each
channel's decisions leave in the record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from opmaat.channel_prefs import (
    MAX_LATELY,
    WEEK_SECONDS,
    held_back,
    note_contacts,
    recent_contacts,
)
from opmaat.engine import Decision

# 23:30 UTC on a Monday: 00:30 in Amsterdam (winter), 08:30 in Tokyo.
LATE = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)


def chose(channel: str, time_zone: str | None = None, **choice: Any) -> dict[str, Any]:
    entry = {"personalized": True, "per_week": None, "quiet_from": None, "quiet_until": None}
    prefs: dict[str, Any] = {"channels": {channel: {**entry, **choice}}}
    if time_zone is not None:
        prefs["time_zone"] = time_zone
    return {"prefs": prefs}


def test_nothing_chosen_holds_nothing_back() -> None:
    assert held_back({}, {}, "email", LATE) is None
    assert held_back({"prefs": {"interests": {"x": "more"}}}, {}, "email", LATE) is None
    assert held_back(chose("app", personalized=False), {}, "email", LATE) is None


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ("email", "you asked for no e-mail offers"),
        ("app", "you asked for no offers in the app"),
        ("contact_center", "you asked for no offers from our contact centre"),
        ("web", "you asked for no personalized pages"),
    ],
)
def test_a_channel_said_no_to(channel: str, reason: str) -> None:
    assert held_back(chose(channel, personalized=False), {}, channel, LATE) == reason


@pytest.mark.parametrize(
    ("zone", "hours", "quiet"),
    [
        ("Europe/Amsterdam", (21, 8), True),  # 00:30 there: inside hours that pass midnight
        ("Asia/Tokyo", (21, 8), False),  # 08:30 there: just after
        ("Asia/Tokyo", (8, 9), True),
        ("UTC", (23, 0), True),
        ("UTC", (0, 23), False),
    ],
)
def test_quiet_hours_are_read_in_the_visitors_time_zone(
    zone: str, hours: tuple[int, int], quiet: bool
) -> None:
    record = chose("email", zone, quiet_from=hours[0], quiet_until=hours[1])
    expected = f"you asked for no e-mail offers between {hours[0]:02d}:00 and {hours[1]:02d}:00"
    assert held_back(record, {}, "email", LATE) == (expected if quiet else None)


def test_without_a_chosen_time_zone_the_requests_and_then_utc_count() -> None:
    record = chose("web", quiet_from=0, quiet_until=1)  # 00:30 in Amsterdam, 23:30 UTC
    amsterdam = {"geo": {"timezone": "Europe/Amsterdam"}}
    assert held_back(record, amsterdam, "web", LATE) is not None
    assert held_back(record, {}, "web", LATE) is None
    assert held_back(record, {"geo": {"timezone": "Not/AZone"}}, "web", LATE) is None


def test_at_most_so_many_a_week() -> None:
    record = chose("email", per_week=2)
    now = LATE.timestamp()
    shown = Decision("mail", "sale", "a", "<p>sale</p>", "shown to every visitor")
    note_contacts(record, {"mail": shown}, "email", now - WEEK_SECONDS - 60, None)  # too old
    note_contacts(record, {"mail": shown}, "email", now - 3600, None)
    assert held_back(record, {}, "email", LATE) is None
    note_contacts(record, {"mail": shown}, "email", now - 60, None)
    assert held_back(record, {}, "email", LATE) == "you asked for at most 2 e-mail offers a week"
    one = chose("email", per_week=1)
    note_contacts(one, {"mail": shown}, "email", now, None)
    assert held_back(one, {}, "email", LATE) == "you asked for at most 1 e-mail offer a week"


def test_what_each_channel_decided_is_kept_briefly() -> None:
    record: dict[str, Any] = {}
    now = LATE.timestamp()
    shown = Decision("mail", "sale", "a", "<p>sale</p>", "you are in the Netherlands")
    default = Decision("hero", None, None, None, "no campaign applies to you here")
    holdout = Decision("side", "test", None, None, "comparison group", holdout=True)
    note_contacts(record, {"hero": default, "side": holdout}, "web", now, None)
    assert record == {}  # nothing personal was decided
    note_contacts(record, {"mail": shown, "hero": default}, "email", now, None)
    note_contacts(record, {}, "email", now + 1, "you asked for no e-mail offers")
    note_contacts(record, {"mail": shown}, "server", now, None)  # no customer choice there
    assert recent_contacts(record) == {
        "email": [
            {
                "at": int(now),
                "slot": "mail",
                "campaign": "sale",
                "reason": "you are in the Netherlands",
            },
            {"at": int(now) + 1, "held": True, "reason": "you asked for no e-mail offers"},
        ]
    }
    assert record["contacts"]["email"]["shown"] == []  # no weekly limit: no times kept
    limited = chose("email", per_week=3)
    note_contacts(limited, {"mail": shown}, "email", now, None)
    note_contacts(limited, {}, "email", now + 1, "you asked for no e-mail offers")
    assert limited["contacts"]["email"]["shown"] == [int(now)]  # a hold is no contact
    for step in range(5):
        note_contacts(record, {"mail": shown}, "email", now + 10 + step, None)
    assert len(recent_contacts(record)["email"]) == MAX_LATELY


@pytest.mark.parametrize(
    "record",
    [
        {"contacts": "x"},
        {"contacts": {"email": ["x"]}},
        {"contacts": {"email": {"lately": [1, {"at": "now", "reason": "x"}], "shown": "x"}}},
        {"contacts": {"email": {"lately": [{"at": 10**20, "reason": "x"}, {"at": 5}]}}},
    ],
)
def test_malformed_contacts_are_read_as_none(record: dict[str, Any]) -> None:
    assert recent_contacts(record) == {}
    assert held_back({**chose("email", per_week=1), **record}, {}, "email", LATE) is None


def test_each_channels_decisions_are_lines_and_an_older_list_carries_over() -> None:
    now = LATE.timestamp()
    old = {"at": int(now) - 60, "slot": "mail", "campaign": "old", "reason": "earlier"}
    record: dict[str, Any] = {"contacts": {"email": {"shown": [], "lately": [old, "junk", {}]}}}
    shown = Decision("mail", "sale", "a", "<p>sale</p>", "you are in the Netherlands")
    note_contacts(record, {"mail": shown}, "email", now, None)
    assert isinstance(record["contacts"]["email"]["lately"], str)
    assert [e["campaign"] for e in recent_contacts(record)["email"]] == ["old", "sale"]
    record["contacts"]["email"]["lately"] += "\nnot json\n[1]"  # tampered with: left out
    assert [e["campaign"] for e in recent_contacts(record)["email"]] == ["old", "sale"]
