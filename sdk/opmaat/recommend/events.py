"""What the model learns from: one small event per product view, cart addition or order.

The caller builds it from the visit (``event_from_visit``) *before* the event is applied to the
record: the products viewed earlier in the session, and an order's products (the cart), are
read from the record as it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opmaat.cart import cart_items

KINDS = ("product_view", "add_to_cart", "purchase")
MAX_EVENT_PRODUCTS = 20  # an order's products that count; a larger one is cut
MAX_SESSION_VIEWED = 10
MAX_EVENT_SEGMENTS = 3


@dataclass(frozen=True, slots=True)
class Event:
    """One product event of one visitor.

    ``products``: the product viewed or added, or an order's products. ``viewed``: the products
    viewed earlier in the same session, newest first. ``consent``: the visitor's tier (only
    ``full`` is learned from). ``address``: the client's address, for the flood guard; None
    for an event from a trusted server. ``segments``, ``city``, ``country``: the scopes whose
    popular and trending lists it counts in.
    """

    kind: str
    products: tuple[str, ...]
    at: float
    consent: str
    visitor: str
    session: str | None = None
    viewed: tuple[str, ...] = ()
    address: str | None = None
    segments: tuple[str, ...] = ()
    city: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"event kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not math.isfinite(self.at):
            raise ValueError("event time must be a finite number")


def ids_of(items: Any) -> list[str]:
    """The distinct ids in a stored list (of ids, or of objects with an ``id``), as text."""
    if not isinstance(items, list):
        return []
    out: list[str] = []
    for item in items:
        raw = item.get("id") if isinstance(item, Mapping) else item
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if isinstance(raw, str) and raw and raw not in out:
            out.append(raw)
    return out


def session_viewed(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The products the record says were viewed in its current session, newest first."""
    session = record.get("session")
    started = session.get("started") if isinstance(session, Mapping) else None
    viewed = record.get("viewed")
    if not isinstance(started, int | float) or not isinstance(viewed, list):
        return ()
    recent = [v for v in viewed if isinstance(v, Mapping) and isinstance(v.get("at"), int | float)]
    ids = ids_of([v for v in reversed(recent) if v["at"] >= started])
    return tuple(ids[:MAX_SESSION_VIEWED])


def event_from_visit(
    kind: str,
    record: Mapping[str, Any],
    *,
    products: Sequence[str] = (),
    profile: Mapping[str, Any],
    consent: str,
    visitor: str,
    address: str | None,
    at: float,
) -> Event:
    """The event of a product view or cart addition (``products``: its product id) or of an
    order (``products`` empty: the record's cart), from the record as it was before the event
    and the profile the request was decided with (segments, geo)."""
    if kind == "purchase" and not products:
        products = ids_of(cart_items(dict(record)))
    geo = profile.get("geo")
    geo = geo if isinstance(geo, Mapping) else {}
    segments = ids_of(profile.get("segments"))
    session = record.get("session")
    session_id = session.get("id") if isinstance(session, Mapping) else None
    city, country = geo.get("city"), geo.get("country")
    return Event(
        kind=kind,
        products=tuple(dict.fromkeys(products))[:MAX_EVENT_PRODUCTS],
        at=at,
        consent=consent,
        visitor=visitor,
        session=session_id if isinstance(session_id, str) else None,
        viewed=session_viewed(record),
        address=address,
        segments=tuple(segments[:MAX_EVENT_SEGMENTS]),
        city=city if isinstance(city, str) else None,
        country=country if isinstance(country, str) else None,
    )
