"""Finding and filling ``data-opmaat-slot`` elements in HTML as it passes through, byte for byte.

The scanner is a small HTML tokenizer that only looks at what matters here: comments and
raw-text elements (``script``, ``style``, ...) are skipped whole, so markup inside them never
counts; a slot is a real start tag carrying the ``data-opmaat-slot`` attribute, up to its
matching end tag. Everything else is copied untouched, so a page that has no slots comes out
exactly as it went in. It works on a whole body or on a stream of chunks: what cannot be decided
yet (a tag cut in two, a slot whose end tag has not arrived) is held back until the next chunk.

Slots on void elements (``img``) and on elements whose end tag HTML lets authors leave out
(``p``, ``li``, ``td`` ...) are not filled here: their extent is not certain without a full
tree builder. The snippet still fills them in the browser.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

SLOT_ATTR = "data-opmaat-slot"
FILLED_ATTR = "data-opmaat-filled"
SERVER = "server"
_SLOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
RAW_TEXT = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
# Elements that cannot hold content, and those whose end tag HTML lets authors leave out.
_VOID_NAMES = "area base br col embed hr img input link meta param source track wbr"
_OPTIONAL_END_NAMES = (
    "p li dt dd option optgroup tr td th thead tbody tfoot colgroup caption rb rt rtc rp"
)
VOID = frozenset(_VOID_NAMES.split())
OPTIONAL_END = frozenset(_OPTIONAL_END_NAMES.split())
MAX_JSON_LD = 64 * 1024
MAX_HOLD = 256 * 1024

_TAG_NEEDLE = re.compile(r"<(?:!--|(?:meta|" + "|".join(RAW_TEXT) + r")(?=[\s/>]))")
_START_TAG = re.compile(
    r"""<([a-zA-Z][a-zA-Z0-9:-]*)"""
    r"""((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?|\s*/(?!>))*)\s*/?>"""
)
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_META_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


@lru_cache(maxsize=16)
def _raw_end(name: str) -> re.Pattern[str]:
    return re.compile(r"</" + name + r"(?=[\s/>])", re.IGNORECASE)


@lru_cache(maxsize=64)
def _nesting(name: str) -> re.Pattern[str]:
    # Inside a slot: comments and raw text are skipped, same-name tags counted.
    return re.compile(
        r"<!--|<(?P<raw>"
        + "|".join(RAW_TEXT)
        + r")(?=[\s/>])|<(?P<close>/?)"
        + re.escape(name)
        + r"(?=[\s/>])",
        re.IGNORECASE,
    )


def attributes(tag_body: str) -> dict[str, str]:
    """Attribute names (lower case) and unescaped values of a start tag's attribute text;
    the first of a repeated name wins, as in browsers."""
    out: dict[str, str] = {}
    for m in _ATTR.finditer(tag_body):
        name = m.group(1).lower()
        if name not in out:
            value = m.group(2) if m.group(2) is not None else m.group(3)
            if value is None:
                value = m.group(4) or ""
            out[name] = html.unescape(value)
    return out


class _Wait:
    """Not decidable yet: the slot's tag or end tag is still to come."""


WAIT = _Wait()


class _Hits:
    # The next comment, raw-text or meta tag (one regex over the lower-cased page) and the next
    # slot attribute (str.find), each kept until passed: far faster than one regex for both,
    # which would stop at every letter of the page.

    def __init__(self, buf: str) -> None:
        self.low = buf.lower()
        self.tag_at = -2
        self.tag = ""
        self.slot_at = -2

    def next(self, at: int) -> tuple[int, str] | None:
        if self.tag_at != -1 and self.tag_at < at:
            m = _TAG_NEEDLE.search(self.low, at)
            self.tag_at, self.tag = (m.start(), m.group(0)) if m else (-1, "")
        if self.slot_at != -1 and self.slot_at < at:
            self.slot_at = self.low.find(SLOT_ATTR, at)
        if self.tag_at >= 0 and (self.slot_at < 0 or self.tag_at < self.slot_at):
            return self.tag_at, self.tag
        return (self.slot_at, SLOT_ATTR) if self.slot_at >= 0 else None


_LOOK_BACK = 4


