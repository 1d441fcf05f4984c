"""The record's logs as JSON lines: appended without parsing, read back whatever is stored,
downloaded as lists."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from opmaat import log_lines


def test_appending_keeps_the_last_entries_in_order() -> None:
    stored: Any = None
    for n in range(7):
        stored = log_lines.appended(stored, [{"n": n}], 5)
    assert isinstance(stored, str)
    assert [e["n"] for e in log_lines.entries(stored)] == [2, 3, 4, 5, 6]


@pytest.mark.parametrize("stored", [None, 5, {"a": 1}, "", [], [1, "x", None]])
def test_nothing_usable_reads_as_an_empty_log(stored: Any) -> None:
    assert log_lines.entries(stored) == []
    assert log_lines.entries(log_lines.appended(stored, [{"n": 1}], 3)) == [{"n": 1}]


def test_the_oldest_goes_and_the_bytes_it_freed_are_exact() -> None:
    import orjson

    stored = log_lines.appended(None, [{"q": 'a "b"'}, {"n": 2}, {"n": 3}], 5)
    while stored:
        before = len(orjson.dumps({"log": stored}))
        stored, freed = log_lines.without_oldest(stored)
        assert len(orjson.dumps({"log": stored})) == before - freed
    assert log_lines.without_oldest(stored) == ("", 0)
    assert log_lines.without_oldest([{"n": 1}, {"n": 2}])[0] == [{"n": 2}]


def test_a_download_shows_the_logs_as_lists_and_leaves_the_record_alone() -> None:
    lines = log_lines.appended(None, [{"slot": "hero"}], 10)
    record = {
        "visits": 2,
        "decisions": lines,
        "contacts": {"email": {"shown": [1], "lately": lines}, "web": "junk"},
    }
    assert log_lines.readable(record) == {
        "visits": 2,
        "decisions": [{"slot": "hero"}],
        "contacts": {"email": {"shown": [1], "lately": [{"slot": "hero"}]}, "web": "junk"},
    }
    assert record["decisions"] == lines


def _appended_by_splitting(stored: Any, new: list[str], most: int) -> str:
    # The plain way: every stored line split off (an older record's list dumped entry by
    # entry), the new ones added, the last `most` kept (every one for 0).
    if isinstance(stored, list):
        lines = [orjson.dumps(e).decode() for e in stored if isinstance(e, dict)]
    else:
        lines = stored.split("\n") if stored else []
    lines += new
    return "\n".join(lines[-most:])


def test_appending_to_lines_keeps_what_splitting_them_all_would() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        count = rng.randrange(0, 8)
        stored: Any = "\n".join(
            rng.choice(['{"a":1}', "", "x", '{"b":"\\n"}']) for _ in range(count)
        )
        if count == 1 and rng.random() < 0.3:
            stored = ""
        if rng.random() < 0.2:  # an older record's list of objects, junk among them
            stored = [rng.choice([{"a": 1}, {"b": "\n"}, "x", 3]) for _ in range(count)]
        entries = [{"n": rng.randrange(100)} for _ in range(rng.randrange(0, 5))]
        most = rng.randrange(0, 7)
        new = [orjson.dumps(e).decode() for e in entries]
        assert log_lines.appended(stored, entries, most) == _appended_by_splitting(
            stored, new, most
        ), (stored, entries, most)
