from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from opmaat import customers
from opmaat.customers import (
    CustomerImport,
    customer_attributes,
    load_table,
    parse_customers,
    rfm_segment,
    write_table,
)
from opmaat.errors import ConfigError, Problem

FILE = "crm.csv"
TODAY = dt.date(2024, 6, 1)


def parse(text: str, previous: dict[str, dict[str, Any]] | None = None) -> CustomerImport:
    return parse_customers(text, filename=FILE, today=TODAY, previous=previous)


def header_error(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value.problems


# --- RFM -------------------------------------------------------------------------------------

# id, recency_days, frequency, monetary; ties on c02/c03 (all three) and c04/c07 (monetary).
TEN = """customer_id,recency_days,frequency,monetary
c01,5,12,900
c02,10,8,450
c03,10,8,450
c04,30,1,20
c05,60,5,300
c06,90,2,120
c07,120,3,20
c08,200,6,80
c09,365,1,15.5
c10,400,0,0
"""

# Worked out by hand: r counts the values strictly higher (fewer days is better), f and m the
# values strictly lower; score = 1 + 5 * count // 10.
TEN_EXPECTED = {
    "c01": (5, 5, 5, "champions"),
    "c02": (4, 4, 4, "champions"),
    "c03": (4, 4, 4, "champions"),
    "c04": (4, 1, 2, "new"),
    "c05": (3, 3, 4, "promising"),
    "c06": (3, 2, 3, "promising"),
    "c07": (2, 3, 2, "at_risk"),
    "c08": (2, 4, 3, "loyal"),
    "c09": (1, 1, 1, "hibernating"),
    "c10": (1, 1, 1, "hibernating"),
}


def test_quintile_scores_on_a_known_dataset() -> None:
    result = parse(TEN)
    assert result.rows == 10
    assert result.rejected == []
    assert result.kept == 0
    assert list(result.table) == [f"c{i:02}" for i in range(1, 11)]
    for customer, (r, f, m, segment) in TEN_EXPECTED.items():
        assert result.table[customer]["rfm"] == {
            "r": r,
            "f": f,
            "m": m,
            "score": r + f + m,
            "cell": f"{r}{f}{m}",
            "segment": segment,
        }, customer
        assert result.table[customer]["segments"] == [f"rfm-{segment}"]


def test_entry_shape() -> None:
    result = parse(TEN)
    assert result.table["c09"] == {
        "id": "c09",
        "recency_days": 365,
        "frequency": 1,
        "monetary": 15.5,
        "segments": ["rfm-hibernating"],
        "rfm": {"r": 1, "f": 1, "m": 1, "score": 3, "cell": "111", "segment": "hibernating"},
        "fields": {},
    }


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "champions"),
        (4, 4, 4, "champions"),
        (4, 4, 3, "loyal"),
        (1, 4, 1, "loyal"),
        (5, 2, 5, "new"),
        (4, 1, 1, "new"),
        (4, 3, 4, "promising"),
        (2, 3, 5, "at_risk"),
        (1, 3, 1, "at_risk"),
        (2, 2, 5, "hibernating"),
        (1, 1, 1, "hibernating"),
        (3, 3, 3, "promising"),
        (3, 1, 5, "promising"),
    ],
)
def test_segment_rules_first_match_wins(r: int, f: int, m: int, segment: str) -> None:
    assert rfm_segment(r, f, m) == segment


def test_each_dimension_is_scored_over_the_rows_that_have_it() -> None:
    result = parse("customer_id,recency_days,frequency,monetary\na,1,1,10\nb,2,2,20\nc,3,3,\n")
    # monetary over a and b only: b has 1 lower of 2 -> 1 + 5 * 1 // 2 = 3
    assert result.table["a"]["rfm"] == {
        "r": 4,
        "f": 1,
        "m": 1,
        "score": 6,
        "cell": "411",
        "segment": "new",
    }
    assert result.table["b"]["rfm"]["m"] == 3
    assert result.table["c"]["rfm"] == {
        "r": 1,
        "f": 4,
        "m": None,
        "score": None,
        "cell": None,
        "segment": None,
    }
    assert "monetary" not in result.table["c"]
    assert result.table["c"]["segments"] == []


