"""Personalized landing URLs (PURLs) for email and direct mail.

A link looks like ``https://shop.example/p/<token>``. The token is
``<key>.<timestamp>.<signature>``: a random 8-character key that stands for one row of a
recipients file, the time it was issued and a short HMAC, at most 40 characters, so it can be
printed on a letter and typed back in. Nothing personal is in it: the key only means something
to whoever holds the recipients file.

``create_recipients`` adds a ``url`` column to a recipients CSV; ``load_recipients`` reads the
file back so the edge can tell, from a link's key, who was sent it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import itertools
import re
import secrets
import string
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from itsdangerous import TimestampSigner
from itsdangerous.signer import SigningAlgorithm

from opmaat.errors import ConfigError, Problem

_SALT = "opmaat.purl"
KEY_LENGTH = 8
_KEY_ALPHABET = string.ascii_letters + string.digits
_KEY_RE = re.compile(r"[A-Za-z0-9]{8}")
# key . base64(timestamp, at most 8 bytes) . base64(12-byte signature)
_TOKEN_RE = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9_-]{1,11}\.[A-Za-z0-9_-]{16}")
MAX_TOKEN_CHARS = 40
_MAX_INPUT_CHARS = 100  # anything longer is not looked at
_SIGNATURE_BYTES = 12

MAX_COLUMNS = 30
MAX_CELL_CHARS = 200
MAX_ID_CHARS = 128
MAX_ROWS = 1_000_000
_HEADER_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ID_COLUMNS = ("id", "recipient_id")
_URL_COLUMN = "url"
_BAD_ID_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

Status = Literal["ok", "expired", "invalid"]


def new_key() -> str:
    """A random link key: 8 characters from [A-Za-z0-9] (about 47 bits)."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_LENGTH))


class _TruncatedHmacSha256(SigningAlgorithm):
    """HMAC-SHA256 cut to 12 bytes: 16 base64 characters, short enough to type."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.new(key, value, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


class PurlSigner:
    """Issues and checks link tokens. Keys are newest first: the first signs, all verify."""

    def __init__(self, secret_keys: Sequence[str]) -> None:
        keys = [k for k in secret_keys if k]
        if not keys:
            raise ValueError("at least one secret key is needed to sign personal links")
        self.secret_keys = tuple(keys)
        # itsdangerous signs with the last key of its list and verifies with all of them.
        self._signer = TimestampSigner(
            list(reversed(keys)),
            salt=_SALT,
            digest_method=hashlib.sha256,
            algorithm=_TruncatedHmacSha256(),
        )

    def issue(self, key: str) -> str:
        """The token for ``key`` (8 characters from [A-Za-z0-9]), stamped with the time now."""
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise ValueError("a link key is 8 characters from [A-Za-z0-9]")
        return self._signer.sign(key).decode("ascii")

    def verify(self, token: str | bytes, max_age_seconds: float) -> tuple[str | None, Status]:
        """``(key, status)``: "ok"; "expired" when the signature is good but older than
        ``max_age_seconds`` (the key is still given, to pick a page for it); "invalid" with no
        key for anything else. Never raises."""
        try:
            return self._verify(token, max_age_seconds)
        except Exception:
            return None, "invalid"

    def _verify(self, token: object, max_age_seconds: float) -> tuple[str | None, Status]:
        if isinstance(token, bytes):
            if len(token) > _MAX_INPUT_CHARS:
                return None, "invalid"
            token = token.decode("ascii")
        if not isinstance(token, str) or len(token) > _MAX_INPUT_CHARS:
            return None, "invalid"
        if not _TOKEN_RE.fullmatch(token):
            return None, "invalid"
        value, signed_at = self._signer.unsign(token, return_timestamp=True)
        key = value.decode("ascii")
        age = self._signer.get_timestamp() - signed_at.timestamp()
        # A token from the future can only be ours (it is signed): clock skew, not too old.
        # `not <=` so that a NaN maximum expires rather than lets everything through.
        if not age <= max_age_seconds:
            return key, "expired"
        return key, "ok"

    @staticmethod
    def unsigned_key(token: str) -> str | None:
        """The key part of a token if it looks like one, signature unchecked: only to choose
        where a broken or expired link lands."""
        return unsigned_key(token)


def unsigned_key(token: str) -> str | None:
    """The key part of ``token`` when it is 8 characters from [A-Za-z0-9]; no signature check."""
    if not isinstance(token, str) or len(token) > _MAX_INPUT_CHARS:
        return None
    head = token.split(".", 1)[0]
    return head if _KEY_RE.fullmatch(head) else None


def _url_key(url: str) -> str | None:
    """The unsigned key of the token in a link's last path segment."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    return unsigned_key(path.rsplit("/", 1)[-1])


