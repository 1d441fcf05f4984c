"""Personalized filters and offers: the ``offers`` of a profile are the site's offers (the
campaign file's ``preferences.offers``) filtered by what the visitor told us and ordered by it
before what we inferred, each with the reason it is there ("because you chose size 42").

Their favourites come first (the newest first), whatever else they chose. Of the rest, left
out: offers out of stock, of a category the visitor wants less of, rated 1 or 2 by them, and
those a set preference field rules out (a choice column that does not list the visitor's value,
a number column above theirs; an empty cell means the field does not apply). Then, in order:
what they rated 4 or 5, and the rest by categories they asked to see more of, their inferred
interest in the category, and the file's order.

This runs for every profile of a site with offers, so it walks an index made at load
(``index_offers``) and stops at ``MAX_OFFERS_SHOWN``: it looks at few more offers than it shows.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opmaat.preference_fields import Offer, OfferIndex, PreferenceField, Preferences

MAX_OFFERS_SHOWN = 12
LOW_RATING = 2
HIGH_RATING = 4
FAVOURITE = "because you saved it as a favourite"


def index_offers(fields: Mapping[str, PreferenceField], offers: Iterable[Offer]) -> OfferIndex:
    """The index ``pick_offers`` walks (see OfferIndex)."""
    offers = tuple(offers)
    kept: dict[str, dict[str, frozenset[str]]] = {}
    kept_by_category = {}
    for name, pref in fields.items():
        if pref.type != "choice" or pref.column is None:
            continue
        column = pref.column
        kept[name] = {}
        for value in pref.values:
            keeps = [o for o in offers if column not in o.choices or value in o.choices[column]]
            kept[name][value] = frozenset(o.id for o in keeps)
            kept_by_category[(name, value)] = _by_category(keeps)
    in_stock = [offer for offer in offers if offer.in_stock]
    return OfferIndex(
        by_id={o.id: o for o in offers},
        by_category=_by_category(offers),
        kept=kept,
        kept_by_category=kept_by_category,
        plain=tuple(_item(offer, None) for offer in in_stock[:MAX_OFFERS_SHOWN]),
    )


def _by_category(offers: Iterable[Offer]) -> dict[str | None, tuple[Offer, ...]]:
    out: dict[str | None, list[Offer]] = {}
    for offer in offers:
        if offer.in_stock:
            out.setdefault(offer.category, []).append(offer)
    return {category: tuple(kept) for category, kept in out.items()}


def pick_offers(
    preferences: Preferences, prefs: Mapping[str, Any], interests: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The profile's ``offers``: at most ``MAX_OFFERS_SHOWN`` items with ``id``, ``name``,
    ``url``, ``price``, ``category``, ``image`` and ``reason`` (None when nothing about the
    visitor put it there). ``prefs`` and ``interests`` are the profile's sections."""
    index = preferences.index
    if len(prefs) == 1 and not prefs["interests"] and interests.keys() <= {"top"}:
        return list(index.plain)  # nothing known: the file's order (its items are shared)
    picker = _Picker(preferences, prefs)
    taken: list[dict[str, Any]] = []
    for offer in (index.by_id.get(p) for p in prefs.get("favourites", ())):
        if len(taken) < MAX_OFFERS_SHOWN and offer is not None and picker.take(offer):
            taken.append(_item(offer, FAVOURITE))
    ratings: Mapping[str, int] = prefs.get("ratings", {})
    rated = sorted(
        (-stars, offer.position, offer)
        for offer, stars in ((index.by_id.get(p), n) for p, n in ratings.items())
        if offer is not None and stars >= HIGH_RATING
    )
    for stars, _, offer in rated:
        if len(taken) < MAX_OFFERS_SHOWN and picker.fits(offer) is not None:
            taken.append(_item(offer, f"because you gave it {-stars} stars"))
    walked = picker.walked or index.by_category
    for offer, asked, inferred in _by_interest(walked, prefs.get("interests", {}), interests):
        if len(taken) >= MAX_OFFERS_SHOWN:
            break
        chose = picker.fits(offer)
        if chose is not None:
            said = chose or _interest_reason(offer.category, asked, inferred)
            taken.append(_item(offer, said))
    return taken


