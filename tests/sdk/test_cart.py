from __future__ import annotations

import copy
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from opmaat.cart import (
    MAX_BOUGHT,
    MAX_CART_ITEMS,
    MAX_VIEWED,
    ProductError,
    add_to_cart,
    cart_attributes,
    cart_items,
    clean_product,
    note_product_view,
    order_attributes,
    purchase,
    remove_from_cart,
    viewed_products,
)
from opmaat.store import Record

T0 = 1_790_000_000.0


def cart_of(*products: dict[str, Any], session: str | None = "s1") -> Record:
    record: Record = {}
    for product in products:
        add_to_cart(record, product, T0, session)
    return record


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# --- clean_product ---------------------------------------------------------------------------


def test_clean_product_keeps_the_known_fields() -> None:
    payload = {
        "id": "  sku-1 ",
        "name": " Trail shoe ",
        "price": 89.5,
        "quantity": 2,
        "category": "Running Shoes",
        "url": "/p/sku-1",
        "image": "https://cdn.example.com/sku-1.jpg",
        "colour": "red",
    }
    assert clean_product(payload) == {
        "id": "sku-1",
        "name": "Trail shoe",
        "price": 89.5,
        "quantity": 2,
        "category": "running-shoes",
        "url": "/p/sku-1",
        "image": "https://cdn.example.com/sku-1.jpg",
    }


def test_clean_product_minimal_and_defaults() -> None:
    assert clean_product({"id": 12}) == {"id": "12", "quantity": 1}
    assert clean_product({"id": "a", "name": None, "price": None, "url": None}) == {
        "id": "a",
        "quantity": 1,
    }


def test_clean_product_is_idempotent() -> None:
    payload = {"id": 5, "name": " A ", "price": 1.5, "category": "Big Hats", "url": " /p/5 "}
    cleaned = clean_product(payload)
    assert clean_product(cleaned) == cleaned
    assert cleaned["url"] == "/p/5"


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "x" * 100},
        {"id": "a", "name": "n" * 200},
        {"id": "a", "price": 0},
        {"id": "a", "price": 1_000_000_000},
        {"id": "a", "quantity": 999},
        {"id": "a", "url": "/" + "a" * 499},
        {"id": "a", "url": "http://example.com"},
        {"id": "a", "image": "HTTPS://EXAMPLE.COM/x.png?w=1#f"},
        {"id": "a", **{f"k{i}": i for i in range(19)}},
    ],
)
def test_clean_product_accepts_the_limits(payload: dict[str, Any]) -> None:
    assert clean_product(payload)["id"] == payload["id"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("sku-1", "product must be an object"),
        (None, "product must be an object"),
        ([{"id": "a"}], "product must be an object"),
        ({"id": "a", **{f"k{i}": i for i in range(20)}}, "at most 20 fields"),
        ({}, "product.id"),
        ({"id": None}, "product.id"),
        ({"id": ""}, "product.id"),
        ({"id": "   "}, "product.id"),
        ({"id": True}, "product.id"),
        ({"id": 1.5}, "product.id"),
        ({"id": ["a"]}, "product.id"),
        ({"id": "x" * 101}, "product.id"),
        ({"id": "a\x00b"}, "product.id"),
        ({"id": "a\nb"}, "product.id"),
        ({"id": "a", "name": "n" * 201}, "product.name"),
        ({"id": "a", "name": 5}, "product.name"),
        ({"id": "a", "price": True}, "product.price"),
        ({"id": "a", "price": "9.99"}, "product.price"),
        ({"id": "a", "price": -0.01}, "product.price"),
        ({"id": "a", "price": 1_000_000_000.5}, "product.price"),
        ({"id": "a", "price": math.nan}, "product.price"),
        ({"id": "a", "price": math.inf}, "product.price"),
        ({"id": "a", "price": -math.inf}, "product.price"),
        ({"id": "a", "price": 10**400}, "product.price"),
        ({"id": "a", "quantity": 0}, "product.quantity"),
        ({"id": "a", "quantity": 1000}, "product.quantity"),
        ({"id": "a", "quantity": 1001}, "product.quantity"),
        ({"id": "a", "quantity": 2.0}, "product.quantity"),
        ({"id": "a", "quantity": True}, "product.quantity"),
        ({"id": "a", "quantity": "2"}, "product.quantity"),
        ({"id": "a", "category": "Not a slug!"}, "product.category"),
        ({"id": "a", "category": "top"}, "product.category"),
        ({"id": "a", "category": "c" * 41}, "product.category"),
        ({"id": "a", "category": 5}, "product.category"),
        ({"id": "a", "url": "javascript:alert(1)"}, "product.url"),
        ({"id": "a", "url": " JavaScript:alert(1)"}, "product.url"),
        ({"id": "a", "url": "//evil.example"}, "product.url"),
        ({"id": "a", "url": "/\\evil.example"}, "product.url"),
        ({"id": "a", "url": "/\t/evil.example"}, "product.url"),
        ({"id": "a", "url": "ftp://example.com/x"}, "product.url"),
        ({"id": "a", "url": "https://"}, "product.url"),
        ({"id": "a", "url": "http:///x"}, "product.url"),
        ({"id": "a", "url": "http://[::1"}, "product.url"),
        ({"id": "a", "url": "p/relative"}, "product.url"),
        ({"id": "a", "url": ""}, "product.url"),
        ({"id": "a", "url": "/" + "a" * 500}, "product.url"),
        ({"id": "a", "url": 5}, "product.url"),
        ({"id": "a", "image": "data:image/png;base64,AAAA"}, "product.image"),
    ],
)
def test_clean_product_errors_name_the_field(payload: Any, message: str) -> None:
    with pytest.raises(ProductError, match=message.replace(".", r"\.")):
        clean_product(payload)


