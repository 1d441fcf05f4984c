from __future__ import annotations

from typing import Any

import orjson
import pytest

from opmaat import reasons
from opmaat.engine import Decision
from opmaat.history import MAX_DECISIONS, note_decisions, recent_decisions
from opmaat.store import Record

T0 = 1_790_000_000.5

HERO = Decision("hero", "summer-sale", "b", "<p>Sale</p>", "it is summer", holdout=False)
SIDEBAR = Decision("sidebar", "dutch", None, None, "you are in the Netherlands", holdout=True)
FOOTER = Decision("footer", None, None, None, reasons.NO_CAMPAIGN)


def test_entries_carry_what_each_slot_showed_and_why() -> None:
    record: Record = {}
    note_decisions(record, {"hero": HERO, "sidebar": SIDEBAR}, path="/shoes", tier="full", now=T0)
    assert recent_decisions(record) == [
        {
            "at": 1_790_000_000,
            "path": "/shoes",
            "slot": "hero",
            "campaign": "summer-sale",
            "variant": "b",
            "holdout": False,
            "reason": "it is summer",
            "consent": "full",
        },
        {
            "at": 1_790_000_000,
            "path": "/shoes",
            "slot": "sidebar",
            "campaign": "dutch",
            "variant": None,
            "holdout": True,
            "reason": "you are in the Netherlands",
            "consent": "full",
        },
    ]
    # Kept as JSON lines, oldest first (log_lines): one text the decide path need not parse.
    assert [orjson.loads(line) for line in record["decisions"].split("\n")] == (
        recent_decisions(record)
    )
    assert isinstance(recent_decisions(record)[0]["at"], int)


def test_html_is_not_kept() -> None:
    record: Record = {}
    note_decisions(record, {"hero": HERO}, path="/", tier="session", now=T0)
    assert "html" not in recent_decisions(record)[0]
    assert "<p>Sale</p>" not in repr(record)


def test_new_decisions_are_appended_newest_last_and_defaults_are_not_kept() -> None:
    record: Record = {}
    note_decisions(record, {"hero": HERO}, path="/a", tier="full", now=T0)
    note_decisions(record, {"footer": FOOTER}, path="/b", tier="session", now=T0 + 60)
    note_decisions(record, {"hero": HERO}, path="/c", tier="session", now=T0 + 120)
    entries = recent_decisions(record)
    assert [(e["slot"], e["path"], e["consent"], e["at"]) for e in entries] == [
        ("hero", "/a", "full", 1_790_000_000),
        ("hero", "/c", "session", 1_790_000_120),
    ]  # the footer kept its standard content: nothing about the visitor to keep


def test_path_is_optional_and_cut_short() -> None:
    record: Record = {}
    note_decisions(record, {"hero": HERO}, path=None, tier="full", now=T0)
    note_decisions(record, {"hero": HERO}, path="/" + "x" * 500, tier="full", now=T0)
    first, second = recent_decisions(record)
    assert first["path"] == ""
    assert second["path"] == "/" + "x" * 199


def test_keeps_only_the_last_max_decisions() -> None:
    record: Record = {}
    for i in range(MAX_DECISIONS + 7):
        note_decisions(record, {"hero": HERO}, path=f"/p{i}", tier="full", now=T0 + i)
    entries = recent_decisions(record)
    assert len(entries) == MAX_DECISIONS
    assert [e["path"] for e in entries] == [f"/p{i}" for i in range(7, MAX_DECISIONS + 7)]


def test_one_page_with_more_slots_than_max_keeps_its_last() -> None:
    record: Record = {}
    note_decisions(record, {"hero": HERO}, path="/old", tier="full", now=T0)
    many = {f"s{i}": Decision(f"s{i}", "c", "a", None, "r") for i in range(MAX_DECISIONS + 3)}
    note_decisions(record, many, path="/new", tier="full", now=T0)
    entries = recent_decisions(record)
    assert len(entries) == MAX_DECISIONS
    assert [e["slot"] for e in entries] == [f"s{i}" for i in range(3, MAX_DECISIONS + 3)]


def test_no_decisions_leaves_history_as_it_was() -> None:
    record: Record = {}
    note_decisions(record, {"hero": HERO}, path="/a", tier="full", now=T0)
    before = recent_decisions(record)
    note_decisions(record, {}, path="/b", tier="full", now=T0)
    assert recent_decisions(record) == before


@pytest.mark.parametrize("stored", [None, "junk", 5, {"slot": "hero"}, {"0": {"slot": "x"}}])
def test_decisions_that_are_not_a_list_are_ignored(stored: Any) -> None:
    record: Record = {"decisions": stored}
    assert recent_decisions(record) == []
    note_decisions(record, {"hero": HERO}, path="/a", tier="full", now=T0)
    assert [e["slot"] for e in recent_decisions(record)] == ["hero"]


def test_malformed_entries_are_left_out() -> None:
    good = {"slot": "old", "campaign": None}
    record: Record = {
        "decisions": [
            1,
            "hero",
            None,
            [],
            ["slot", "hero"],
            {},
            {"slot": 5},
            {"slot": None},
            {"campaign": "x"},
            good,
        ]
    }
    assert recent_decisions(record) == [good]
    note_decisions(record, {"hero": HERO}, path="/a", tier="full", now=T0)
    assert [e["slot"] for e in recent_decisions(record)] == ["old", "hero"]


def test_no_record_no_decisions() -> None:
    assert recent_decisions({}) == []


def test_an_older_records_list_becomes_lines_at_the_next_decision() -> None:
    old = {"at": 1, "path": "/", "slot": "hero", "campaign": "c", "variant": "a"}
    record: Record = {"decisions": [old] * (MAX_DECISIONS - 1)}
    note_decisions(record, {"hero": HERO, "sidebar": SIDEBAR}, path="/x", tier="full", now=T0)
    assert isinstance(record["decisions"], str)
    entries = recent_decisions(record)
    assert entries[: MAX_DECISIONS - 2] == [old] * (MAX_DECISIONS - 2)
    assert [e["slot"] for e in entries[-2:]] == ["hero", "sidebar"]


@pytest.mark.parametrize(
    "lines",
    [
        'not json\n[1, 2]\n\n5\n{"slot": 7}',
        "{" * 5000,
        "\n" * 50,
        '{"slot": "old", "x": "\\ud800"}',
    ],
)
def test_junk_lines_are_left_out_and_pushed_out(lines: str) -> None:
    record: Record = {"decisions": lines}
    assert all(isinstance(e["slot"], str) for e in recent_decisions(record))
    for i in range(MAX_DECISIONS):
        note_decisions(record, {"hero": HERO}, path=f"/p{i}", tier="full", now=T0)
    assert len(record["decisions"].split("\n")) == MAX_DECISIONS
    assert [e["path"] for e in recent_decisions(record)] == [f"/p{i}" for i in range(10)]


def test_a_reason_with_a_newline_stays_one_entry() -> None:
    record: Record = {}
    odd = Decision("hero", "c", "a", None, "line one\nline two")
    note_decisions(record, {"hero": odd}, path="/", tier="full", now=T0)
    note_decisions(record, {"hero": HERO}, path="/", tier="full", now=T0)
    assert [e["reason"] for e in recent_decisions(record)] == ["line one\nline two", "it is summer"]
