from __future__ import annotations

import copy
from typing import Any

import pytest

from opmaat.event_counts import (
    MAX_EVENT_NAMES,
    event_attributes,
    milestone_attributes,
    note_event,
    session_count,
)
from opmaat.store import Record

T0 = 1_790_000_000.0
HOUR = 3600.0
DAY = 86400.0
NOW_HOUR = int(T0 // 3600)


def counts(record: Record, name: str, now: float = T0) -> tuple[int, int, int]:
    attrs = event_attributes(record, now, names=[name])[name]
    return attrs["count_1d"], attrs["count_7d"], attrs["count_30d"]


# --- note_event ------------------------------------------------------------------------------


def test_first_event_is_one_hourly_bucket() -> None:
    record: Record = {}
    note_event(record, "signup", T0)
    assert record["events"] == {"signup": [[NOW_HOUR, 1]]}
    assert "session" not in record  # no session: no counters made up
    assert event_attributes(record, T0) == {
        "signup": {"count_1d": 1, "count_7d": 1, "count_30d": 1, "session": 0}
    }


def test_same_hour_adds_to_one_bucket_and_n_is_added() -> None:
    record: Record = {}
    note_event(record, "search", T0)
    note_event(record, "search", T0 + 60, n=3)
    assert record["events"] == {"search": [[NOW_HOUR, 4]]}


def test_n_below_one_adds_nothing() -> None:
    record: Record = {"session": {}}
    note_event(record, "search", T0, n=0)
    note_event(record, "search", T0, n=-2)
    assert record == {"session": {}}


def test_buckets_younger_than_a_day_stay_hourly() -> None:
    record: Record = {}
    for hours_ago in (23, 5, 1):
        note_event(record, "view", T0 - hours_ago * HOUR)
    note_event(record, "view", T0)
    assert record["events"]["view"] == [
        [NOW_HOUR - 23, 1],
        [NOW_HOUR - 5, 1],
        [NOW_HOUR - 1, 1],
        [NOW_HOUR, 1],
    ]


def test_folding_into_days_keeps_the_totals() -> None:
    record: Record = {}
    day_start = (NOW_HOUR - 72) // 24 * 24  # a UTC day three to four days ago
    for k in range(1, 6):
        note_event(record, "view", (day_start + k) * HOUR, n=2)
    note_event(record, "view", T0 - 10 * DAY)
    before = counts(record, "view")
    assert before == (0, 10, 11)
    assert len(record["events"]["view"]) == 6  # written in the past: still hourly

    note_event(record, "other", T0)  # any write compacts every name
    assert record["events"]["view"] == [
        [(NOW_HOUR - 240) // 24 * 24, 1],
        [day_start, 10],
    ]
    assert counts(record, "view") == before
    assert sum(c for _, c in record["events"]["view"]) == 11


def test_buckets_older_than_thirty_days_are_dropped_and_their_name_too() -> None:
    record: Record = {}
    note_event(record, "old", T0 - 31 * DAY)
    note_event(record, "view", T0 - 31 * DAY)
    note_event(record, "view", T0 - 2 * DAY)
    note_event(record, "new", T0)
    assert "old" not in record["events"]
    assert len(record["events"]["view"]) == 1
    assert counts(record, "view") == (0, 1, 1)


# --- windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0.0, (1, 1, 1)),
        (23 * HOUR, (1, 1, 1)),
        (25 * HOUR, (0, 1, 1)),
        (2 * DAY, (0, 1, 1)),
        (6 * DAY, (0, 1, 1)),
        (8 * DAY, (0, 0, 1)),
        (29 * DAY, (0, 0, 1)),
        (31 * DAY, (0, 0, 0)),
    ],
)
@pytest.mark.parametrize("folded", [False, True])
def test_windows(age: float, expected: tuple[int, int, int], folded: bool) -> None:
    record: Record = {}
    note_event(record, "view", T0 - age)
    if folded:
        note_event(record, "other", T0)
    assert counts(record, "view") == expected


def test_windows_are_hour_exact_before_folding_and_day_granular_after() -> None:
    record: Record = {}
    hour = NOW_HOUR - 167  # inside the 7-day window by one hour
    assert hour // 24 * 24 <= NOW_HOUR - 168  # ...but its UTC day began before the window
    note_event(record, "view", hour * HOUR)
    assert counts(record, "view") == (0, 1, 1)
    note_event(record, "other", T0)
    assert counts(record, "view") == (0, 0, 1)