def test_price_error_message() -> None:
    with pytest.raises(ProductError) as caught:
        clean_product({"id": "a", "price": -1})
    assert str(caught.value) == "product.price must be a number from 0 to 1000000000"
    assert isinstance(caught.value, ValueError)


# --- add / remove ----------------------------------------------------------------------------


def test_add_to_cart_stores_the_line_and_when() -> None:
    record = cart_of({"id": "a", "price": 10, "name": "A"}, session="s1")
    assert record["cart"] == {
        "items": [{"id": "a", "price": 10, "name": "A", "quantity": 1}],
        "updated": T0,
        "session": "s1",
    }


def test_same_id_adds_quantities_and_updates_fields() -> None:
    record = cart_of({"id": "a", "price": 10, "name": "A"}, {"id": "b"})
    add_to_cart(record, {"id": "a", "price": 8, "quantity": 3}, T0 + 60, "s2")
    assert record["cart"]["items"] == [
        {"id": "a", "price": 8, "name": "A", "quantity": 4},
        {"id": "b", "quantity": 1},
    ]
    assert record["cart"]["updated"] == T0 + 60
    assert record["cart"]["session"] == "s2"


def test_quantity_is_capped_at_999() -> None:
    record = cart_of({"id": "a", "quantity": 990}, {"id": "a", "quantity": 20})
    assert record["cart"]["items"][0]["quantity"] == 999


def test_int_and_text_ids_are_the_same_product() -> None:
    record = cart_of({"id": 7}, {"id": "7"})
    assert record["cart"]["items"] == [{"id": "7", "quantity": 2}]


def test_cart_holds_at_most_50_products() -> None:
    record = cart_of(*({"id": f"p{i}"} for i in range(MAX_CART_ITEMS)))
    before = copy.deepcopy(record)
    with pytest.raises(ProductError, match="the cart holds at most 50 products"):
        add_to_cart(record, {"id": "one-more"}, T0 + 1, "s1")
    assert record == before
    add_to_cart(record, {"id": "p0"}, T0 + 1, "s1")  # more of a product already there is fine
    assert record["cart"]["items"][0]["quantity"] == 2