def test_rows_without_rfm_values_score_nothing() -> None:
    result = parse("customer_id,plan\na,gold\n")
    assert result.table["a"] == {
        "id": "a",
        "segments": [],
        "rfm": {"r": None, "f": None, "m": None, "score": None, "cell": None, "segment": None},
        "fields": {"plan": "gold"},
    }


def test_last_order_gives_recency_and_recency_days_wins() -> None:
    result = parse(
        "customer_id,last_order,recency_days\n"
        "a,2024-05-01,\n"
        "b,2024-06-01,\n"
        "c,2023-06-01,\n"
        "d,2024-05-01,3\n"
    )
    days = {key: entry["recency_days"] for key, entry in result.table.items()}
    assert days == {"a": 31, "b": 0, "c": 366, "d": 3}
    assert all("last_order" not in entry["fields"] for entry in result.table.values())


def test_segments_are_slugged_deduplicated_and_get_the_rfm_segment() -> None:
    result = parse(
        "customer_id,recency_days,frequency,monetary,segments\n"
        "a,1,1,1,VIP|vip; Gold Members|rfm-hibernating\n"
    )
    assert result.table["a"]["segments"] == ["vip", "gold-members", "rfm-hibernating"]


# --- rejected rows ---------------------------------------------------------------------------


def test_every_rejection_reason_with_its_physical_line() -> None:
    lines = [
        "customer_id,recency_days,last_order,frequency,monetary,segments,note",  # 1
        'ok1,1,,2,3.5,vip,"first',  # 2
        'second"',  # 3
        ",1,,1,1,,",  # 4
        "x" * 129 + ",1,,1,1,,",  # 5
        '"a\x01b",1,,1,1,,',  # 6
        "ok1,1,,1,1,,",  # 7
        "r1,-1,,1,1,,",  # 8
        "r2,1.5,,1,1,,",  # 9
        "d1,,2024-02-30,1,1,,",  # 10
        "d2,,2024/01/01,1,1,,",  # 11
        "d3,,2024-06-02,1,1,,",  # 12
        "f1,1,,two,1,,",  # 13
        "m1,1,,1,-0.5,,",  # 14
        "m2,1,,1,nan,,",  # 15
        "m3,1,,1,inf,,",  # 16
        'm4,1,,1,"1,234",,',  # 17
        "s1,1,,1,1,good|b@d,",  # 18
        "n1,1,,1,1,," + "n" * 201,  # 19
        "w1,1,,1,1,,,extra",  # 20
        "w2,1,,1",  # 21
        "c1,1,,1,1," + "s" * 10_001 + ",",  # 22
        'q1,1,,1,1,,"multi',  # 23
        "line",  # 24
        'note"',  # 25
        "big,1,,1,1,," + "b" * 200_000,  # 26: past csv's default field limit
        "after,1,,1,1,,",  # 27
        "",  # 28
        ",,,,,,",  # 29
        "ok2, 7 ,,1,1,,",  # 30
    ]
    result = parse("\n".join(lines) + "\n")
    found = [(p.line, p.field) for p in result.rejected]
    assert found == [
        (4, "customer_id"),
        (5, "customer_id"),
        (6, "customer_id"),
        (7, "customer_id"),
        (8, "recency_days"),
        (9, "recency_days"),
        (10, "last_order"),
        (11, "last_order"),
        (12, "last_order"),
        (13, "frequency"),
        (14, "monetary"),
        (15, "monetary"),
        (16, "monetary"),
        (17, "monetary"),
        (18, "segments"),
        (19, "note"),
        (20, "row"),
        (21, "row"),
        (22, "segments"),
        (26, "note"),
    ]
    assert all(p.file == FILE for p in result.rejected)
    messages = {p.line: p.message for p in result.rejected}
    assert messages[4] == "missing"
    assert messages[5] == "longer than 128 characters"
    assert messages[6] == "contains a control character"
    assert messages[7] == "duplicate customer id, first on line 2"
    assert "in the future" in messages[12]
    assert "'b@d'" in messages[18]
    assert messages[19] == "longer than 200 characters"
    assert messages[20] == "has 8 cells, the header has 7"
    assert messages[21] == "has 4 cells, the header has 7"
    assert messages[22] == "longer than 10000 characters"
    assert messages[26] == "longer than 10000 characters"
    assert list(result.table) == ["ok1", "q1", "after", "ok2"]
    assert result.table["ok1"]["fields"] == {"note": "first\nsecond"}
    assert result.table["ok1"]["frequency"] == 2  # the first row, not the duplicate
    assert result.table["q1"]["fields"] == {"note": "multi\nline\nnote"}
    assert result.table["ok2"]["recency_days"] == 7
    assert result.rows == 24  # the blank line and the row of empty cells are not rows
    assert result.kept == 0