def _enclosing_tag_end(buf: str, floor: int, p: int) -> int | None:
    """Where the start tag that ``p`` lies inside ends (``p`` is in one of its attribute
    values), or None. Looks back over a few ``<``; markup nested deeper than that in attribute
    values is not recognised (and a slot there is then left for the snippet)."""
    lt = p
    for _ in range(_LOOK_BACK):
        lt = buf.rfind("<", floor, lt)
        if lt < 0:
            return None
        tag = _START_TAG.match(buf, lt)
        if tag is not None and tag.end() > p:
            return tag.end()
    return None


def _unfinished_tag(buf: str, lt: int) -> bool:
    # A "<" that may still become a whole tag once more input comes.
    following = buf[lt + 1 : lt + 2]
    if following.isalpha():
        return _START_TAG.match(buf, lt) is None
    return following in ("", "/", "!") and buf.find(">", lt) < 0


@dataclass(frozen=True, slots=True)
class SlotElement:
    """One slot found in the markup: its name and the three pieces of source it spans."""

    name: str
    tag: str
    start_tag: str
    inner: str
    end_tag: str

    def filled(self, content: str | None, marks: Mapping[str, str]) -> str:
        """The element with ``content`` inside (None keeps what is there) and ``marks`` added
        as attributes to its start tag."""
        extra = "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in marks.items())
        start = self.start_tag
        cut = len(start) - (2 if start.endswith("/>") else 1)
        start = start[:cut].rstrip() + extra + start[cut:]
        return start + (self.inner if content is None else content) + self.end_tag