def test_add_invalid_product_raises_and_changes_nothing() -> None:
    record = cart_of({"id": "a"})
    before = copy.deepcopy(record)
    with pytest.raises(ProductError):
        add_to_cart(record, {"id": "b", "url": "javascript:x"}, T0, "s1")
    assert record == before


def test_remove_with_quantity_removes_that_many() -> None:
    record = cart_of({"id": "a", "quantity": 5}, {"id": "b"})
    remove_from_cart(record, {"id": "a", "quantity": 2}, T0 + 5, "s1")
    assert record["cart"]["items"] == [{"id": "a", "quantity": 3}, {"id": "b", "quantity": 1}]
    assert record["cart"]["updated"] == T0 + 5
    remove_from_cart(record, {"id": "a", "quantity": 3}, T0 + 6, "s1")
    assert ids(record["cart"]["items"]) == ["b"]


def test_remove_more_than_there_is_removes_the_line() -> None:
    record = cart_of({"id": "a", "quantity": 2})
    remove_from_cart(record, {"id": "a", "quantity": 9}, T0, "s1")
    assert record["cart"]["items"] == []


def test_remove_without_quantity_removes_the_whole_line() -> None:
    record = cart_of({"id": "a", "quantity": 5}, {"id": "b"})
    remove_from_cart(record, {"id": "a"}, T0 + 5, "s1")
    assert record["cart"]["items"] == [{"id": "b", "quantity": 1}]


def test_remove_unknown_id_changes_nothing() -> None:
    record = cart_of({"id": "a"})
    before = copy.deepcopy(record)
    remove_from_cart(record, {"id": "zzz"}, T0 + 999, "other-session")
    assert record == before
    empty: Record = {}
    remove_from_cart(empty, {"id": "zzz"}, T0, "s1")
    assert empty == {}


# --- purchase / orders -----------------------------------------------------------------------


def test_purchase_counts_the_cart_value_and_empties_the_cart() -> None:
    record = cart_of({"id": "a", "price": 19.99, "quantity": 3}, {"id": "b"})
    purchase(record, T0 + 100)
    assert record["orders"] == {"count": 1, "value": 59.97, "last": T0 + 100}
    assert record["bought"] == ["a", "b"]
    assert cart_items(record) == []
    assert cart_attributes(record, T0 + 100, "s1")["count"] == 0
    add_to_cart(record, {"id": "c", "price": 5}, T0 + 200, "s1")
    purchase(record, T0 + 300, value=12.5)
    assert record["orders"] == {"count": 2, "value": 72.47, "last": T0 + 300}
    assert record["bought"] == ["a", "b", "c"]


def test_purchase_with_an_empty_cart_still_counts() -> None:
    record: Record = {}
    purchase(record, T0)
    assert order_attributes(record)["count"] == 1
    assert order_attributes(record)["value"] == 0.0
    assert record["bought"] == []


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, "10", True])
def test_purchase_rejects_a_bad_value(value: Any) -> None:
    record = cart_of({"id": "a"})
    before = copy.deepcopy(record)
    with pytest.raises(ProductError, match=r"order\.value"):
        purchase(record, T0, value=value)
    assert record == before


def test_bought_is_deduplicated_and_capped() -> None:
    record: Record = {"bought": [f"old{i}" for i in range(MAX_BOUGHT)] + ["a"]}
    add_to_cart(record, {"id": "a"}, T0, "s1")
    add_to_cart(record, {"id": "b"}, T0, "s1")
    purchase(record, T0)
    assert len(record["bought"]) == MAX_BOUGHT
    assert record["bought"][-2:] == ["a", "b"]
    assert record["bought"].count("a") == 1
    assert "old0" not in record["bought"]


def test_order_attributes() -> None:
    assert order_attributes({}) == {"count": 0, "value": 0.0, "last": None}
    record = cart_of({"id": "a", "price": 4})
    purchase(record, T0)
    expected_last = datetime.fromtimestamp(T0, UTC).isoformat(timespec="seconds")
    assert order_attributes(record) == {"count": 1, "value": 4.0, "last": expected_last}
    assert expected_last.endswith("+00:00")


