"""What the strategies read about one visitor, taken from the profile (and the stored record)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opmaat.recommend.events import ids_of

MAX_VIEWED = 20


@dataclass(frozen=True, slots=True)
class Visitor:
    """``viewed``: newest first. ``interests``: (category, score), highest first, without the
    categories the visitor wants less of (``less``). ``session``: what makes the serendipity
    draw the same on every page of one session."""

    viewed: tuple[str, ...] = ()
    bought: frozenset[str] = frozenset()
    cart: frozenset[str] = frozenset()
    interests: tuple[tuple[str, float], ...] = ()
    less: frozenset[str] = frozenset()
    favourites: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    city: str | None = None
    country: str | None = None
    session: str = ""


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def visitor_of(profile: Mapping[str, Any], record: Mapping[str, Any] | None = None) -> Visitor:
    """The visitor as the profile shows them (interests, ``prefs``, cart, segments, geo,
    session); with the stored record, also every product they viewed and what they bought
    (the profile lists neither in full)."""
    prefs = _section(profile, "prefs")
    choices = _section(prefs, "interests")
    less = frozenset(k for k, v in choices.items() if v == "less")
    interests = [
        (k, float(v))
        for k, v in _section(profile, "interests").items()
        if k != "top" and k not in less and isinstance(v, int | float) and not isinstance(v, bool)
    ]
    interests.sort(key=lambda kv: -kv[1])
    if record is not None:
        stored = record.get("viewed")
        viewed = ids_of(list(reversed(stored)) if isinstance(stored, list) else None)
        bought = frozenset(ids_of(record.get("bought")))
    else:
        viewed = ids_of(profile.get("viewed_products"))
        bought = frozenset()
    geo = _section(profile, "geo")
    session = _text(_section(profile, "session").get("id"))
    return Visitor(
        viewed=tuple(viewed[:MAX_VIEWED]),
        bought=bought,
        cart=frozenset(ids_of(_section(profile, "cart").get("items"))),
        interests=tuple(interests),
        less=less,
        favourites=tuple(ids_of(prefs.get("favourites"))),
        segments=tuple(ids_of(profile.get("segments"))),
        city=_text(geo.get("city")),
        country=_text(geo.get("country")),
        session=session or _text(_section(profile, "visitor").get("id")) or "",
    )