@dataclass(frozen=True, slots=True)
class Recipient:
    """One row of a recipients file. ``fields`` holds only the columns the campaign exposes
    (``purl.expose``), without empty cells: the rest of the row is never loaded."""

    key: str
    id: str
    fields: dict[str, str]


def recipient_attributes(
    recipient: Recipient | None, *, campaign: str, forwarded: bool
) -> dict[str, Any]:
    """The ``purl.*`` profile attributes for a visitor who followed a link.

    A forwarded link (opened by someone else than the recipient) says which campaign it came
    from and nothing about the person it was made for. The two attributes set here win over
    columns of the same name.
    """
    if recipient is None:
        return {}
    if forwarded:
        return {"campaign": campaign, "forwarded": True}
    return {**recipient.fields, "campaign": campaign, "forwarded": False}


# --- recipients files ---------------------------------------------------------------------


def normalize_header(name: str) -> str | None:
    """A column name as snake_case (``"First Name"`` -> ``first_name``), or None if unusable."""
    text = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return text if _HEADER_RE.fullmatch(text) else None


def _delimiter(first_line: str) -> str:
    return ";" if first_line.count(";") > first_line.count(",") else ","


class _Reader(Protocol):
    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[list[str]]: ...


def _records(reader: _Reader) -> Iterator[tuple[int, list[str]]]:
    """Each record with the physical line it starts on (quoted cells may span lines)."""
    end = 0
    for row in reader:
        start = end + 1
        end = reader.line_num
        yield start, row


def _blank(row: list[str]) -> bool:
    return all(not cell.strip() for cell in row)


@dataclass(frozen=True, slots=True)
class _Columns:
    names: list[str]
    id_index: int
    url_index: int | None


def _columns(
    header: list[str], filename: str, *, need_url: bool
) -> tuple[_Columns | None, list[Problem]]:
    problems: list[Problem] = []

    def report(field: str, message: str) -> None:
        problems.append(Problem(filename, 1, field, message))

    if _blank(header):
        report("id", "the header line is empty: the file needs one with an id column")
        return None, problems
    if len(header) > MAX_COLUMNS:
        report("header", f"{len(header)} columns; at most {MAX_COLUMNS} are allowed")
        return None, problems
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(header, start=1):
        if not raw.strip():
            report(f"column {number}", "the column has no name")
            names.append("")
            continue
        name = normalize_header(raw)
        if name is None:
            report(
                f"column {number}",
                f"'{raw[:40]}' is not a usable column name: letters, digits, spaces, '-' or "
                "'_', starting with a letter, at most 40 characters",
            )
            names.append("")
            continue
        if name in seen:
            report(name, f"duplicate column name, also column {seen[name]}")
        else:
            seen[name] = number
        names.append(name)
    id_columns = [n for n in _ID_COLUMNS if n in seen]
    if not id_columns and not problems:
        report("id", "no id column: the file needs a column named 'id' (or 'recipient_id')")
    elif len(id_columns) > 1:
        report("id", "both 'id' and 'recipient_id' columns: keep one of them")
    if need_url and _URL_COLUMN not in seen and not problems:
        report(_URL_COLUMN, "no url column: is this a file `opmaat purl create` wrote?")
    if problems:
        return None, problems
    url_index = seen[_URL_COLUMN] - 1 if _URL_COLUMN in seen else None
    return _Columns(names, seen[id_columns[0]] - 1, url_index), problems


