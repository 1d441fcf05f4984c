from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlsplit

import itsdangerous.timed
import pytest
from itsdangerous import TimestampSigner

from opmaat import purl
from opmaat.errors import ConfigError, Problem
from opmaat.purl import (
    PurlSigner,
    Recipient,
    create_recipients,
    load_recipients,
    new_key,
    recipient_attributes,
    unsigned_key,
)

KEY_OLD = "old-purl-key-0123456789abcdef"
KEY_NEW = "new-purl-key-0123456789abcdef"
BASE = "https://shop.example"
NOW = 1_700_000_000
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time itsdangerous's TimestampSigner reads (`time.time()` in itsdangerous.timed)."""
    now = [float(NOW)]
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def signer(*keys: str) -> PurlSigner:
    return PurlSigner(list(keys) or [KEY_NEW])


def create(text: str, **kwargs: Any) -> tuple[str, list[Problem], int]:
    options: dict[str, Any] = {"filename": "r.csv", "base_url": BASE, "signer": signer()}
    options.update(kwargs)
    return create_recipients(text, **options)


def rows_of(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(
        csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter)
    )


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


# --- tokens -------------------------------------------------------------------------------


def test_round_trip_gives_the_key_back() -> None:
    s = signer()
    key = new_key()
    token = s.issue(key)
    assert s.verify(token, 3600) == (key, "ok")
    assert s.verify(token.encode("ascii"), 3600) == (key, "ok")
    assert token.startswith(key + ".")


def test_token_is_short_url_safe_and_carries_only_the_key() -> None:
    s = signer()
    for _ in range(50):
        token = s.issue(new_key())
        assert len(token) <= 40
        assert TOKEN_SHAPE.fullmatch(token)
        assert quote(token, safe="") == token  # nothing to escape in a URL path
        assert len(token.split(".")[2]) == 16  # 12-byte signature


def test_signature_is_hmac_sha256_truncated_to_12_bytes(clock: list[float]) -> None:
    token = signer(KEY_NEW).issue("AbCd1234")
    key_part, stamp, signature = token.split(".")
    assert base64.urlsafe_b64decode(stamp + "=" * (-len(stamp) % 4)) == NOW.to_bytes(4, "big")
    # itsdangerous's default key derivation (django-concat) with SHA-256.
    derived = hashlib.sha256(b"opmaat.purl" + b"signer" + KEY_NEW.encode()).digest()
    mac = hmac.new(derived, f"{key_part}.{stamp}".encode(), hashlib.sha256).digest()[:12]
    assert signature == base64.urlsafe_b64encode(mac).decode().rstrip("=")


def test_new_key_is_random_alphanumeric() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9]{8}", k) for k in keys)


@pytest.mark.parametrize("key", ["", "short", "AbCd12345", "AbCd-123", "AbCd.123", "AbCdé123"])
def test_issue_refuses_a_key_that_is_not_8_alphanumerics(key: str) -> None:
    with pytest.raises(ValueError, match="8 characters"):
        signer().issue(key)


def test_signer_needs_a_key() -> None:
    with pytest.raises(ValueError, match="secret key"):
        PurlSigner(["", ""])


def test_old_token_is_expired_but_keeps_its_key(clock: list[float]) -> None:
    s = signer()
    token = s.issue("AbCd1234")
    clock[0] = NOW + 1000
    assert s.verify(token, 1000) == ("AbCd1234", "ok")
    assert s.verify(token, 999) == ("AbCd1234", "expired")
    assert s.verify(token, 999.5) == ("AbCd1234", "expired")
    assert s.verify(token, float("nan")) == ("AbCd1234", "expired")
    assert s.verify(token, float("inf")) == ("AbCd1234", "ok")


def test_token_from_a_clock_ahead_is_not_expired(clock: list[float]) -> None:
    s = signer()
    clock[0] = NOW + 60
    token = s.issue("AbCd1234")
    clock[0] = NOW
    assert s.verify(token, 10) == ("AbCd1234", "ok")