def test_a_rejected_row_still_claims_its_id() -> None:
    result = parse("customer_id,frequency\na,x\na,1\nb,1\n")
    assert result.rejected == [
        Problem(FILE, 2, "frequency", "'x' is not a whole number >= 0"),
        Problem(FILE, 3, "customer_id", "duplicate customer id, first on line 2"),
    ]
    assert list(result.table) == ["b"]


def test_negative_zero_money_is_zero() -> None:
    monetary = parse("customer_id,monetary\na,-0\n").table["a"]["monetary"]
    assert monetary == 0.0
    assert math.copysign(1.0, monetary) == 1.0


def test_crlf_line_numbers() -> None:
    result = parse('customer_id,frequency,note\r\na,1,"x\r\ny"\r\nb,x,\r\n')
    assert [(p.line, p.field) for p in result.rejected] == [(4, "frequency")]
    assert result.table["a"]["fields"] == {"note": "x\r\ny"}


def test_a_comma_is_not_a_segment_separator_in_a_comma_file() -> None:
    result = parse('customer_id,segments\na,"x,y"\nb,x|y\n')
    assert [(p.line, p.field) for p in result.rejected] == [(2, "segments")]
    assert result.table["b"]["segments"] == ["x", "y"]


def test_an_unreadable_csv_names_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real_limit = csv.field_size_limit
    saved = real_limit(1000)
    try:
        # csv's process-wide limit cannot be raised: the reader fails on the long cell.
        monkeypatch.setattr(csv, "field_size_limit", lambda *args: 1000)
        problems = header_error("customer_id,note\na,x\nb," + "y" * 2000 + "\nc,z\n")
    finally:
        real_limit(saved)
    assert [(p.file, p.line, p.field) for p in problems] == [(FILE, 3, "row")]


# --- the file as a whole ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\ufeff \n\n", "the file is empty"),
        ("name,email\nx,y\n", "no customer_id column"),
        ("customer_id,Frequency,frequency\na,1,1\n", "repeats column 2"),
        ("id,customer_id\na,b\n", "repeats column 1"),
        ("customer_id,,plan\na,,b\n", "column 2 has no name"),
        ("customer_id,1st\na,b\n", "column 2 '1st' is not a usable name"),
        ("customer_id,total €\na,b\n", "'total €' is not a usable name"),
        ("customer_id," + "a" * 41 + "\nx,y\n", "is not a usable name"),
        ("customer_id," + ",".join(f"c{i}" for i in range(40)) + "\n", "41 columns"),
        ("customer_id,frequency\n", "no data rows"),
        ("customer_id,frequency\n\n,,\n", "no data rows"),
    ],
)
def test_header_level_errors(text: str, message: str) -> None:
    problems = header_error(text)
    assert problems[0].file == FILE
    assert problems[0].line == 1
    assert problems[0].field == "header"
    assert message in problems[0].message