def _id_problem(value: str) -> str | None:
    if not value:
        return "empty id"
    if len(value) > MAX_ID_CHARS:
        return f"id longer than {MAX_ID_CHARS} characters"
    if any(unicodedata.category(ch) in _BAD_ID_CATEGORIES for ch in value):
        return "the id contains a control character"
    return None


def _base_url_problem(base_url: str) -> str | None:
    if not isinstance(base_url, str) or not base_url:
        return "the base URL is empty"
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in base_url):
        return "the base URL contains spaces or control characters"
    if "?" in base_url or "#" in base_url:
        return "the base URL must not have a query (?) or fragment (#)"
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return f"'{base_url[:80]}' is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{base_url[:80]}' is not an absolute http(s) URL"
    return None


def where_links_land(
    landing: str, site_hosts: Collection[str], base_url: str | None = None
) -> tuple[str, str | None]:
    """Where a campaign's links land, in words ("its links land on …"), and a warning when
    that is likely not a page of the shop. A path lands on the host the link is opened on, the
    host of ``base_url`` (the edge answers with a path), which is the shop only when it is one
    of ``site_hosts``, the edge served under the shop's host: an edge on a host of its own
    answers that path itself. Without ``base_url`` (`opmaat check`) the host is not known."""
    if landing.startswith(("http://", "https://")):
        return f"its links land on {landing}", None
    if base_url is None:
        return (
            f"its links land on {landing} of the host in their URL (the --base-url of "
            "`opmaat purl create`): that must be a page of your shop",
            None,
        )
    parts = urlsplit(base_url)
    where = f"{parts.scheme}://{parts.netloc}{landing}"
    lands = f"its links land on {where}: this must be a page of your shop"
    host = (parts.hostname or "").lower()
    if host in site_hosts or parts.netloc.lower() in site_hosts:
        return lands, None
    return lands, (
        f"{host} is not one of site.hosts, so unless this edge is served under your shop's "
        f"host, {where} is the edge's own page, not your shop's: make purl.landing a full URL "
        "on one of site.landing_hosts (docs/campaign-types.md)"
    )


def _csv_problem(filename: str, line: int, exc: Exception) -> ConfigError:
    return ConfigError([Problem(filename, line, "file", f"cannot read the CSV: {exc}")])