# --- cart attributes / abandonment -----------------------------------------------------------


def test_cart_attributes_count_and_value() -> None:
    record = cart_of({"id": "a", "price": 19.99, "quantity": 3}, {"id": "b", "quantity": 2})
    attrs = cart_attributes(record, T0, "s1")
    assert attrs["count"] == 5
    assert attrs["value"] == 59.97
    assert ids(attrs["items"]) == ["a", "b"]
    assert attrs["abandoned"] is False
    assert attrs["abandoned_items"] == []
    assert attrs["minutes_since_update"] == 0


def test_cart_attributes_items_are_copies() -> None:
    record = cart_of({"id": "a"})
    attrs = cart_attributes(record, T0, "s1")
    attrs["items"][0]["quantity"] = 50
    attrs["items"].clear()
    assert record["cart"]["items"] == [{"id": "a", "quantity": 1}]


@pytest.mark.parametrize(
    ("elapsed", "abandoned", "minutes"),
    [(0, False, 0), (1799, False, 29), (1800, True, 30), (86400, True, 1440)],
)
def test_abandoned_after_a_while_in_the_same_session(
    elapsed: float, abandoned: bool, minutes: int
) -> None:
    record = cart_of({"id": "a", "price": 3})
    attrs = cart_attributes(record, T0 + elapsed, "s1")
    assert attrs["abandoned"] is abandoned
    assert attrs["abandoned_items"] == (attrs["items"] if abandoned else [])
    assert attrs["minutes_since_update"] == minutes


def test_abandon_after_is_configurable() -> None:
    record = cart_of({"id": "a"})
    assert cart_attributes(record, T0 + 60, "s1", abandon_after=60)["abandoned"] is True
    assert cart_attributes(record, T0 + 59, "s1", abandon_after=60)["abandoned"] is False


def test_abandoned_when_the_next_session_comes() -> None:
    record = cart_of({"id": "a"}, session="s1")
    attrs = cart_attributes(record, T0 + 10, "s2")
    assert attrs["abandoned"] is True
    assert ids(attrs["abandoned_items"]) == ["a"]
    # Without a known current session, only the time rule applies.
    assert cart_attributes(record, T0 + 10, None)["abandoned"] is False


def test_an_empty_cart_is_never_abandoned() -> None:
    record = cart_of({"id": "a"})
    remove_from_cart(record, {"id": "a"}, T0, "s1")
    attrs = cart_attributes(record, T0 + 86400, "other")
    assert attrs["abandoned"] is False
    assert attrs["minutes_since_update"] == 1440
    assert cart_attributes({}, T0, "s1") == {
        "items": [],
        "count": 0,
        "value": 0.0,
        "abandoned": False,
        "abandoned_items": [],
        "minutes_since_update": None,
    }


# --- viewed ----------------------------------------------------------------------------------


def test_views_are_kept_newest_last_once_per_id_without_quantity() -> None:
    record: Record = {}
    note_product_view(record, {"id": "a", "name": "A", "quantity": 4}, T0)
    note_product_view(record, {"id": "b"}, T0 + 1)
    note_product_view(record, {"id": "a", "name": "A2"}, T0 + 2)
    assert record["viewed"] == [{"id": "b", "at": T0 + 1}, {"id": "a", "name": "A2", "at": T0 + 2}]


def test_views_are_capped() -> None:
    record: Record = {}
    for i in range(MAX_VIEWED + 5):
        note_product_view(record, {"id": f"p{i}"}, T0 + i)
    assert len(record["viewed"]) == MAX_VIEWED
    assert record["viewed"][0]["id"] == "p5"