def test_forty_columns_are_allowed() -> None:
    text = "customer_id," + ",".join(f"c{i}" for i in range(39)) + "\na" + ",x" * 39 + "\n"
    assert len(parse(text).table["a"]["fields"]) == 39


def test_no_valid_row_lists_the_rows_too() -> None:
    problems = header_error("customer_id,frequency\na,x\n,1\n")
    assert problems == [
        Problem(FILE, 1, "header", "no valid row"),
        Problem(FILE, 2, "frequency", "'x' is not a whole number >= 0"),
        Problem(FILE, 3, "customer_id", "missing"),
    ]


def test_too_many_rows_names_the_line_where_it_goes_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(customers, "MAX_ROWS", 3)
    assert parse("customer_id,note\na,1\nb,2\nc,3\n").rows == 3
    problems = header_error('customer_id,note\na,"1\n1"\nb,2\n\nc,3\nd,4\n')
    assert problems == [Problem(FILE, 7, "row", "more than 3 data rows")]


def test_header_names_are_normalized_and_id_is_an_alias() -> None:
    result = parse("ID, Recency Days ,Frequency,Loyalty-Tier\na,3,4,Gold\n")
    entry = result.table["a"]
    assert (entry["id"], entry["recency_days"], entry["frequency"]) == ("a", 3, 4)
    assert entry["fields"] == {"loyalty_tier": "Gold"}


def test_semicolon_file() -> None:
    result = parse(
        "customer_id;monetary;segments;note\na;12.50;gold,silver|x;hi, there\nb;12,50;;\n"
    )
    assert result.table["a"]["monetary"] == 12.5
    assert result.table["a"]["segments"][:3] == ["gold", "silver", "x"]
    assert result.table["a"]["fields"] == {"note": "hi, there"}
    assert [(p.line, p.field) for p in result.rejected] == [(3, "monetary")]


def test_tab_file() -> None:
    result = parse("customer_id\tfrequency\tsegments\nA 1\t3\tx,y\nb\tz\t\n")
    assert result.table["A 1"]["frequency"] == 3
    assert result.table["A 1"]["segments"][:2] == ["x", "y"]
    assert [(p.line, p.field) for p in result.rejected] == [(3, "frequency")]


def test_byte_order_mark() -> None:
    result = parse("\ufeffcustomer_id,frequency\na,1\n")
    assert result.table["a"]["frequency"] == 1
    assert result.table["a"]["fields"] == {}


# --- merging with the previous import --------------------------------------------------------


def test_a_rejected_row_keeps_the_previous_entry_and_the_rest_is_replaced() -> None:
    previous: dict[str, dict[str, Any]] = {
        "a": {"id": "a", "frequency": 1},
        "b": {"id": "b", "frequency": 2, "segments": ["old"]},
        "gone": {"id": "gone"},
    }
    result = parse(
        "customer_id,frequency\na,5\nb,oops\nc,oops\nd,7\n,3\n",
        previous=previous,
    )
    assert list(result.table) == ["a", "b", "d"]
    assert result.table["a"]["frequency"] == 5
    assert result.table["b"] == {"id": "b", "frequency": 2, "segments": ["old"]}
    assert result.kept == 1
    assert [p.line for p in result.rejected] == [3, 4, 6]


def test_a_duplicate_does_not_bring_back_the_previous_entry() -> None:
    previous: dict[str, dict[str, Any]] = {"a": {"id": "a", "frequency": 1}}
    result = parse("customer_id,frequency\na,5\na,6\n", previous=previous)
    assert result.table["a"]["frequency"] == 5
    assert result.kept == 0


