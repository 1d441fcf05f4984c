"""Favourites and ratings: products the visitor saved or rated, kept as ``prefs.favourites``
(product ids, the newest first) and ``prefs.ratings`` (product id -> 1 to 5) in their record.

They come as named events, from the snippet (``opmaat("favourite", id)``,
``opmaat("unfavourite", id)``, ``opmaat("rate", id, 4)``), the middleware's ``track`` and the
server API, so they pass the events' checks, consent and flood limits. The privacy page and
``PATCH /v1/me`` remove them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Container, Iterable, Mapping
from typing import Any

from opmaat.cart import MAX_ID_CHARS, ProductError, clean_product
from opmaat.store import Record

EXPLICIT_EVENTS = ("favourite", "unfavourite", "rate")
MAX_FAVOURITES = 50
MAX_RATINGS = 100
# The ids of both lists together, in characters: long ids must not fill the record (16 KB).
MAX_EXPLICIT_CHARS = 4000
RATINGS = range(1, 6)


class Catalogue:
    """The products a site knows, for the favourites and ratings it takes: its recommendation
    feed and its offers (``in`` asks each)."""

    __slots__ = ("sources",)

    def __init__(self, *sources: Container[str]) -> None:
        self.sources = sources

    def __contains__(self, product_id: object) -> bool:
        return any(product_id in source for source in self.sources)

    @classmethod
    def of(cls, feed: Container[str] | None, offers: Iterable[Any]) -> Catalogue | None:
        """The catalogue of a feed and offers (objects with an ``id``); None when the site
        has neither, and so takes any product."""
        ids = frozenset(offer.id for offer in offers)
        sources = [s for s in (feed, ids) if s]
        return cls(*sources) if sources else None


def explicit_product(name: str, props: Any, products: Container[str] | None) -> dict[str, Any]:
    """The product of a favourite, unfavourite or rate event (a rating in ``rating``); raises
    ProductError naming what is wrong: the product (not one of ``products``, the site's
    catalogue, when it has one) or the rating (a whole number from 1 to 5)."""
    if not isinstance(props, Mapping):
        raise ProductError(f"a {name} event needs props with the product's id")
    product = clean_product(dict(props))
    if products is not None and name != "unfavourite" and product["id"] not in products:
        raise ProductError(f"product.id {product['id'][:40]!r} is not a product of this site")
    if name == "rate":
        rating = props.get("rating")
        if not isinstance(rating, int) or isinstance(rating, bool) or rating not in RATINGS:
            raise ProductError("rating must be a whole number from 1 to 5")
        product["rating"] = rating
    return product


def room_error(record: Record, name: str, product: Mapping[str, Any] | None) -> str | None:
    """Why the record cannot take this event (its favourites or ratings are full), or None."""
    if product is None or name not in EXPLICIT_EVENTS:
        return None
    prefs = record.get("prefs")
    prefs = prefs if isinstance(prefs, dict) else {}
    kept, kept_ratings = favourites(prefs), ratings(prefs)
    product_id = product["id"]
    if name == "favourite" and product_id not in kept:
        if len(kept) >= MAX_FAVOURITES:
            return f"at most {MAX_FAVOURITES} favourites: remove one first"
    elif name == "rate" and product_id not in kept_ratings:
        if len(kept_ratings) >= MAX_RATINGS:
            return f"at most {MAX_RATINGS} ratings: remove one first"
    else:
        return None
    used = sum(map(len, kept)) + sum(map(len, kept_ratings)) + len(product_id)
    if used > MAX_EXPLICIT_CHARS:
        return "your favourites and ratings are full: remove some first"
    return None


def apply_explicit(record: Record, name: str, product: Mapping[str, Any]) -> None:
    """Apply a checked event (``explicit_product`` first) to the record's ``prefs``. A list
    that filled up in a concurrent request meanwhile does not take it."""
    prefs = record.get("prefs")
    prefs = dict(prefs) if isinstance(prefs, dict) else {}
    product_id = product["id"]
    if name == "rate":
        kept_ratings = ratings(prefs)
        kept_ratings.pop(product_id, None)
        if len(kept_ratings) < MAX_RATINGS:
            kept_ratings[product_id] = product["rating"]
        prefs["ratings"] = kept_ratings
    else:
        kept = [p for p in favourites(prefs) if p != product_id]
        if name == "favourite" and len(kept) < MAX_FAVOURITES:
            kept.insert(0, product_id)
        prefs["favourites"] = kept
    record["prefs"] = prefs


def _is_id(value: Any) -> bool:
    # What clean_product keeps as an id, checked cheaply: this runs for every profile built.
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_CHARS
        and (value.isprintable() or not any(unicodedata.category(c) == "Cc" for c in value))
    )


def favourites(prefs: Mapping[str, Any]) -> list[str]:
    """The well-formed favourites of stored preferences, the newest first."""
    stored = prefs.get("favourites")
    if not isinstance(stored, list):
        return []
    out: list[str] = []
    for value in stored[:MAX_FAVOURITES]:
        if _is_id(value) and value not in out:
            out.append(value)
    return out


def ratings(prefs: Mapping[str, Any]) -> dict[str, int]:
    """The well-formed ratings of stored preferences, the oldest first."""
    stored = prefs.get("ratings")
    if not isinstance(stored, Mapping):
        return {}
    out: dict[str, int] = {}
    for key, value in stored.items():
        if (
            _is_id(key)
            and isinstance(value, int)
            and not isinstance(value, bool)
            and value in RATINGS
        ):
            out[key] = value
        if len(out) >= MAX_RATINGS:
            break
    return out


def removals(value: Any, what: str) -> list[str]:
    """The product ids a patch removes from ``prefs.<what>`` (``{"id": null}``); raises
    ValueError naming the entry when a patch tries anything else."""
    if not isinstance(value, Mapping):
        raise ValueError(f"prefs.{what} must be an object of product id: null")
    for key, change in value.items():
        if change is not None:
            shown = str(key)[:40]
            raise ValueError(
                f"prefs.{what}.{shown}: only null (to remove it); "
                f"add {what} with the {'favourite' if what == 'favourites' else 'rate'} event"
            )
    return [str(key) for key in value]
