"""Named events (``opmaat.track(name, props)``, the server-side API, page views) applied to the
visitor's stored record: counts in time windows, the cart, orders and viewed products.

Which names are accepted: the built-in ones (``BUILTIN_EVENTS``), those the site lists under
``site.events``, and every campaign's goal. Anything else is refused with a message, so a typo
on a page shows up at once instead of counting nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Container, Mapping, Sequence
from typing import Any

from opmaat.campaigns.model import BUILTIN_EVENTS, Campaign
from opmaat.cart import (
    ProductError,
    add_to_cart,
    clean_product,
    note_product_view,
    purchase,
    remove_from_cart,
)
from opmaat.event_counts import note_event
from opmaat.explicit import EXPLICIT_EVENTS, apply_explicit, explicit_product
from opmaat.history import note_conversion
from opmaat.interests import note_interest
from opmaat.store import Record

PRODUCT_EVENTS = ("product_view", "add_to_cart", "remove_from_cart")
MAX_ORDER_VALUE = 1_000_000_000


class EventError(ValueError):
    """An event that cannot be taken; the message says why, for the page's developer."""


def known_events(site_events: Collection[str], goals: Collection[str]) -> frozenset[str]:
    return frozenset((*BUILTIN_EVENTS, *site_events, *goals)) - {"click"}


def check_event(
    name: Any, props: Any, known: Collection[str], products: Container[str] | None = None
) -> dict[str, Any] | None:
    """The event's cleaned product (for product events, favourites and ratings) or None;
    raises EventError when the name is unknown or the payload is not acceptable (a favourite
    or rating of a product not among ``products``, the site's catalogue when it has one).
    Changes nothing."""
    if not isinstance(name, str) or name not in known:
        shown = str(name)[:40] if isinstance(name, (str, int)) else type(name).__name__
        raise EventError(
            f"unknown event '{shown}': use a built-in event ({', '.join(BUILTIN_EVENTS)}), "
            "a campaign's goal, or list it under site.events"
        )
    if props is not None and not isinstance(props, Mapping):
        raise EventError("props must be an object")
    if name in EXPLICIT_EVENTS:
        try:
            return explicit_product(name, props, products)
        except ProductError as exc:
            raise EventError(str(exc)) from None
    if name in PRODUCT_EVENTS:
        if props is None:
            raise EventError(f"a {name} event needs props with the product (at least its id)")
        try:
            return clean_product(props)
        except ProductError as exc:
            raise EventError(str(exc)) from None
    if name == "purchase" and props is not None and "value" in props:
        value = props["value"]
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not 0 <= value <= MAX_ORDER_VALUE
        ):
            raise EventError(f"purchase value must be a number from 0 to {MAX_ORDER_VALUE}")
    return None


def apply_event(
    record: Record,
    name: str,
    props: Mapping[str, Any] | None,
    product: dict[str, Any] | None,
    *,
    now: float,
    session_id: str | None,
    half_life_days: float,
    note_category: bool = True,
) -> None:
    """Apply a checked event (``check_event`` first) to the record. ``note_category`` false:
    a product view's category is already noted as the page's interest."""
    note_event(record, name, now)
    if name == "product_view" and product is not None:
        note_product_view(record, product, now)
        if note_category and product.get("category"):
            note_interest(record, product["category"], now, half_life_days)
    elif name == "add_to_cart" and product is not None:
        # A full cart is refused before the event is taken (Visit.track); one that filled up
        # in a concurrent request meanwhile just does not take this line.
        with contextlib.suppress(ProductError):
            add_to_cart(record, product, now, session_id)
    elif name == "remove_from_cart" and props is not None:
        # The page's own props: without a quantity the whole line goes.
        remove_from_cart(record, dict(props), now, session_id)
    elif name in EXPLICIT_EVENTS and product is not None:
        apply_explicit(record, name, product)
    elif name == "purchase":
        value = props.get("value") if props is not None else None
        purchase(record, now, float(value) if isinstance(value, (int, float)) else None)


Tally = tuple[str, str | None, str]  # campaign, variant, field


def credit_goal(record: Record, campaigns: Sequence[Campaign]) -> list[Tally]:
    """Count a conversion for each of ``campaigns`` (those whose goal the event is) that the
    visitor has a response entry for (has seen); the tallies to count, with the variant."""
    responses = record.get("response")
    if not isinstance(responses, dict):
        return []
    tallies: list[Tally] = []
    for campaign in campaigns:
        entry = responses.get(campaign.id)
        if not isinstance(entry, dict):
            continue
        tallies.extend(note_conversion(entry, campaign.id))
    return tallies


def page_product(page: Mapping[str, Any]) -> dict[str, Any] | None:
    """The product a page shows (``opmaat:product`` meta or Product JSON-LD), if any and valid."""
    product_id = page.get("product")
    if product_id is None:
        return None
    given = {
        "id": product_id,
        "name": page.get("product_name"),
        "price": page.get("price"),
        "category": page.get("category"),
        "url": page.get("path"),
    }
    try:
        return clean_product({k: v for k, v in given.items() if v is not None})
    except ProductError:
        # Page metadata is the site's own; a slip there must not cost the page its decisions.
        try:
            return clean_product({"id": product_id})
        except ProductError:
            return None
