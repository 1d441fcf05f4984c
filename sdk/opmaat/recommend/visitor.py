"""What the strategies read about one visitor, taken from the profile (and the stored record)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opmaat.explicit import ratings
from opmaat.recommend.events import ids_of

MAX_VIEWED = 20
LIKED = 4  # a rating from which the product seeds the visitor's personal list
DISLIKED = 2  # a rating up to which the product is never recommended to them


@dataclass(frozen=True, slots=True)
class Visitor:
    """``viewed``: newest first. ``interests``: (category, score), highest first, without the
    categories the visitor wants less of (``less``). ``liked``: products they rated 4 or 5,
    the best first; ``disliked``: those they rated 1 or 2 (never recommended to them).
    ``session``: what makes the serendipity draw the same on every page of one session."""

    viewed: tuple[str, ...] = ()
    bought: frozenset[str] = frozenset()
    cart: frozenset[str] = frozenset()
    interests: tuple[tuple[str, float], ...] = ()
    less: frozenset[str] = frozenset()
    favourites: tuple[str, ...] = ()
    liked: tuple[str, ...] = ()
    disliked: frozenset[str] = frozenset()
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
    rated = ratings(prefs)
    # The best rated first; of equal ratings the newest (ratings are kept oldest first).
    liked = sorted(
        (p for p, stars in reversed(rated.items()) if stars >= LIKED), key=lambda p: -rated[p]
    )
    geo = _section(profile, "geo")
    session = _text(_section(profile, "session").get("id"))
    return Visitor(
        viewed=tuple(viewed[:MAX_VIEWED]),
        bought=bought,
        cart=frozenset(ids_of(_section(profile, "cart").get("items"))),
        interests=tuple(interests),
        less=less,
        favourites=tuple(ids_of(prefs.get("favourites"))),
        liked=tuple(liked),
        disliked=frozenset(p for p, stars in rated.items() if stars <= DISLIKED),
        segments=tuple(ids_of(profile.get("segments"))),
        city=_text(geo.get("city")),
        country=_text(geo.get("country")),
        session=session or _text(_section(profile, "visitor").get("id")) or "",
    )