class _Picker:
    """What one visitor's choices let through: each offer once, not rated low, not ruled out
    by a chosen field."""

    def __init__(self, preferences: Preferences, prefs: Mapping[str, Any]) -> None:
        self.seen: set[str] = set()
        self.low = {p for p, n in prefs.get("ratings", {}).items() if n <= LOW_RATING}
        self.less = {c for c, v in prefs.get("interests", {}).items() if v == "less"}
        self.allowed: frozenset[str] | None = None
        self.choices: list[tuple[PreferenceField, str]] = []
        self.numbers: list[tuple[PreferenceField, float]] = []
        # The offers to walk: those the first chosen choice field keeps, by category.
        self.walked: Mapping[str | None, tuple[Offer, ...]] | None = None
        index = preferences.index
        for name, pref in preferences.fields.items():
            value = prefs.get(name)
            if pref.column is None or value is None:
                continue
            if pref.type == "number":
                self.numbers.append((pref, value))
                continue
            kept = index.kept[name].get(value, frozenset())
            self.allowed = kept if self.allowed is None else self.allowed & kept
            self.choices.append((pref, value))
            if self.walked is None:
                self.walked = index.kept_by_category.get((name, value), {})

    def take(self, offer: Offer) -> bool:
        """Whether a favourite is taken: in stock, and not yet (no filter applies to it)."""
        if offer.id in self.seen or not offer.in_stock:
            return False
        self.seen.add(offer.id)
        return True

    def fits(self, offer: Offer) -> str | None:
        """None when the offer is left out (or taken already); else it is taken, and this is
        the reason of the chosen field that matched it ("" when none applies to it)."""
        if offer.id in self.seen or not offer.in_stock:
            return None
        if offer.id in self.low or offer.category in self.less:
            return None
        if self.allowed is not None and offer.id not in self.allowed:
            return None
        said = ""
        for pref, number in self.numbers:
            have = offer.numbers.get(pref.column or "")
            if have is not None and have > number:
                return None
            if have is not None and not said:
                said = f"because you set your {pref.phrase} to {number:g}"
        for pref, value in self.choices:
            if pref.column in offer.choices:
                said = f"because you chose {pref.phrase} {value}"
                break
        self.seen.add(offer.id)
        return said


def _by_interest(
    by_category: Mapping[str | None, tuple[Offer, ...]],
    choices: Mapping[str, str],
    interests: Mapping[str, Any],
) -> Iterator[tuple[Offer, bool, float]]:
    # Categories asked for first, then by inferred score; offers of categories that rank the
    # same come in file order. Each with whether its category was asked for, and its score.
    def rank(category: str | None) -> tuple[bool, float]:
        score = interests.get(category) if category else None
        inferred = float(score) if isinstance(score, int | float) else 0.0
        return category is None or choices.get(category) != "more", -inferred

    ranked = sorted(by_category, key=rank)
    for (not_asked, negative), group in itertools.groupby(ranked, key=rank):
        lists = [by_category[category] for category in group]
        merged = lists[0] if len(lists) == 1 else heapq.merge(*lists, key=_position)
        for offer in merged:
            yield offer, not not_asked, -negative


def _position(offer: Offer) -> int:
    return offer.position


def _interest_reason(category: str | None, asked: bool, inferred: float) -> str | None:
    shown = (category or "").replace("-", " ").replace("_", " ")
    if not shown:
        return None
    if asked:
        return f"because you asked to see more {shown}"
    return f"because you showed interest in {shown}" if inferred > 0 else None


def _item(offer: Offer, reason: str | None) -> dict[str, Any]:
    return {
        "id": offer.id,
        "name": offer.name,
        "url": offer.url,
        "price": offer.price,
        "category": offer.category,
        "image": offer.image,
        "reason": reason or None,
    }
