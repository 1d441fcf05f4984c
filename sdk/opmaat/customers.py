"""Customer metadata from a CRM or analytics export, as the table the edge joins to visitors.

``parse_customers`` reads a CSV export (``,``, ``;`` or tab separated) into checked entries with
RFM quintile scores and segments, and reports every row it leaves out by its physical line.
``write_table`` and ``load_table`` keep the table on disk as JSON; ``customer_attributes`` turns
one entry into what a visitor's profile shows.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opmaat.errors import ConfigError, Problem
from opmaat.files import write_atomic
from opmaat.interests import category_key

FORMAT = "opmaat-customers/1"
MAX_ROWS = 2_000_000
MAX_COLUMNS = 40
MAX_CELL = 10_000
MAX_ID = 128
MAX_FIELD = 200

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ALIASES = {"id": "customer_id"}
_WHOLE = re.compile(r"[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CSV_LIMIT = 2**31 - 1  # fits a C long everywhere

_RFM_SEGMENTS: tuple[tuple[str, Callable[[int, int, int], bool]], ...] = (
    ("champions", lambda r, f, m: r >= 4 and f >= 4 and m >= 4),
    ("loyal", lambda r, f, m: f >= 4),
    ("new", lambda r, f, m: r >= 4 and f <= 2),
    ("at_risk", lambda r, f, m: r <= 2 and f >= 3),
    ("hibernating", lambda r, f, m: r <= 2 and f <= 2),
    ("promising", lambda r, f, m: True),
)


@dataclass(frozen=True)
class CustomerImport:
    """One export read: the customer table, and a problem for each row it left out."""

    table: dict[str, dict[str, Any]]
    rejected: list[Problem]
    rows: int
    kept: int


def rfm_segment(r: int, f: int, m: int) -> str:
    """The segment of an RFM cell: the first rule that matches, ``promising`` at the end."""
    return next(name for name, rule in _RFM_SEGMENTS if rule(r, f, m))


class _Rejected(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message


def _whole(text: str) -> int:
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _money(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r} is not a finite number >= 0")
    return value + 0.0  # -0.0 becomes 0.0


def _text(text: str) -> str:
    if len(text) > MAX_FIELD:
        raise ValueError(f"longer than {MAX_FIELD} characters")
    return text


class _Schema:
    """The columns of one file, and how each cell of a row becomes part of an entry."""

    def __init__(self, names: list[str], delimiter: str, today: dt.date) -> None:
        self.width = len(names)
        self.id_index = names.index("customer_id")
        self.today = today
        self.separators = re.compile("[|;]" if delimiter == "," else "[|;,]")
        known: dict[str, Callable[[str], Any]] = {
            "recency_days": _whole,
            "last_order": self._last_order,
            "frequency": _whole,
            "monetary": _money,
            "segments": self._segments,
        }
        self.parsers = [
            (i, name, known.get(name, _text))
            for i, name in enumerate(names)
            if name != "customer_id"
        ]

    def customer_id(self, cells: list[str]) -> tuple[str | None, str | None]:
        """The row's customer id if it is readable, and what is wrong with it if anything."""
        value = cells[self.id_index].strip() if self.id_index < len(cells) else ""
        if not value:
            return None, "missing"
        if len(value) > MAX_ID:
            return None, f"longer than {MAX_ID} characters"
        if _CONTROL.search(value):
            return None, "contains a control character"
        return value, None

    def entry(self, cells: list[str], customer: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for index, name, parse in self.parsers:
            cell = cells[index].strip()
            if not cell:
                continue
            if len(cell) > MAX_CELL:
                raise _Rejected(name, f"longer than {MAX_CELL} characters")
            try:
                values[name] = parse(cell)
            except ValueError as exc:
                raise _Rejected(name, str(exc)) from None
        entry: dict[str, Any] = {"id": customer}
        since_order = values.pop("last_order", None)
        recency = values.pop("recency_days", since_order)
        if recency is not None:
            entry["recency_days"] = recency
        for key in ("frequency", "monetary"):
            if key in values:
                entry[key] = values.pop(key)
        entry["segments"] = values.pop("segments", [])
        entry["rfm"] = {}
        entry["fields"] = values
        return entry

    def _last_order(self, text: str) -> int:
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
        if day > self.today:
            raise ValueError(f"{text} is in the future")
        return (self.today - day).days

    def _segments(self, text: str) -> list[str]:
        out: list[str] = []
        for name in self.separators.split(text):
            if not name.strip():
                continue
            key = category_key(name)
            if key is None:
                raise ValueError(f"{name.strip()!r} is not a valid segment name")
            if key not in out:
                out.append(key)
        return out


def _column_names(cells: list[str], filename: str) -> list[str]:
    def fail(message: str) -> ConfigError:
        return ConfigError([Problem(filename, 1, "header", message)])

    if len(cells) > MAX_COLUMNS:
        raise fail(f"{len(cells)} columns, at most {MAX_COLUMNS} are allowed")
    names: list[str] = []
    for number, cell in enumerate(cells, 1):
        name = cell.strip().lower().replace(" ", "_").replace("-", "_")
        if not name:
            raise fail(f"column {number} has no name")
        if not _NAME.fullmatch(name):
            raise fail(
                f"column {number} {cell.strip()!r} is not a usable name: a letter, then "
                "letters, digits, spaces, - or _, at most 40 in all"
            )
        name = _ALIASES.get(name, name)
        if name in names:
            raise fail(
                f"column {number} {cell.strip()!r} repeats column {names.index(name) + 1} ({name})"
            )
        names.append(name)
    if "customer_id" not in names:
        raise fail("no customer_id column (or id)")
    return names


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d])  # a tie goes to the first, ","