def create_recipients(
    text: str,
    *,
    filename: str,
    base_url: str,
    signer: PurlSigner,
    previous: Mapping[str, str] | None = None,
    expose: Sequence[str] = (),
) -> tuple[str, list[Problem], int]:
    """Give every good row of a recipients CSV a personal link.

    Returns the CSV written back (same delimiter, columns and order, a ``url`` column added
    last or filled in place), the rejected rows as problems and how many links were issued.
    A row whose url already holds a well-formed key keeps it, so running this again does not
    change links that may be printed already. Rejected rows are written back with an empty
    url. ``previous`` (recipient id -> url, from the file written last time) gives a row
    without a url its earlier link back. Raises ConfigError for a file or base URL nothing
    can be made of, and for a file without a column the campaign's ``expose`` lists (the edge
    would refuse the file it is written to).
    """
    previous = previous or {}
    config_problems: list[Problem] = []
    url_problem = _base_url_problem(base_url)
    if url_problem is not None:
        config_problems.append(Problem(filename, 1, "base_url", url_problem))
    bom = text.startswith("\ufeff")
    if bom:
        text = text[1:]
    first_end = re.search(r"\r\n|\r|\n", text)
    first_line = text[: first_end.start()] if first_end else text
    newline = "\r\n" if first_end is not None and first_end.group() == "\r\n" else "\n"
    delimiter = _delimiter(first_line)

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(_records(reader))
    except csv.Error as exc:
        raise _csv_problem(filename, reader.line_num + 1, exc) from None
    if not records:
        config_problems.append(
            Problem(
                filename, 1, "id", "the file is empty: it needs a header line with an id column"
            )
        )
        raise ConfigError(config_problems)
    header = records[0][1]
    columns, header_problems = _columns(header, filename, need_url=False)
    config_problems.extend(header_problems)
    if columns is None or config_problems:
        raise ConfigError(config_problems)
    _exposed_columns(columns, expose, filename)
    prefix = base_url.rstrip("/") + "/p/"
    names, id_index, url_index = columns.names, columns.id_index, columns.url_index
    width = len(header)

    data = [(line, row) for line, row in records[1:] if not _blank(row)]
    if len(data) > MAX_ROWS:
        line = data[MAX_ROWS][0]
        raise ConfigError([Problem(filename, line, "file", f"more than {MAX_ROWS} rows")])
    # Keys already printed are reserved first, so a new key never takes one of them.
    reserved: set[str] = {k for url in previous.values() if (k := _url_key(url)) is not None}
    if url_index is not None:
        for _, row in data:
            if len(row) == width and (found := _url_key(row[url_index])) is not None:
                reserved.add(found)

    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    used_keys: set[str] = set()
    issued = 0
    output: list[list[str]] = []

    def with_url(row: list[str], url: str) -> list[str]:
        if url_index is None:
            return [*row, url]
        out = list(row)
        out[url_index] = url
        return out

    for line, row in data:
        if len(row) != width:
            problems.append(
                Problem(filename, line, "row", f"expected {width} cells, found {len(row)}")
            )
            if len(row) < width:
                output.append(with_url(row + [""] * (width - len(row)), ""))
            else:
                # Too many cells: which one is which is unknown, so nothing is overwritten.
                output.append(row if url_index is not None else [*row, ""])
            continue
        row_problems: list[Problem] = []
        recipient_id = row[id_index].strip()
        id_message = _id_problem(recipient_id)
        if id_message is not None:
            row_problems.append(Problem(filename, line, names[id_index], id_message))
        elif recipient_id in seen_ids:
            message = f"duplicate id, first on line {seen_ids[recipient_id]}"
            row_problems.append(Problem(filename, line, names[id_index], message))
        else:
            seen_ids[recipient_id] = line
        for index, cell in enumerate(row):
            if index not in (id_index, url_index) and len(cell) > MAX_CELL_CHARS:
                message = f"{len(cell)} characters; at most {MAX_CELL_CHARS} are allowed"
                row_problems.append(Problem(filename, line, names[index], message))
        if row_problems:
            problems.extend(row_problems)
            output.append(with_url(row, ""))
            continue
        kept = _url_key(row[url_index]) if url_index is not None else None
        if kept is not None and kept not in used_keys:
            used_keys.add(kept)
            output.append(row)
            continue
        earlier = previous.get(recipient_id, "")
        kept = _url_key(earlier) if url_index is None or not row[url_index].strip() else None
        if kept is not None and kept not in used_keys:
            used_keys.add(kept)
            output.append(with_url(row, earlier))
            continue
        key = new_key()
        while key in reserved or key in used_keys:
            key = new_key()
        used_keys.add(key)
        issued += 1
        output.append(with_url(row, prefix + signer.issue(key)))

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header if url_index is not None else [*header, _URL_COLUMN])
    writer.writerows(output)
    return ("\ufeff" if bom else "") + buffer.getvalue(), problems, issued


def load_recipients(path: Path, expose: Sequence[str] = ()) -> dict[str, Recipient]:
    """The recipients of a file ``create_recipients`` wrote, by link key, with the columns in
    ``expose`` as their fields.

    Rows without a url (rejected when the links were made) are skipped. Raises ConfigError,
    naming file, line and column, for a file that cannot be read, no id or url column, no
    column for a name in ``expose``, a url without a well-formed key or a key two rows share.
    """
    filename = str(path)
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            return _load(handle, filename, expose)
    except OSError as exc:
        problem = Problem(filename, 1, "file", f"cannot read the file: {exc.strerror or exc}")
        raise ConfigError([problem]) from None