def test_rotation_first_key_signs_all_verify() -> None:
    old_token = signer(KEY_OLD).issue("OldKey12")
    rotated = signer(KEY_NEW, KEY_OLD)
    assert rotated.verify(old_token, 60) == ("OldKey12", "ok")
    new_token = rotated.issue("NewKey12")
    assert signer(KEY_NEW).verify(new_token, 60) == ("NewKey12", "ok")
    assert signer(KEY_OLD).verify(new_token, 60) == (None, "invalid")
    # The old key dropped: its links stop working.
    assert signer(KEY_NEW).verify(old_token, 60) == (None, "invalid")


def test_other_salt_or_plain_hmac_signatures_are_invalid() -> None:
    other = TimestampSigner(KEY_NEW, salt="opmaat.other", digest_method=hashlib.sha256)
    forged = other.sign("AbCd1234").decode()
    assert signer().verify(forged, 60) == (None, "invalid")
    shortened = forged.rsplit(".", 1)[0] + "." + forged.rsplit(".", 1)[1][:16]
    assert signer().verify(shortened, 60) == (None, "invalid")


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampering_with_any_part_is_invalid(part: int) -> None:
    s = signer()
    token = s.issue("AbCd1234")
    pieces = token.split(".")
    for position in range(len(pieces[part])):
        changed = list(pieces)
        old = changed[part][position]
        new = "B" if old != "B" else "C"
        changed[part] = changed[part][:position] + new + changed[part][position + 1 :]
        assert s.verify(".".join(changed), 60) == (None, "invalid"), (part, position)


def test_signature_of_another_token_does_not_fit() -> None:
    s = signer()
    a, b = s.issue("AAAAAAAA"), s.issue("BBBBBBBB")
    swapped = a.rsplit(".", 1)[0] + "." + b.rsplit(".", 1)[1]
    assert s.verify(swapped, 60) == (None, "invalid")


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "..",
        "...",
        "x" * 10240,
        "ключ1234.тест.подпись",
        "AbCd1234..",
        "\ud800\udfff",
        "\x00" * 40,
        b"",
        b"\xff" * 30,
        b"A" * 10240,
        None,
        42,
    ],
)
def test_garbage_is_invalid_and_never_raises(value: Any) -> None:
    assert signer().verify(value, 60) == (None, "invalid")


def test_near_misses_of_a_good_token_are_invalid() -> None:
    s = signer()
    token = s.issue("AbCd1234")
    for value in (token + "\n", " " + token, token + ".", token + "A", token[:-1], token.upper()):
        assert s.verify(value, 60) == (None, "invalid"), value