def test_viewed_products_newest_first_without_bought_and_cart() -> None:
    record: Record = {}
    for i, pid in enumerate(["a", "b", "c", "d", "e"]):
        note_product_view(record, {"id": pid}, T0 + i)
    add_to_cart(record, {"id": "b"}, T0, "s1")
    purchase(record, T0)
    add_to_cart(record, {"id": "d"}, T0, "s1")
    assert ids(viewed_products(record)) == ["e", "c", "a"]
    assert ids(viewed_products(record, limit=2)) == ["e", "c"]
    assert viewed_products(record, limit=0) == []
    viewed_products(record)[0]["id"] = "changed"
    assert record["viewed"][-1]["id"] == "e"


# --- malformed stored data -------------------------------------------------------------------

GARBAGE: list[Record] = [
    {"cart": "x", "orders": [], "bought": "x", "viewed": {}},
    {"cart": {"items": {"id": "a"}, "updated": 10**400}, "orders": {"count": True, "last": 1e300}},
    {
        "cart": {
            "items": [
                None,
                1,
                "x",
                {"id": None, "quantity": 1},
                {"id": "q", "quantity": "2"},
                {"id": "z", "quantity": 0},
                {"id": True, "quantity": 1},
                {"id": "c", "quantity": 2, "price": "9"},
                {"id": "c", "quantity": 5, "price": 1},
                {"id": "n", "quantity": 1, "price": math.nan},
                {"id": "h", "quantity": 1, "price": 10**400},
            ],
            "updated": "yesterday",
            "session": [],
        },
        "orders": {"count": "2", "value": math.nan, "last": 10**400},
        "bought": [None, 1, {}, "c"],
        "viewed": [None, {"id": None}, {"at": 1}, "x", {"id": "v", "at": "x"}, {"id": 5}],
    },
    {"orders": {"count": -4, "value": -5, "last": "x"}, "viewed": [{"id": ""}]},
]


@pytest.mark.parametrize("record", GARBAGE)
def test_readers_tolerate_malformed_records(record: Record) -> None:
    before = copy.deepcopy(record)
    items = cart_items(record)
    attrs = cart_attributes(record, T0, "s1")
    assert attrs["items"] == items
    assert all(isinstance(item, dict) and isinstance(item["id"], str) for item in items)
    assert isinstance(attrs["value"], float)
    assert math.isfinite(attrs["value"])
    orders = order_attributes(record)
    assert orders["count"] >= 0
    assert orders["value"] >= 0
    assert orders["last"] is None
    for product in viewed_products(record):
        assert isinstance(product["id"], str)
    assert repr(record) == repr(before)  # readers never write (repr: NaN != NaN)


def test_malformed_cart_keeps_only_well_formed_items() -> None:
    attrs = cart_attributes(GARBAGE[2], T0, "s1")
    assert ids(attrs["items"]) == ["c", "n", "h"]  # first "c" wins; bad prices count 0
    assert attrs["count"] == 4
    assert attrs["value"] == 0.0
    assert attrs["minutes_since_update"] is None
    assert attrs["abandoned"] is True  # its session is not s1
    assert order_attributes(GARBAGE[2]) == {"count": 0, "value": 0.0, "last": None}
    assert ids(viewed_products(GARBAGE[2])) == ["5", "v"]


@pytest.mark.parametrize("record", GARBAGE)
def test_writers_repair_malformed_records(record: Record) -> None:
    record = copy.deepcopy(record)
    note_product_view(record, {"id": "new"}, T0)
    add_to_cart(record, {"id": "new", "price": 2}, T0, "s1")
    remove_from_cart(record, {"id": "nothing"}, T0, "s1")
    assert "new" not in ids(viewed_products(record))  # it is in the cart
    purchase(record, T0)
    assert record["bought"][-1] == "new"
    assert all(isinstance(i, str) for i in record["bought"])
    assert order_attributes(record)["count"] >= 1
    assert cart_items(record) == []
    assert ids(viewed_products(record, limit=50)) == [
        v["id"] for v in reversed(record["viewed"]) if v["id"] not in record["bought"]
    ]