# --- the table on disk -----------------------------------------------------------------------


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    result = parse('customer_id,frequency,note\na,1,"Zoë\nline two"\nb,2,\n')
    path = tmp_path / "customers.json"
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    write_table(path, result, source="crm-2024-06-01.csv")
    assert load_table(path) == result.table
    raw = path.read_text(encoding="utf-8")
    assert raw.startswith('{"format":"opmaat-customers/1","imported_at":"')
    assert "Zoë" in raw
    assert "\n" not in raw
    document = json.loads(raw)
    assert document["source"] == "crm-2024-06-01.csv"
    imported = dt.datetime.fromisoformat(document["imported_at"])
    assert imported.utcoffset() == dt.timedelta(0)
    assert before <= imported <= dt.datetime.now(dt.UTC)


def test_a_failed_write_leaves_the_old_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "customers.json"
    write_table(path, parse("customer_id\nold\n"), source="old.csv")
    old = path.read_bytes()

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_table(path, parse("customer_id\nnew\n"), source="new.csv")
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["customers.json"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'{"format": "opmaat-customers/2", "customers": {}}',
        b'{"customers": {}}',
        b'{"format": "opmaat-customers/1"}',
        b'{"format": "opmaat-customers/1", "customers": []}',
        b'{"format": "opmaat-customers/1", "customers": {"a": 1}}',
        b'{"format": "opmaat-customers/1", "customers": {"a": {"monetary": NaN}}}',
        b"[" * 100_000,
    ],
)
def test_load_table_refuses_garbage(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "customers.json"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_table(path)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), 1, "customers")


def test_load_table_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError) as info:
        load_table(path)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), 1, "file")


def test_load_table_returns_entries_as_stored(tmp_path: Path) -> None:
    path = tmp_path / "customers.json"
    document = {"format": "opmaat-customers/1", "customers": {"a": {"anything": [1, 2]}}}
    path.write_text(json.dumps(document), encoding="utf-8")
    assert load_table(path) == {"a": {"anything": [1, 2]}}


# --- scale -----------------------------------------------------------------------------------


def test_a_large_file() -> None:
    n = 50_000
    body = "".join(f"c{i},{i},{i},{i * 1.5},s{i % 7}\n" for i in range(n))
    result = parse("customer_id,recency_days,frequency,monetary,segments\n" + body)
    assert result.rows == n
    assert len(result.table) == n
    assert result.rejected == []
    for dimension in ("r", "f", "m"):
        counts = [0] * 5
        for entry in result.table.values():
            counts[entry["rfm"][dimension] - 1] += 1
        assert counts == [n // 5] * 5, dimension
    assert result.table["c0"]["rfm"]["cell"] == "511"
    assert result.table[f"c{n - 1}"]["rfm"]["cell"] == "155"


# --- customer_attributes ---------------------------------------------------------------------


def test_customer_attributes_of_an_entry() -> None:
    stored = parse(TEN).table["c01"]
    stored["fields"] = {"plan": "gold"}
    customer, rfm, segments = customer_attributes(stored)
    assert customer == {
        "id": "c01",
        "recency_days": 5,
        "frequency": 12,
        "monetary": 900.0,
        "plan": "gold",
    }
    assert rfm == stored["rfm"]
    assert segments == ["rfm-champions"]


@pytest.mark.parametrize(
    "entry",
    [None, 5, "a", [], {}, {"id": 5, "rfm": [], "segments": "a", "fields": 3}],
)
def test_customer_attributes_of_garbage_are_empty(entry: Any) -> None:
    assert customer_attributes(entry) == ({}, {}, [])


def test_customer_attributes_keep_only_what_has_the_right_shape() -> None:
    entry: dict[str, Any] = {
        "id": "a",
        "recency_days": True,
        "frequency": "3",
        "monetary": 2,
        "segments": ["x", 1, None, "y"],
        "rfm": {"r": 1},
        "fields": {"plan": "gold", "n": 3, "id": "spoof"},
    }
    assert customer_attributes(entry) == (
        {"id": "a", "monetary": 2, "plan": "gold"},
        {"r": 1},
        ["x", "y"],
    )
