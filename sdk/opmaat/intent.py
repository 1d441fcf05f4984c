"""Purchase intent: a 0-100 score from this session's signals, and the visitor's journey stage.

Reads (never writes) the record: ``record["session"]["pageviews"]``, the session's event
counters (``record["session"]["events"]``, see ``event_counts``), ``record["visits"]``,
``record["orders"]["count"]`` and the cart's items (see ``cart``).

Signals::

    depth          = session pageviews
    product_views  = session count of the event "product_view"
    add_to_cart    = session count of the event "add_to_cart"
    searches       = session count of the event "search"
    return_visits  = max(0, visits - 1)

Score (each signal counts at most ``SIGNAL_CAP`` times; a signal without a weight counts 0)::

    score = min(100, round(sum(weight[s] * min(signal[s], SIGNAL_CAP))))

With the default weights, 3 pages, 2 product views, 1 add to cart and a second visit score
4*3 + 10*2 + 30*1 + 8*1 = 70.

Stage: "loyal" with 2 orders or more; else "buy" when the cart has items or score >= 70;
else "consider" when score >= 30; else "explore".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from opmaat.campaigns.model import DEFAULT_INTENT_WEIGHTS
from opmaat.cart import cart_items, order_attributes
from opmaat.event_counts import session_counts
from opmaat.store import Record
from opmaat.visits import as_count

SIGNAL_CAP = 5
BUY_SCORE = 70
CONSIDER_SCORE = 30


def intent_signals(record: Record) -> dict[str, int]:
    """This session's intent signals (0 for whatever the record does not say)."""
    session = record.get("session")
    pageviews = session.get("pageviews") if isinstance(session, dict) else None
    counters = session_counts(record)
    return {
        "depth": max(0, as_count(pageviews)),
        "product_views": counters.get("product_view", 0),
        "add_to_cart": counters.get("add_to_cart", 0),
        "return_visits": max(0, as_count(record.get("visits")) - 1),
        "searches": counters.get("search", 0),
    }


def _weight(value: Any) -> float:
    """A configured weight, or 0 when it is not a finite number."""
    try:
        number = float(value) if isinstance(value, (int, float)) else math.nan
    except OverflowError:
        return 0.0
    return number if math.isfinite(number) and not isinstance(value, bool) else 0.0


def intent_score(signals: Mapping[str, int], weights: Mapping[str, object]) -> int:
    """The weighted, capped sum of the signals, rounded, 0 to 100."""
    total = 0.0
    for name, value in signals.items():
        count = as_count(value)
        if count > 0:  # a plain loop: a generator costs a frame per signal on every request
            total += _weight(weights.get(name)) * min(count, SIGNAL_CAP)
    return max(0, min(100, round(total)))


def journey_stage(
    record: Record, score: int, *, orders: int | None = None, in_cart: bool | None = None
) -> str:
    """explore, consider, buy or loyal (see the module docstring). ``orders`` and ``in_cart``
    save reading the record again when the caller has them (the profile does)."""
    if (order_attributes(record)["count"] if orders is None else orders) >= 2:
        return "loyal"
    if (bool(cart_items(record)) if in_cart is None else in_cart) or score >= BUY_SCORE:
        return "buy"
    return "consider" if score >= CONSIDER_SCORE else "explore"


def intent_attributes(
    record: Record,
    weights: Mapping[str, float] | None = None,
    *,
    orders: int | None = None,
    in_cart: bool | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``intent`` (score and signals) and ``journey`` (stage) profile attributes."""
    signals = intent_signals(record)
    score = intent_score(signals, DEFAULT_INTENT_WEIGHTS if weights is None else weights)
    stage = journey_stage(record, score, orders=orders, in_cart=in_cart)
    return {"score": score, "signals": signals}, {"stage": stage}