def _exposed_columns(
    columns: _Columns, expose: Sequence[str], filename: str
) -> list[tuple[str, int]]:
    """Each exposed column with its index; ConfigError naming those the file does not have."""
    index = {name: i for i, name in enumerate(columns.names) if name}
    missing = [name for name in expose if name not in index]
    if missing:
        have = ", ".join(name for name in columns.names if name)
        message = (
            f"the campaign's purl.expose lists this column, but the file has none (it has {have})"
        )
        raise ConfigError([Problem(filename, 1, name, message) for name in missing])
    return [(name, index[name]) for name in expose]


def _load(handle: Iterable[str], filename: str, expose: Sequence[str]) -> dict[str, Recipient]:
    lines = iter(handle)
    try:
        first = next(lines, "")
    except UnicodeDecodeError:
        raise ConfigError([Problem(filename, 1, "file", "the file is not UTF-8 text")]) from None
    reader = csv.reader(itertools.chain([first], lines), delimiter=_delimiter(first))
    records = _records(reader)
    problems: list[Problem] = []
    out: dict[str, Recipient] = {}
    first_line: dict[str, int] = {}
    columns: _Columns | None = None
    exposed: list[tuple[str, int]] = []
    width = 0
    count = 0
    try:
        for line, row in records:
            if columns is None:
                columns, header_problems = _columns(row, filename, need_url=True)
                if columns is None:
                    raise ConfigError(header_problems)
                exposed = _exposed_columns(columns, expose, filename)
                width = len(row)
                continue
            if _blank(row):
                continue
            count += 1
            if count > MAX_ROWS:
                problems.append(Problem(filename, line, "file", f"more than {MAX_ROWS} rows"))
                break
            if len(row) != width:
                continue  # rejected by create_recipients: it never got a link
            assert columns.url_index is not None
            url = row[columns.url_index].strip()
            if not url:
                continue
            url_field = columns.names[columns.url_index]
            key = _url_key(url)
            if key is None:
                message = f"'{url[:80]}' does not end in a link token with a well-formed key"
                problems.append(Problem(filename, line, url_field, message))
                continue
            if key in first_line:
                message = f"link key {key} is also used on line {first_line[key]}"
                problems.append(Problem(filename, line, url_field, message))
                continue
            first_line[key] = line
            recipient_id = row[columns.id_index].strip()
            if not recipient_id:
                problems.append(
                    Problem(filename, line, columns.names[columns.id_index], "empty id")
                )
                continue
            fields = {name: row[i].strip() for name, i in exposed if row[i].strip()}
            out[key] = Recipient(key, recipient_id, fields)
    except UnicodeDecodeError:
        problems.append(
            Problem(filename, reader.line_num + 1, "file", "the file is not UTF-8 text")
        )
    except csv.Error as exc:
        raise _csv_problem(filename, reader.line_num + 1, exc) from None
    if columns is None and not problems:
        problems.append(Problem(filename, 1, "id", "the file is empty: no header line"))
    if problems:
        raise ConfigError(problems)
    return out


def links_by_id(text: str) -> dict[str, str]:
    """Recipient id -> url of a file ``create_recipients`` wrote (empty for one it did not)."""
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    try:
        header = [normalize_header(cell) for cell in next(rows)]
        id_index = next(i for i, name in enumerate(header) if name in _ID_COLUMNS)
        url_index = header.index(_URL_COLUMN)
        return {
            row[id_index].strip(): row[url_index].strip()
            for row in rows
            if len(row) == len(header) and row[url_index].strip()
        }
    except (StopIteration, ValueError, csv.Error):
        return {}