class _SpyPattern:
    """Wraps a compiled pattern and records what it was asked to match."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.seen: list[str] = []

    def fullmatch(self, text: str) -> re.Match[str] | None:
        self.seen.append(text)
        return self.pattern.fullmatch(text)


def test_long_input_is_refused_without_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    s = signer()
    token = s.issue("AbCd1234")
    spy = _SpyPattern(purl._TOKEN_RE)
    monkeypatch.setattr(purl, "_TOKEN_RE", spy)
    assert s.verify(token, 60) == ("AbCd1234", "ok")
    assert spy.seen == [token]
    for value in ("A" * 101, "A" * 10_000, (token + ".") * 4, b"A" * 101):
        assert s.verify(value, 60) == (None, "invalid")
    assert spy.seen == [token]
    # 100 characters is still looked at (and is invalid for its shape).
    assert s.verify("A" * 100, 60) == (None, "invalid")
    assert spy.seen == [token, "A" * 100]
    key_spy = _SpyPattern(purl._KEY_RE)
    monkeypatch.setattr(purl, "_KEY_RE", key_spy)
    assert unsigned_key("AbCd1234." + "x" * 92) is None
    assert key_spy.seen == []


def test_unsigned_key() -> None:
    token = signer().issue("AbCd1234")
    assert unsigned_key(token) == "AbCd1234"
    assert PurlSigner.unsigned_key(token) == "AbCd1234"
    assert unsigned_key("AbCd1234") == "AbCd1234"
    assert unsigned_key("AbCd1234.broken-off") == "AbCd1234"
    for value in ("", "AbCd123", "AbCd12345", "AbCd12345.x.y", "AbCd12٣4.x", "AbCd-234.x", "."):
        assert unsigned_key(value) is None, value
    assert unsigned_key("AbCd1234." + "x" * 100) is None
    assert unsigned_key(None) is None  # type: ignore[arg-type]


# --- create_recipients --------------------------------------------------------------------


def test_create_adds_a_url_column_and_keeps_the_rest() -> None:
    s = signer()
    text = 'id,first_name,company,offer\n1,Ann,"Smith, Inc",A\n2,Bob,,B\n'
    out, problems, issued = create(text, signer=s, base_url=BASE + "/")
    rows = rows_of(out)
    assert rows[0] == ["id", "first_name", "company", "offer", "url"]
    assert [r[:4] for r in rows[1:]] == [["1", "Ann", "Smith, Inc", "A"], ["2", "Bob", "", "B"]]
    assert problems == []
    assert issued == 2
    keys = set()
    for row in rows[1:]:
        assert row[4].startswith(BASE + "/p/")
        token = token_of(row[4])
        key, status = s.verify(token, 60)
        assert status == "ok"
        assert key is not None
        keys.add(key)
        assert "Ann" not in token
        assert "Bob" not in token
    assert len(keys) == 2
    assert out.endswith("\n")
    assert "\r" not in out


def test_create_under_a_base_path() -> None:
    out, _, _ = create("id\n7\n", base_url="https://mail.example/welcome//")
    url = rows_of(out)[1][1]
    assert url.startswith("https://mail.example/welcome/p/")
    assert TOKEN_SHAPE.fullmatch(token_of(url))


def test_create_semicolons_bom_and_crlf_are_kept() -> None:
    text = "\ufeffID;Voor-naam;Plaats\r\n1;Ann;Delft, NL\r\n2;Bob;Gouda\r\n"
    out, problems, issued = create(text)
    assert out.startswith("\ufeffID;Voor-naam;Plaats;url\r\n")
    assert problems == []
    assert issued == 2
    rows = rows_of(out, ";")
    assert rows[1][:3] == ["1", "Ann", "Delft, NL"]
    assert out.count("\r\n") == 3


def test_delimiter_comes_from_the_header_line() -> None:
    # Data full of semicolons does not make a comma file a semicolon file.
    out, problems, _ = create("id,note\n1,a;b;c;d\n")
    assert problems == []
    assert rows_of(out)[1][:2] == ["1", "a;b;c;d"]


def test_create_is_idempotent() -> None:
    text = 'id,name\n1,Ann\n2,"Bob\nJr"\n2,dup\n3,Cy\n'
    first, problems1, issued1 = create(text)
    second, problems2, issued2 = create(first)
    assert (issued1, issued2) == (3, 0)
    assert second == first
    assert problems2 == problems1


def test_existing_urls_in_place_are_kept() -> None:
    s = signer()
    kept = "https://old.example/p/Keep1234.xxxx.yyyy"  # well-formed key, signature not checked
    text = f"id,url,name\n1,{kept},Ann\n2,,Bob\n3,https://shop.example/p/!!bad,Cy\n"
    out, problems, issued = create(text, signer=s)
    rows = rows_of(out)
    assert rows[0] == ["id", "url", "name"]
    assert rows[1] == ["1", kept, "Ann"]
    assert problems == []
    assert issued == 2
    for row in rows[2:]:
        assert s.verify(token_of(row[1]), 60)[1] == "ok"
        assert row[1] != kept


def test_a_copied_url_gets_a_new_link_on_the_later_row() -> None:
    url = BASE + "/p/Same1234.AAAA.BBBB"
    out, problems, issued = create(f"id,url\n1,{url}\n2,{url}\n")
    rows = rows_of(out)
    assert rows[1][1] == url
    assert rows[2][1] != url
    assert unsigned_key(token_of(rows[2][1])) not in (None, "Same1234")
    assert (problems, issued) == ([], 1)


def test_new_keys_avoid_keys_already_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["Late1234", "Late1234", "Free1234"])
    monkeypatch.setattr(purl, "new_key", lambda: next(drawn))
    text = f"id,url\n1,\n2,{BASE}/p/Late1234.AAAA.BBBB\n"
    out, _, issued = create(text)
    rows = rows_of(out)
    assert unsigned_key(token_of(rows[1][1])) == "Free1234"
    assert rows[2][1] == f"{BASE}/p/Late1234.AAAA.BBBB"
    assert issued == 1


def test_rejected_rows_are_reported_on_their_physical_line() -> None:
    text = (
        "id,name,note\n"  # 1
        '1,Ann,"three\nline\nnote"\n'  # 2-4
        "2,Bob,x\n"  # 5
        "1,Ann again,x\n"  # 6
        ",Nobody,x\n"  # 7
        "\n"  # 8 blank: skipped, not reported
        f"{'i' * 129},Long,x\n"  # 9
        "a\x07b,Bell,x\n"  # 10
        f"3,Cy,{'n' * 201}\n"  # 11
        "4,Short\n"  # 12
        "5,Too,many,cells\n"  # 13
        '"6\n7",Dee,"x"\n'  # 14-15: a newline inside an id is a control character
        f"{'j' * 128},Max,{'n' * 200}\n"  # 16: at the limits, accepted
    )
    out, problems, issued = create(text)
    assert problems == [
        Problem("r.csv", 6, "id", "duplicate id, first on line 2"),
        Problem("r.csv", 7, "id", "empty id"),
        Problem("r.csv", 9, "id", "id longer than 128 characters"),
        Problem("r.csv", 10, "id", "the id contains a control character"),
        Problem("r.csv", 11, "note", "201 characters; at most 200 are allowed"),
        Problem("r.csv", 12, "row", "expected 3 cells, found 2"),
        Problem("r.csv", 13, "row", "expected 3 cells, found 4"),
        Problem("r.csv", 14, "id", "the id contains a control character"),
    ]
    assert issued == 3
    rows = rows_of(out)
    good = [row[0] for row in rows[1:] if row[-1].startswith(BASE + "/p/")]
    assert good == ["1", "2", "j" * 128]  # the first of the duplicates keeps its link
    assert rows[1][2] == "three\nline\nnote"
    bad = [row for row in rows[1:] if not row[-1].startswith(BASE)]
    assert len(bad) == 8
    assert all(row[-1] == "" for row in bad)
    assert ["4", "Short", "", ""] in rows  # padded, data kept
    assert ["5", "Too", "many", "cells", ""] in rows  # nothing dropped


def test_a_rejected_row_loses_its_old_url() -> None:
    url = BASE + "/p/Keep1234.AAAA.BBBB"
    out, problems, issued = create(f"id,url\n1,{BASE}/p/Firs1234.A.B\n1,{url}\n")
    assert problems == [Problem("r.csv", 3, "id", "duplicate id, first on line 2")]
    assert rows_of(out)[2] == ["1", ""]
    assert issued == 0


def test_ids_are_compared_without_surrounding_spaces() -> None:
    _, problems, _ = create("id,name\n 1 ,Ann\n1,Ann\n")
    assert problems == [Problem("r.csv", 3, "id", "duplicate id, first on line 2")]


def test_recipient_id_alias_and_header_normalization(tmp_path: Path) -> None:
    out, problems, _ = create("Recipient ID,First Name, Company ,Customer-ID\nr1,Ann,ACME,c9\n")
    assert problems == []
    assert rows_of(out)[0] == ["Recipient ID", "First Name", " Company ", "Customer-ID", "url"]
    path = tmp_path / "r.csv"
    path.write_text(out, encoding="utf-8")
    (recipient,) = load_recipients(path, ["first_name", "company"]).values()
    assert recipient.id == "r1"
    assert recipient.fields == {"first_name": "Ann", "company": "ACME"}


def test_thirty_columns_are_fine() -> None:
    header = ",".join(["id", *(f"c{i}" for i in range(29))])
    _, problems, issued = create(header + "\n" + ",".join(["1"] * 30) + "\n")
    assert (problems, issued) == ([], 1)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("name,company\nAnn,ACME\n", "id", "no id column"),
        ("", "id", "empty"),
        ("id,,name\n1,,Ann\n", "column 2", "no name"),
        ("id,name,Name\n1,a,b\n", "name", "duplicate column name, also column 2"),
        ("id,first-name,First Name\n1,a,b\n", "first_name", "duplicate"),
        ("id,1st\n1,a\n", "column 2", "not a usable column name"),
        ("id,naïve\n1,a\n", "column 2", "not a usable column name"),
        ("id," + "n" * 41 + "\n1,a\n", "column 2", "not a usable column name"),
        ("id,recipient_id\n1,2\n", "id", "both"),
        (",".join(["id", *(f"c{i}" for i in range(30))]) + "\n", "header", "31 columns"),
    ],
)
def test_bad_headers_raise(text: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create(text)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("r.csv", 1, field)
    assert message in problem.message


@pytest.mark.parametrize(
    "base_url",
    [
        "",
        "shop.example",
        "/p",
        "ftp://shop.example",
        "https://",
        "https://shop.example/?utm=x",
        "https://shop.example/#top",
        "https://shop.example?",
        "https://shop .example",
        "https://shop.example:99999",
        "javascript:alert(1)",
    ],
)
def test_bad_base_url_raises(base_url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create("id\n1\n", base_url=base_url)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("r.csv", 1, "base_url")


def test_base_url_and_header_problems_come_together() -> None:
    with pytest.raises(ConfigError) as caught:
        create("name\nAnn\n", base_url="nope")
    assert [p.field for p in caught.value.problems] == ["base_url", "id"]


def test_create_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(purl, "MAX_ROWS", 3)
    assert create("id\n1\n2\n3\n")[2] == 3
    with pytest.raises(ConfigError) as caught:
        create("id\n1\n2\n\n3\n4\n")
    assert caught.value.problems == [Problem("r.csv", 6, "file", "more than 3 rows")]


# --- load_recipients ----------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_load_what_create_wrote(tmp_path: Path) -> None:
    s = signer()
    text = (
        "\ufeffid;first_name;company;customer_id;offer\r\n"
        "1;Ann;ACME;c1;A\r\n"
        "2;Bob;;;B\r\n"
        "1;Dup;x;y;z\r\n"
        "3;Short\r\n"
    )
    out, problems, issued = create(text, signer=s)
    assert len(problems) == 2
    assert issued == 2
    path = write(tmp_path, out)
    loaded = load_recipients(path, ["first_name", "company", "offer"])
    assert len(loaded) == 2
    by_id = {r.id: r for r in loaded.values()}
    assert by_id["1"] == Recipient(
        by_id["1"].key, "1", {"first_name": "Ann", "company": "ACME", "offer": "A"}
    )
    assert by_id["2"].fields == {"first_name": "Bob", "offer": "B"}
    urls = [row[-1] for row in rows_of(out, ";")[1:] if row[-1]]
    for url in urls:
        key, status = s.verify(token_of(url), 60)
        assert status == "ok"
        assert key in loaded
        assert loaded[key].key == key


def test_load_keeps_only_the_exposed_columns(tmp_path: Path) -> None:
    text = f"id,first_name,customer_id,url\nr1,Ann,c1,{BASE}/p/Abcd1234.A.B\n"
    path = write(tmp_path, text)
    assert load_recipients(path)["Abcd1234"] == Recipient("Abcd1234", "r1", {})
    assert load_recipients(path, ["first_name"])["Abcd1234"].fields == {"first_name": "Ann"}
    assert load_recipients(path, ["id"])["Abcd1234"].fields == {"id": "r1"}


def test_load_refuses_to_expose_a_column_the_file_lacks(tmp_path: Path) -> None:
    path = write(tmp_path, f"id,first_name,url\nr1,Ann,{BASE}/p/Abcd1234.A.B\n")
    with pytest.raises(ConfigError) as caught:
        load_recipients(path, ["first_name", "city", "offer"])
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:1: {name}: the campaign's purl.expose lists this column, but the file has "
        "none (it has id, first_name, url)"
        for name in ("city", "offer")
    ]


def test_load_skips_rows_without_a_url(tmp_path: Path) -> None:
    path = write(tmp_path, f"id,name,url\n1,Ann,{BASE}/p/Abcd1234.A.B\n2,Bob,\n\n3,Cy, \n")
    assert list(load_recipients(path)) == ["Abcd1234"]


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(ConfigError) as caught:
        load_recipients(path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), 1, "file")
    assert "cannot read" in problem.message


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (f"name,url\nAnn,{BASE}/p/Abcd1234.A.B\n", 1, "id", "no id column"),
        ("id,name\n1,Ann\n", 1, "url", "no url column"),
        ("", 1, "id", "empty"),
        (f"id,url\n1,{BASE}/p/Abcd1234.A.B\n2,{BASE}/p/short.A.B\n", 3, "url", "well-formed key"),
        (f"id,url\n1,{BASE}/p/Abcd1234.A.B/\n", 2, "url", "well-formed key"),
        (
            f'id,note,url\n1,"a\nb",{BASE}/p/Abcd1234.A.B\n2,x,{BASE}/p/Abcd1234.C.D\n',
            4,
            "url",
            "link key Abcd1234 is also used on line 2",
        ),
        (f"id,url\n ,{BASE}/p/Abcd1234.A.B\n", 2, "id", "empty id"),
    ],
)
def test_load_broken_files(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_recipients(path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), line, field)
    assert message in problem.message


def test_load_reports_every_bad_row(tmp_path: Path) -> None:
    path = write(tmp_path, f"id,url\n1,{BASE}/p/x\n2,{BASE}/p/y\n3,{BASE}/p/Abcd1234.A.B\n")
    with pytest.raises(ConfigError) as caught:
        load_recipients(path)
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "url"), (3, "url")]


def test_load_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(f"id,url\n1,{BASE}/p/Abcd1234.A.B\n2,\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_recipients(path)
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("file", "the file is not UTF-8 text")
    ]


def test_load_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(purl, "MAX_ROWS", 2)
    rows = "".join(f"{i},{BASE}/p/Abcd123{i}.A.B\n" for i in range(3))
    path = write(tmp_path, "id,url\n" + rows)
    with pytest.raises(ConfigError) as caught:
        load_recipients(path)
    assert caught.value.problems == [Problem(str(path), 4, "file", "more than 2 rows")]
    monkeypatch.setattr(purl, "MAX_ROWS", 3)
    assert len(load_recipients(path)) == 3


# --- recipient_attributes -----------------------------------------------------------------


RECIPIENT = Recipient("Abcd1234", "r-17", {"first_name": "Ann", "company": "ACME"})


def test_recipient_attributes() -> None:
    assert recipient_attributes(RECIPIENT, campaign="spring", forwarded=False) == {
        "campaign": "spring",
        "forwarded": False,
        "first_name": "Ann",
        "company": "ACME",
    }


def test_forwarded_link_tells_nothing_about_the_recipient() -> None:
    assert recipient_attributes(RECIPIENT, campaign="spring", forwarded=True) == {
        "campaign": "spring",
        "forwarded": True,
    }


def test_no_recipient_no_attributes() -> None:
    assert recipient_attributes(None, campaign="spring", forwarded=False) == {}
    assert recipient_attributes(None, campaign="spring", forwarded=True) == {}


def test_columns_cannot_override_the_link_attributes() -> None:
    recipient = Recipient("Abcd1234", "r-1", {"campaign": "x", "forwarded": "yes"})
    assert recipient_attributes(recipient, campaign="spring", forwarded=False) == {
        "campaign": "spring",
        "forwarded": False,
    }
