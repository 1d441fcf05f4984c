"""How many recent visitors an audience matches, and the values the builder suggests.

Both come from a sample of the profiles the store keeps (`ProfileStore.profiles()`): at most
`SAMPLE_SIZE` visitors seen in the last `RECENT_DAYS` days, read within `SAMPLE_SECONDS` and
kept for `KEEP_SECONDS`, so the estimate costs the store one read a minute at most. A stored
profile holds what a visitor did (visits, the arrival, interests, cart, events, segments), not
what each request tells (country, device, time, page, consent): a test of those is *unknown*
for a stored profile, and the estimate says how many match for certain and how many more may,
depending on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import TZPATH

from opmaat.conditions import compile_condition, condition_paths
from opmaat.consent import Consent
from opmaat.profile import build_profile
from opmaat.profile_reference import ATTRIBUTES
from opmaat.runtime import Runtime
from opmaat.store import ProfileStore
from opmaat_edge.cockpit.audience_tree import Cond, Entry, Group, Negation, entry_item

SAMPLE_SIZE = 1000
SAMPLE_SECONDS = 1.0
KEEP_SECONDS = 60.0
RECENT_DAYS = 30
MAX_SUGGESTIONS = 200
# Sections of the profile that come from each request, and are not kept.
REQUEST_ONLY = ("geo", "device", "time", "page", "consent")
REQUEST_WORDS = {
    "geo": "where they are",
    "device": "their device",
    "time": "the time of day",
    "page": "the page",
    "consent": "their consent",
}


@dataclass(frozen=True)
class Sample:
    profiles: list[dict[str, Any]]
    read: int  # stored profiles looked at
    taken: float
    complete: bool  # every stored profile was looked at


@dataclass(frozen=True)
class Estimate:
    """Of ``total`` sampled visitors, ``matched`` match for certain and ``maybe`` more may,
    depending on ``depends`` (what requests tell)."""

    matched: int
    maybe: int
    total: int
    depends: tuple[str, ...]
    complete: bool

    def words(self) -> str:
        if not self.total:
            return (
                "No visitors seen in the last 30 days are stored yet, so there is nothing to "
                "estimate from."
            )
        share = 100 * self.matched / self.total
        said = f"{self.matched} of {self.total} "
        said += (
            "stored visitors seen in the last 30 days"
            if self.complete
            else "visitors in a sample of the stored ones seen in the last 30 days"
        )
        said += f" match ({share:.0f}%)."
        if self.maybe:
            what = " and ".join(REQUEST_WORDS[d] for d in self.depends)
            said += (
                f" {self.maybe} more may, depending on {what}, which each request tells and "
                "no profile keeps."
            )
        return said


def _context(record: Mapping[str, Any]) -> dict[str, Any]:
    session = record.get("session")
    session = session if isinstance(session, dict) else {}
    referrer, utm = session.get("referrer"), session.get("utm")
    return {
        "geo": {},
        "device": {},
        "referrer": referrer if isinstance(referrer, dict) else {"medium": "direct"},
        "utm": utm if isinstance(utm, dict) else {},
        "time": {},
        "page": {},
    }


def _build(records: list[tuple[str, dict[str, Any]]], runtime: Runtime) -> list[dict[str, Any]]:
    now = time.time()
    out = []
    for visitor, record in records:
        try:
            profile = build_profile(
                _context(record),
                record,
                visitor_id=visitor,
                consent=Consent("full"),
                now=now,
                sources=runtime.sources,
            )
        except Exception:  # a record from an older edge: left out of the sample
            continue
        out.append(profile)
    return out


class Sampler:
    """Keeps the latest sample of one store for `KEEP_SECONDS`."""

    def __init__(self) -> None:
        self._sample: Sample | None = None
        self._lock = asyncio.Lock()

    async def sample(self, store: ProfileStore, runtime: Runtime) -> Sample:
        async with self._lock:
            kept = self._sample
            if kept is not None and time.monotonic() - kept.taken < KEEP_SECONDS:
                return kept
            records, read, complete = await _read(store)
            profiles = await asyncio.to_thread(_build, records, runtime)
            self._sample = Sample(profiles, read, time.monotonic(), complete)
            return self._sample


async def _read(store: ProfileStore) -> tuple[list[tuple[str, dict[str, Any]]], int, bool]:
    """Recent visitors' records (bounded in number and time), how many were looked at, and
    whether that was every stored profile."""
    records: list[tuple[str, dict[str, Any]]] = []
    read = 0
    since = time.time() - RECENT_DAYS * 86400
    deadline = time.monotonic() + SAMPLE_SECONDS
    try:
        listed = store.profiles()
    except Exception:  # a store that cannot list its profiles: nothing to estimate from
        return records, read, False
    try:
        async for visitor, record, _ in listed:
            read += 1
            seen = record.get("last_seen")
            if isinstance(seen, int | float) and seen >= since:
                records.append((visitor, record))
            if len(records) >= SAMPLE_SIZE or time.monotonic() > deadline:
                return records, read, False
    except Exception:  # the store went away midway: what was read is the sample
        return records, read, False
    finally:
        close = getattr(listed, "aclose", None)
        if close is not None:
            await close()
    return records, read, True


# --- the estimate ----------------------------------------------------------------------------

Three = Callable[[Mapping[str, Any]], bool | None]


def _paths(key: str, value: Any) -> list[str]:
    return [path for path, _, _ in condition_paths({key: value})] + (
        [key] if not key.startswith("$") else []
    )


def _three(cond: Cond, groups: Mapping[str, Any], depends: set[str]) -> Three:
    return _all([_entry_three(entry, groups, depends) for entry in cond.entries])


def _deciding(parts: list[Three], decisive: bool) -> Three:
    # Three-valued any (decisive True) / all (decisive False): one decisive answer settles it;
    # otherwise an unknown part leaves it unknown.
    def judged(profile: Mapping[str, Any]) -> bool | None:
        unknown = False
        for part in parts:
            said = part(profile)
            if said is decisive:
                return decisive
            unknown = unknown or said is None
        return None if unknown else not decisive

    return judged


def _any(parts: list[Three]) -> Three:
    return _deciding(parts, True)


def _not(part: Three) -> Three:
    def negated(profile: Mapping[str, Any]) -> bool | None:
        said = part(profile)
        return None if said is None else not said

    return negated


def _entry_three(entry: Entry, groups: Mapping[str, Any], depends: set[str]) -> Three:
    if isinstance(entry, Group):
        parts = [_three(item, groups, depends) for item in entry.items]
        if entry.op == "$and":
            return _all(parts)
        return _not(_any(parts)) if entry.op == "$nor" else _any(parts)
    if isinstance(entry, Negation):
        return _not(_three(entry.item, groups, depends))
    key, value = entry_item(entry)
    heads = {path.split(".")[0] for path in _paths(key, value)}
    unknown = heads & set(REQUEST_ONLY)
    if unknown:
        depends.update(unknown)
        return lambda profile: None
    matches = compile_condition({key: value}, groups)
    return lambda profile: matches(profile)


def _all(parts: list[Three]) -> Three:
    return _deciding(parts, False)


def estimate(cond: Cond, sample: Sample, groups: Mapping[str, Any]) -> Estimate:
    depends: set[str] = set()
    judge = _three(cond, groups, depends)
    said = Counter(judge(profile) for profile in sample.profiles)
    ordered = tuple(d for d in REQUEST_ONLY if d in depends)
    return Estimate(said[True], said[None], len(sample.profiles), ordered, sample.complete)


# --- suggestions -----------------------------------------------------------------------------


@dataclass
class Suggestions:
    """Values the builder offers, by list: ``countries`` (code -> name), the others lists."""

    lists: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _top(counter: Counter[str]) -> list[tuple[str, str]]:
    return [(value, "") for value, _ in counter.most_common(MAX_SUGGESTIONS)]


@cache
def countries() -> tuple[tuple[str, str], ...]:
    """ISO 3166 codes and names from the time zone database (none when it is not there)."""
    places = [Path(p) / "iso3166.tab" for p in TZPATH]
    with contextlib.suppress(ImportError):
        from importlib.resources import files

        places.append(Path(str(files("tzdata").joinpath("zoneinfo/iso3166.tab"))))
    for place in places:
        try:
            lines = place.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        found = (line.split("\t", 1) for line in lines if line and not line.startswith("#"))
        return tuple(sorted((code, name) for code, name in (p for p in found if len(p) == 2)))
    return ()


def suggestions(sample: Sample, runtime: Runtime) -> Suggestions:
    categories: Counter[str] = Counter()
    products: Counter[str] = Counter()
    names: Counter[str] = Counter()
    segments: Counter[str] = Counter()
    utm: dict[str, Counter[str]] = {k: Counter() for k in ("source", "medium", "campaign")}
    for profile in sample.profiles:
        interests = profile.get("interests") or {}
        categories.update(k for k in interests if k != "top")
        for item in [*profile["viewed_products"], *profile["cart"].get("items", [])]:
            if isinstance(item.get("id"), str):
                products[item["id"]] += 1
            if isinstance(item.get("name"), str):
                names[item["name"]] += 1
            if isinstance(item.get("category"), str):
                categories[item["category"]] += 1
        segments.update(s for s in profile["segments"] if isinstance(s, str))
        for key, counter in utm.items():
            value = profile["utm"].get(key)
            if isinstance(value, str):
                counter[value] += 1
    campaigns = runtime.campaigns
    fields: Counter[str] = Counter()
    for entry in list(campaigns.customers.values())[:MAX_SUGGESTIONS]:
        found = entry.get("segments")
        if isinstance(found, list):
            segments.update(s for s in found if isinstance(s, str))
        more = entry.get("fields")
        if isinstance(more, Mapping):
            fields.update(k for k in more if isinstance(k, str))
    columns = sorted({c for x in campaigns.campaigns if x.purl for c in x.purl.expose})
    lists = {
        "countries": list(countries()),
        "categories": _top(categories),
        "products": _top(products),
        "product-names": _top(names),
        "segments": _top(segments),
        "events": [(e, "") for e in sorted(runtime.sources.known_events)],
        "campaigns": [(c.id, c.name) for c in campaigns.campaigns],
        "fields": _top(fields),
        "columns": [(c, "") for c in columns],
        "groups": [(g, "") for g in sorted(campaigns.saved_groups)],
        "cities": [(p.name, "") for p in campaigns.site.locations],
        "utm-source": _top(utm["source"]),
        "utm-medium": _top(utm["medium"]),
        "utm-campaign": _top(utm["campaign"]),
    }
    return Suggestions(lists)


# Which list a value or a name field offers, by attribute (as described) and operator.
VALUE_LISTS = {
    "geo.country": "countries",
    "geo.city": "cities",
    "geo.nearest.name": "cities",
    "segments": "segments",
    "interests.top": "categories",
    "page.<key>": "categories",
    "utm.source": "utm-source",
    "utm.medium": "utm-medium",
    "utm.campaign": "utm-campaign",
    "purl.campaign": "campaigns",
}
OP_LISTS = {
    "$elemMatch:id": "products",
    "$elemMatch:category": "categories",
    "$elemMatch:name": "product-names",
    "$inGroup": "groups",
    "$notInGroup": "groups",
}
NAME_LISTS = {
    "category": "categories",
    "name": "events",
    "campaign": "campaigns",
    "field": "fields",
    "column": "columns",
}

ENUM_IDS = {a.path: f"enum-{n}" for n, a in enumerate(a for a in ATTRIBUTES if a.values)}


def value_list(attr: str, op: str) -> str:
    """The id of the datalist a value field offers (empty: none)."""
    if op in OP_LISTS:
        return f"l-{OP_LISTS[op]}"
    if attr in VALUE_LISTS:
        return f"l-{VALUE_LISTS[attr]}"
    return ENUM_IDS.get(attr, "")