def test_event_attributes_cover_asked_names_with_zeros() -> None:
    record: Record = {}
    note_event(record, "view", T0)
    attrs = event_attributes(record, T0, names=["signup", "view"])
    assert list(attrs) == ["view", "signup"]
    assert attrs["signup"] == {"count_1d": 0, "count_7d": 0, "count_30d": 0, "session": 0}
    assert attrs["view"]["count_1d"] == 1


# --- caps --------------------------------------------------------------------------------------


def test_name_cap_drops_the_names_whose_newest_bucket_is_oldest() -> None:
    record: Record = {}
    note_event(record, "e0", T0 - 6 * DAY)
    note_event(record, "e1", T0 - 5 * DAY)
    for i in range(2, MAX_EVENT_NAMES):
        note_event(record, f"e{i}", T0 - 2 * DAY)
    note_event(record, "e0", T0 - HOUR)  # e0 is recent again: e1 is now the stalest
    assert len(record["events"]) == MAX_EVENT_NAMES
    note_event(record, "new", T0)
    assert len(record["events"]) == MAX_EVENT_NAMES
    assert "e1" not in record["events"]
    assert {"e0", "e2", f"e{MAX_EVENT_NAMES - 1}", "new"} <= set(record["events"])


def test_name_cap_keeps_the_name_just_noted_on_a_tie() -> None:
    record: Record = {}
    for i in range(MAX_EVENT_NAMES):
        note_event(record, f"e{i}", T0)
    note_event(record, "late", T0)
    assert len(record["events"]) == MAX_EVENT_NAMES
    assert "late" in record["events"]


# --- session counters ------------------------------------------------------------------------


def test_session_counters() -> None:
    record: Record = {"session": {"id": "s1"}}
    note_event(record, "search", T0)
    note_event(record, "search", T0, n=2)
    note_event(record, "view", T0)
    assert record["session"]["events"] == {"search": 3, "view": 1}
    assert session_count(record, "search") == 3
    assert session_count(record, "nothing") == 0
    assert event_attributes(record, T0)["search"]["session"] == 3
    record["session"] = {"id": "s2"}  # a new session starts from zero
    assert session_count(record, "search") == 0
    assert event_attributes(record, T0)["search"] == {
        "count_1d": 3,
        "count_7d": 3,
        "count_30d": 3,
        "session": 0,
    }


def test_session_counter_cap_drops_the_least_recently_noted() -> None:
    record: Record = {"session": {}}
    for i in range(MAX_EVENT_NAMES):
        note_event(record, f"e{i}", T0)
    note_event(record, "e0", T0)
    note_event(record, "new", T0)
    counters = record["session"]["events"]
    assert len(counters) == MAX_EVENT_NAMES
    assert "e1" not in counters
    assert counters["e0"] == 2
    assert counters["new"] == 1


def test_malformed_session_counters_are_replaced() -> None:
    record: Record = {"session": {"events": {"a": "x", "b": -1, "c": 2, "d": True}}}
    note_event(record, "a", T0)
    assert record["session"]["events"] == {"c": 2, "a": 1}
    record = {"session": {"events": ["x"]}}
    note_event(record, "a", T0)
    assert record["session"]["events"] == {"a": 1}


# --- milestones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visits", "true_keys"),
    [
        (1, {"first_visit"}),
        (2, {"second_visit"}),
        (3, {"third_visit"}),
        (4, set()),
        (10, {"tenth_visit"}),
        (0, set()),
        ("1", set()),
        (True, set()),
    ],
)
def test_visit_milestones(visits: Any, true_keys: set[str]) -> None:
    flags = milestone_attributes({"visits": visits})
    assert {k for k, v in flags.items() if v} == true_keys


@pytest.mark.parametrize(
    ("days", "back7", "back30"),
    [
        (None, False, False),
        (0, False, False),
        (6, False, False),
        (7, True, False),
        (29, True, False),
        (30, True, True),
        (400, True, True),
        (30.0, False, False),
        ("30", False, False),
        (True, False, False),
    ],
)
def test_back_after_days(days: Any, back7: bool, back30: bool) -> None:
    flags = milestone_attributes({"visits": 5, "session": {"days_since_last_visit": days}})
    assert flags["back_after_7_days"] is back7
    assert flags["back_after_30_days"] is back30