def parse_customers(
    text: str,
    *,
    filename: str,
    today: dt.date,
    previous: Mapping[str, dict[str, Any]] | None = None,
) -> CustomerImport:
    """Read a customer export. A row with a mistake is left out and listed in ``rejected``;
    if its customer is in ``previous``, that customer's previous entry stays in the table.

    Raises ``ConfigError`` when the file as a whole cannot be used: no usable header, more than
    ``MAX_ROWS`` data rows, or not one valid row.
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ConfigError([Problem(filename, 1, "header", "the file is empty")])
    delimiter = _delimiter(io.StringIO(text, newline="").readline())
    if csv.field_size_limit() < min(len(text), _CSV_LIMIT):
        # The limit is process-wide. A cell past it stops csv mid-row, and csv then loses its
        # place in the file; long cells are rejected row by row below instead.
        csv.field_size_limit(_CSV_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def unreadable(exc: csv.Error) -> ConfigError:
        problem = Problem(filename, reader.line_num, "row", f"not readable as CSV: {exc}")
        return ConfigError([problem])

    try:
        schema = _Schema(_column_names(next(reader), filename), delimiter, today)
    except csv.Error as exc:
        raise unreadable(exc) from None

    table: dict[str, dict[str, Any]] = {}
    fresh: list[dict[str, Any]] = []
    rejected: list[Problem] = []
    first_line: dict[str, int] = {}
    rows = kept = 0
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise unreadable(exc) from None
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        rows += 1
        if rows > MAX_ROWS:
            raise ConfigError([Problem(filename, start, "row", f"more than {MAX_ROWS} data rows")])
        customer, wrong_id = schema.customer_id(cells)
        try:
            if len(cells) != schema.width:
                raise _Rejected("row", f"has {len(cells)} cells, the header has {schema.width}")
            if customer is None:
                raise _Rejected("customer_id", wrong_id or "missing")
            if customer in first_line:
                message = f"duplicate customer id, first on line {first_line[customer]}"
                raise _Rejected("customer_id", message)
            entry = schema.entry(cells, customer)
        except _Rejected as exc:
            rejected.append(Problem(filename, start, exc.field, exc.message))
            if customer is not None:
                first_line.setdefault(customer, start)
                if previous is not None and customer in previous and customer not in table:
                    table[customer] = copy.deepcopy(previous[customer])
                    kept += 1
            continue
        first_line[customer] = start
        table[customer] = entry
        fresh.append(entry)
    if not fresh:
        message = "no valid row" if rows else "no data rows"
        raise ConfigError([Problem(filename, 1, "header", message), *rejected])
    _score(fresh)
    return CustomerImport(table, rejected, rows, kept)


def _quintiles(
    entries: list[dict[str, Any]], key: str, *, lower_is_better: bool
) -> list[int | None]:
    values = sorted(entry[key] for entry in entries if key in entry)
    n = len(values)
    scores: list[int | None] = []
    for entry in entries:
        if key not in entry:
            scores.append(None)
            continue
        value = entry[key]
        beaten = n - bisect_right(values, value) if lower_is_better else bisect_left(values, value)
        scores.append(1 + 5 * beaten // n)
    return scores


def _score(entries: list[dict[str, Any]]) -> None:
    r_scores = _quintiles(entries, "recency_days", lower_is_better=True)
    f_scores = _quintiles(entries, "frequency", lower_is_better=False)
    m_scores = _quintiles(entries, "monetary", lower_is_better=False)
    for entry, r, f, m in zip(entries, r_scores, f_scores, m_scores, strict=True):
        if r is None or f is None or m is None:
            entry["rfm"] = {"r": r, "f": f, "m": m, "score": None, "cell": None, "segment": None}
            continue
        segment = rfm_segment(r, f, m)
        entry["rfm"] = {
            "r": r,
            "f": f,
            "m": m,
            "score": r + f + m,
            "cell": f"{r}{f}{m}",
            "segment": segment,
        }
        if f"rfm-{segment}" not in entry["segments"]:
            entry["segments"].append(f"rfm-{segment}")


def write_table(path: Path, result: CustomerImport, *, source: str) -> None:
    """Write the table as JSON, atomically: readers see the old file or the new, never half."""
    document = {
        "format": FORMAT,
        "imported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": source,
        "customers": result.table,
    }
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    write_atomic(path, data)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def load_table(path: Path) -> dict[str, dict[str, Any]]:
    """The customers of a table ``write_table`` wrote; ``ConfigError`` if it is not one."""

    def fail(field: str, message: str) -> ConfigError:
        return ConfigError([Problem(str(path), 1, field, message)])

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail("file", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise fail("customers", "not a JSON customer table") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise fail("customers", f"not a customer table (format {FORMAT!r} expected)")
    customers = document.get("customers")
    if not isinstance(customers, dict):
        raise fail("customers", "must be an object of customer id -> entry")
    for key, entry in customers.items():
        if not isinstance(entry, dict):
            raise fail("customers", f"the entry of {key!r} is not an object")
    return customers


def customer_attributes(
    entry: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """``customer``, ``rfm`` and ``segments`` of a profile, from one table entry; whatever
    in the entry is not of the expected shape is left out."""
    if not isinstance(entry, Mapping):
        return {}, {}, []
    customer: dict[str, Any] = {}
    if isinstance(entry.get("id"), str):
        customer["id"] = entry["id"]
    for key, kinds in (("recency_days", int), ("frequency", int), ("monetary", (int, float))):
        value = entry.get(key)
        if isinstance(value, kinds) and not isinstance(value, bool):
            customer[key] = value
    fields = entry.get("fields")
    if isinstance(fields, Mapping):
        for key, value in fields.items():
            if isinstance(key, str) and isinstance(value, str) and key not in customer:
                customer[key] = value
    rfm = entry.get("rfm")
    segments = entry.get("segments")
    return (
        customer,
        dict(rfm) if isinstance(rfm, Mapping) else {},
        [s for s in segments if isinstance(s, str)] if isinstance(segments, list) else [],
    )
