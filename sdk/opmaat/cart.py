"""Products, the cart, orders and recently viewed products in the visitor's stored record.

Record layout::

    record["cart"] = {"items": [product, ...], "updated": ts, "session": session_id}
    record["orders"] = {"count": int, "value": float, "last": ts}
    record["bought"] = [product_id, ...]            # newest last, at most MAX_BOUGHT
    record["viewed"] = [{**product, "at": ts}, ...]  # newest last, at most MAX_VIEWED, one per id

A product is what ``clean_product`` returns: ``id`` (text; an integer id becomes its decimal
text, so ``12`` and ``"12"`` are the same product), ``quantity`` (1..999), and those of
``name``, ``price``, ``category``, ``url``, ``image`` that were given. Viewed entries carry
no quantity. The cart holds at most ``MAX_CART_ITEMS`` distinct products.

Formulas::

    cart.count = sum(quantity);  cart.value = round(sum(price * quantity), 2)  # no price: 0
    cart.abandoned = items and (now - updated >= abandon_after
                                or (session_id is not None and cart session != session_id))
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import orjson

from opmaat.interests import category_key
from opmaat.store import Record
from opmaat.visits import as_count

MAX_PRODUCT_KEYS = 20
MAX_ID_CHARS = 100
MAX_NAME_CHARS = 200
MAX_LINK_CHARS = 500
MAX_PRICE = 1_000_000_000
MAX_QUANTITY = 999
MAX_CART_ITEMS = 50
MAX_CART_BYTES = 8 * 1024  # the cart's lines as JSON: ~50 lines of a real shop
MAX_BOUGHT = 50
MAX_VIEWED = 20


class ProductError(ValueError):
    """A product (or order) from outside input is not acceptable; the message names the field."""


_RULES = {
    "id": f"text of 1 to {MAX_ID_CHARS} characters without control characters, or a whole number",
    "name": f"text of at most {MAX_NAME_CHARS} characters",
    "price": f"a number from 0 to {MAX_PRICE}",
    "quantity": f"a whole number from 1 to {MAX_QUANTITY}",
    "category": "a slug of letters, digits, '-' and '_' (at most 40 characters)",
    "url": f"a path starting with '/' or an http(s) URL of at most {MAX_LINK_CHARS} characters",
}
_RULES["image"] = _RULES["url"]


def _bad(field: str) -> ProductError:
    return ProductError(f"product.{field} must be {_RULES[field]}")


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _float(value: Any) -> float | None:
    """A stored number as a finite float, or None (also for integers too large for a float)."""
    try:
        number = float(value) if _number(value) else math.nan
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def _link(field: str, value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    # Browsers drop tabs and newlines and read a backslash as "/": "/\evil" is "//evil".
    if not text or len(text) > MAX_LINK_CHARS or _has_control(text) or "\\" in text:
        raise _bad(field)
    if text.startswith("/") and not text.startswith("//"):
        return text
    try:
        parts = urlsplit(text)
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            return text
    except ValueError:  # e.g. a malformed IPv6 host
        pass
    raise _bad(field)


def clean_product(payload: Any) -> dict[str, Any]:
    """A product from outside input, or ProductError. Unknown keys are ignored and optional
    keys given as None count as not given."""
    if not isinstance(payload, dict):
        raise ProductError("product must be an object")
    if len(payload) > MAX_PRODUCT_KEYS:
        raise ProductError(f"product must have at most {MAX_PRODUCT_KEYS} fields")
    raw_id = payload.get("id")
    product_id = str(raw_id) if _whole(raw_id) else raw_id
    if not isinstance(product_id, str):
        raise _bad("id")
    product_id = product_id.strip()
    if not 1 <= len(product_id) <= MAX_ID_CHARS or _has_control(product_id):
        raise _bad("id")
    out: dict[str, Any] = {"id": product_id}
    name, price, quantity = payload.get("name"), payload.get("price"), payload.get("quantity")
    if name is not None:
        if not isinstance(name, str) or len(name.strip()) > MAX_NAME_CHARS:
            raise _bad("name")
        out["name"] = name.strip()
    if price is not None:
        if not _number(price) or not 0 <= price <= MAX_PRICE:  # NaN fails the comparison
            raise _bad("price")
        out["price"] = price
    if quantity is not None and (not _whole(quantity) or not 1 <= quantity <= MAX_QUANTITY):
        raise _bad("quantity")
    out["quantity"] = 1 if quantity is None else quantity
    if payload.get("category") is not None:
        out["category"] = category_key(payload["category"])
        if out["category"] is None:
            raise _bad("category")
    for field in ("url", "image"):
        if payload.get(field) is not None:
            out[field] = _link(field, payload[field])
    return out


def _id(value: Any) -> str | None:
    if _whole(value):
        return str(value)
    return value if isinstance(value, str) and value else None


def _price(item: dict[str, Any]) -> float:
    price = _float(item.get("price"))
    return price if price is not None and 0 <= price <= MAX_PRICE else 0.0


def cart_items(record: Record) -> list[dict[str, Any]]:
    """The cart's well-formed items (copies): a dict with an id and a quantity 1..999, first
    of each id, at most MAX_CART_ITEMS."""
    cart = record.get("cart")
    items = cart.get("items") if isinstance(cart, dict) else None
    out: dict[str, dict[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or (key := _id(item.get("id"))) is None or key in out:
            continue
        quantity = as_count(item.get("quantity"))
        if 1 <= quantity <= MAX_QUANTITY:
            out[key] = {**item, "id": key}
    return list(out.values())[:MAX_CART_ITEMS]


def _save_cart(record: Record, items: list[dict[str, Any]], now: float, session: Any) -> None:
    record["cart"] = {"items": items, "updated": now, "session": session}


def cart_has_room(record: Record, product: dict[str, Any]) -> bool:
    """Whether ``product`` can go in the cart: it is there already, or there is room (fewer
    than MAX_CART_ITEMS lines, and MAX_CART_BYTES of JSON with it)."""
    items = cart_items(record)
    if any(item["id"] == product.get("id") for item in items):
        return True
    if len(items) >= MAX_CART_ITEMS:
        return False
    return len(orjson.dumps(items)) + len(orjson.dumps(product)) < MAX_CART_BYTES


def add_to_cart(
    record: Record, product: dict[str, Any], now: float, session_id: str | None
) -> None:
    """Add a product (same id: quantities add up to 999, the other fields are replaced)."""
    new = clean_product(product)
    items = cart_items(record)
    line = next((item for item in items if item["id"] == new["id"]), None)
    if line is None:
        if len(items) >= MAX_CART_ITEMS:
            raise ProductError(f"the cart holds at most {MAX_CART_ITEMS} products")
        items.append(new)
    else:
        quantity = min(MAX_QUANTITY, line["quantity"] + new["quantity"])
        line.update(new, quantity=quantity)
    _save_cart(record, items, now, session_id)


def remove_from_cart(
    record: Record, product: dict[str, Any], now: float, session_id: str | None
) -> None:
    """Remove ``product["quantity"]`` of a product when the payload gives one, else the line.

    Pass the payload as received: a cleaned product always has a quantity.
    """
    gone = clean_product(product)
    items = cart_items(record)
    line = next((item for item in items if item["id"] == gone["id"]), None)
    if line is None:
        return
    if product.get("quantity") is not None and gone["quantity"] < line["quantity"]:
        line["quantity"] -= gone["quantity"]
    else:
        items.remove(line)
    _save_cart(record, items, now, session_id)


def _orders(record: Record) -> tuple[int, float, float | None]:
    orders = record.get("orders")
    orders = orders if isinstance(orders, dict) else {}
    value = _float(orders.get("value"))
    count = max(0, as_count(orders.get("count")))
    return count, value if value is not None and value >= 0 else 0.0, _float(orders.get("last"))


def _cart_value(items: list[dict[str, Any]]) -> float:
    total = 0.0
    for item in items:  # a plain loop: the profile asks on every request
        total += _price(item) * as_count(item["quantity"])
    return round(total, 2)


def purchase(record: Record, now: float, value: object = None) -> None:
    """Count an order of ``value`` (default: the cart's value); the cart's ids move to bought."""
    # ``object``: a caller's value of any type is refused here, by ProductError.
    amount: float | None = None
    if value is not None:
        if not _number(value) or not 0 <= value <= MAX_PRICE:
            raise ProductError(f"order.value must be a number from 0 to {MAX_PRICE}")
        amount = float(value)
    items = cart_items(record)
    count, total, _ = _orders(record)
    total += _cart_value(items) if amount is None else amount
    record["orders"] = {"count": count + 1, "value": round(total, 2), "last": now}
    ids = [item["id"] for item in items]
    bought = [i for i in _bought(record) if i not in ids] + ids
    record["bought"] = bought[-MAX_BOUGHT:]
    cart = record.get("cart")
    _save_cart(record, [], now, cart.get("session") if isinstance(cart, dict) else None)


def _bought(record: Record) -> list[str]:
    bought = record.get("bought")
    ids = [_id(i) for i in bought] if isinstance(bought, list) else []
    return [i for i in ids if i is not None]


def _viewed(record: Record) -> list[dict[str, Any]]:
    viewed = record.get("viewed")
    if not isinstance(viewed, list):
        return []
    return [
        {**v, "id": _id(v.get("id"))} for v in viewed if isinstance(v, dict) and _id(v.get("id"))
    ]


def note_product_view(record: Record, product: dict[str, Any], now: float) -> None:
    """Put a viewed product last in ``record["viewed"]`` (one entry per id)."""
    seen = clean_product(product)
    del seen["quantity"]
    kept = [v for v in _viewed(record) if v["id"] != seen["id"]]
    record["viewed"] = [*kept, {**seen, "at": now}][-MAX_VIEWED:]


def cart_attributes(
    record: Record, now: float, session_id: str | None, abandon_after: float = 1800
) -> dict[str, Any]:
    """The ``cart.*`` attributes: items, count, value, abandoned (see the module docstring)."""
    items = cart_items(record)
    cart = record.get("cart")
    cart = cart if isinstance(cart, dict) else {}
    updated = _float(cart.get("updated"))
    age = now - updated if updated is not None else None
    abandoned = bool(items) and (
        (age is not None and age >= abandon_after)
        or (session_id is not None and cart.get("session") != session_id)
    )
    count = 0
    for item in items:
        count += item["quantity"]
    return {
        "items": items,
        "count": count,
        "value": _cart_value(items),
        "abandoned": abandoned,
        "abandoned_items": [dict(item) for item in items] if abandoned else [],
        "minutes_since_update": int(max(0.0, age) // 60) if age is not None else None,
    }


def order_attributes(record: Record) -> dict[str, Any]:
    """The ``orders.*`` attributes: count, value and when the last order was (ISO-8601 UTC)."""
    count, value, last = _orders(record)
    when = None
    try:
        if last is not None:
            when = datetime.fromtimestamp(last, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):  # out of datetime's range
        pass
    return {"count": count, "value": value, "last": when}


def viewed_products(
    record: Record, limit: int = 10, *, cart: Sequence[Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Recently viewed products, newest first, without those bought or in the cart (``cart``:
    its items, when the caller has them already)."""
    items = cart_items(record) if cart is None else cart
    skip = set(_bought(record)) | {item["id"] for item in items}
    out: list[dict[str, Any]] = []
    for entry in _viewed(record)[::-1]:
        if len(out) >= limit:
            break
        if entry["id"] not in skip:
            skip.add(entry["id"])
            out.append(entry)
    return out