# --- malformed records -----------------------------------------------------------------------

GARBAGE: list[Record] = [
    {"events": "x", "session": [], "visits": "3"},
    {"events": {"a": "x", "b": None}, "session": {"events": [1], "days_since_last_visit": []}},
    {
        "events": {
            "a": [[1], [1, 2, 3], ["h", 1], [1.5, 2], [True, 1], [NOW_HOUR, 0], None, {"h": 1}],
            7: [[NOW_HOUR, 1]],
        },
        "session": {"events": {"a": "x", "b": -3, "c": None, 5: 1}},
    },
    {"events": {"a": [[NOW_HOUR, 2], [10**30, "1"]]}, "session": "x", "visits": 10**30},
]


@pytest.mark.parametrize("record", GARBAGE)
def test_readers_tolerate_malformed_records(record: Record) -> None:
    before = copy.deepcopy(record)
    attrs = event_attributes(record, T0, names=["a", "b"])
    assert set(attrs) >= {"a", "b"}
    assert all(isinstance(v, int) for entry in attrs.values() for v in entry.values())
    assert session_count(record, "a") == 0
    flags = milestone_attributes(record)
    assert not any(flags.values())
    assert record == before  # readers never write


@pytest.mark.parametrize("record", GARBAGE)
def test_note_event_repairs_malformed_records(record: Record) -> None:
    record = copy.deepcopy(record)
    note_event(record, "a", T0)
    events = record["events"]
    assert all(isinstance(k, str) for k in events)
    assert all(
        isinstance(h, int) and isinstance(c, int) and c >= 1 for v in events.values() for h, c in v
    )
    assert event_attributes(record, T0)["a"]["count_1d"] >= 1


def test_well_formed_buckets_survive_beside_malformed_ones() -> None:
    record: Record = {"events": {"a": [[NOW_HOUR - 1, 2], "x", [NOW_HOUR, "3"], [NOW_HOUR, 1]]}}
    assert counts(record, "a") == (3, 3, 3)
    note_event(record, "a", T0)
    assert record["events"]["a"] == [[NOW_HOUR - 1, 2], [NOW_HOUR, 2]]


# --- compacting every name once an hour -------------------------------------------------------


def test_other_names_are_compacted_once_an_hour_not_at_every_event() -> None:
    day = (NOW_HOUR - 48) // 24 * 24  # the first hour of a day two days back
    record: Record = {"events": {"signup": [[day, 1], [day + 1, 2]]}}  # still hourly
    note_event(record, "page_view", T0)
    assert record["events_hour"] == NOW_HOUR
    assert record["events"]["signup"] == [[day, 3]]
    compacted = record["events"]["signup"]
    # The same hour: the other names' buckets are taken as they are (compacting them again in
    # this hour would change nothing), so a later event does not read them again.
    note_event(record, "page_view", T0 + 60)
    assert record["events"]["signup"] is compacted
    assert record["events"]["page_view"] == [[NOW_HOUR, 2]]
    # The next hour: every name is compacted again.
    record["events"]["signup"] = [[NOW_HOUR - 40, 1], [NOW_HOUR - 40, 1]]
    note_event(record, "page_view", T0 + HOUR)
    assert record["events_hour"] == NOW_HOUR + 1
    assert record["events"]["signup"] == [[(NOW_HOUR - 40) // 24 * 24, 2]]


@pytest.mark.parametrize("junk", [None, [], [[]], [["x", 1]], "text", [[1, 2, 3]], {"a": 1}])
def test_a_malformed_name_in_a_compacted_hour_does_not_break_the_name_cap(junk: Any) -> None:
    # A record whose hour says it was compacted, yet holds what no compaction writes (edited
    # or tampered with): the cap still ranks the names, and the malformed one goes first.
    events: dict[str, Any] = {f"e{i}": [[NOW_HOUR - 1, 1]] for i in range(MAX_EVENT_NAMES)}
    events["junk"] = junk
    record: Record = {"events": events, "events_hour": NOW_HOUR}
    note_event(record, "signup", T0)
    assert len(record["events"]) == MAX_EVENT_NAMES
    assert "junk" not in record["events"]
    assert record["events"]["signup"] == [[NOW_HOUR, 1]]