@dataclass
class Scanner:
    """Splits HTML into text and slot elements as it arrives; also collects page metadata
    (``<meta name="opmaat:KEY">`` and schema.org Product JSON-LD, as the snippet reads them).

    ``feed`` returns the pieces that are complete: strings to copy and SlotElements to fill.
    ``final=True`` on the last call releases everything still held back.
    """

    meta: dict[str, Any] = field(default_factory=dict)
    _buf: str = ""

    def feed(self, chunk: str, final: bool = False) -> list[str | SlotElement]:
        buf = self._buf + chunk
        out: list[str | SlotElement] = []
        pos = 0  # everything before pos is in out
        at = 0  # where to look for the next hit
        hits = _Hits(buf)
        while True:
            found_hit = hits.next(at)
            if found_hit is None:
                break
            hit, needle = found_hit
            if needle != SLOT_ATTR:
                inside = _enclosing_tag_end(buf, pos, hit)
                if inside is not None:
                    at = inside  # markup inside an attribute value is text, not a tag
                    continue
            if needle == "<!--":
                end = buf.find("-->", hit + 4)
                if end < 0:
                    return self._hold(buf, out, pos, hit, final)
                at = end + 3
            elif needle == "<meta":
                tag = _START_TAG.match(buf, hit)
                if tag is None and buf.find(">", hit) < 0:
                    return self._hold(buf, out, pos, hit, final)
                if tag is not None:
                    self._read_meta(attributes(tag.group(2)))
                at = hit + 5
            elif needle != SLOT_ATTR:  # a raw-text element
                skipped = self._skip_raw(buf, hit, needle[1:])
                if skipped is None:
                    return self._hold(buf, out, pos, hit, final)
                at = skipped
            else:
                found = self._slot(buf, pos, hit)
                if found is None:
                    at = hit + len(SLOT_ATTR)
                    continue
                if isinstance(found, _Wait):
                    if final:  # never closed: not a slot we can fill
                        at = hit + len(SLOT_ATTR)
                        continue
                    lt = buf.rfind("<", pos, hit)
                    return self._hold(buf, out, pos, lt, final)
                start, stop, element = found
                if start > pos:
                    out.append(buf[pos:start])
                out.append(element)
                pos = at = stop
        # No hit left: copy up to a tag that is still open, which may yet hold a slot.
        lt = buf.rfind("<", pos)
        if lt >= 0 and _unfinished_tag(buf, lt):
            return self._hold(buf, out, pos, lt, final)
        return self._hold(buf, out, pos, len(buf), final)

    def release(self) -> str:
        """Everything held back so far, as it came; the scanner is empty afterwards."""
        held, self._buf = self._buf, ""
        return held

    def _hold(
        self, buf: str, out: list[str | SlotElement], pos: int, keep_from: int, final: bool
    ) -> list[str | SlotElement]:
        if final or len(buf) - keep_from > MAX_HOLD:
            keep_from = len(buf)  # the end, or too much held back: copy it as it is
        if keep_from > pos:
            out.append(buf[pos:keep_from])
        self._buf = buf[keep_from:]
        return out

    def _skip_raw(self, buf: str, start: int, name: str) -> int | None:
        tag = _START_TAG.match(buf, start)
        if tag is None:
            gt = buf.find(">", start)
            return None if gt < 0 else gt + 1
        close = _raw_end(name).search(buf, tag.end())
        if close is None:
            return None
        gt = buf.find(">", close.end())
        if gt < 0:
            return None
        if name == "script":
            attrs = attributes(tag.group(2))
            if attrs.get("type", "").strip().lower() == "application/ld+json":
                self._read_json_ld(buf[tag.end() : close.start()])
        return gt + 1

    def _slot(self, buf: str, floor: int, hit: int) -> tuple[int, int, SlotElement] | _Wait | None:
        lt = buf.rfind("<", floor, hit)
        if lt < 0 or _enclosing_tag_end(buf, floor, lt) is not None:
            return None
        tag = _START_TAG.match(buf, lt)
        if tag is None:
            return WAIT if buf.find(">", hit) < 0 else None
        if tag.end() <= hit:
            return None
        name = tag.group(1).lower()
        attrs = attributes(tag.group(2))
        slot = attrs.get(SLOT_ATTR)
        if (
            slot is None
            or not _SLOT_NAME.fullmatch(slot)
            or FILLED_ATTR in attrs
            or name in VOID
            or name in OPTIONAL_END
            or tag.group(0).endswith("/>")
        ):
            return None
        end = self._matching_end(buf, name, tag.end())
        if end is None:
            return WAIT
        close_start, close_end = end
        element = SlotElement(
            slot, name, tag.group(0), buf[tag.end() : close_start], buf[close_start:close_end]
        )
        return lt, close_end, element

    def _matching_end(self, buf: str, name: str, start: int) -> tuple[int, int] | None:
        depth, at = 1, start
        pattern = _nesting(name)
        while True:
            m = pattern.search(buf, at)
            if m is None:
                return None
            inside = _enclosing_tag_end(buf, start, m.start())
            if inside is not None:
                at = inside  # in an attribute value of a tag within the slot
                continue
            if m.group(0) == "<!--":
                end = buf.find("-->", m.end())
                if end < 0:
                    return None
                at = end + 3
            elif m.group("raw"):
                skipped = self._skip_raw(buf, m.start(), m.group("raw").lower())
                if skipped is None:
                    return None
                at = skipped
            else:
                gt = buf.find(">", m.end())
                if gt < 0:
                    return None
                depth += -1 if m.group("close") else 1
                if depth == 0:
                    return m.start(), gt + 1
                at = gt + 1

    def _read_meta(self, attrs: Mapping[str, str]) -> None:
        key = attrs.get("name", "")
        if key.startswith("opmaat:") and _META_KEY.fullmatch(key[7:]) and "content" in attrs:
            self.meta[key[7:]] = attrs["content"][:200]

    def _read_json_ld(self, text: str) -> None:
        if len(text) > MAX_JSON_LD:
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return
        if not isinstance(data, dict) or data.get("@type") != "Product":
            return
        product = data.get("sku") or data.get("productID") or data.get("name")
        if isinstance(product, str | int):
            self.meta["product"] = str(product)[:200]
        if isinstance(data.get("name"), str):
            self.meta["product_name"] = data["name"][:200]
        if isinstance(data.get("category"), str):
            self.meta.setdefault("category", data["category"][:200])
        offers = data.get("offers")
        price = offers.get("price") if isinstance(offers, dict) else None
        try:
            value = float(price) if price is not None and not isinstance(price, bool) else None
        except (TypeError, ValueError, OverflowError):
            value = None
        if value is not None and math.isfinite(value):
            self.meta["price"] = value
