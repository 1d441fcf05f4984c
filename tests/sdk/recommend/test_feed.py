"""The product feed: CSV and JSON files, every row checked, file:line errors, page products."""

from __future__ import annotations

from pathlib import Path

import pytest

from opmaat.errors import ConfigError
from opmaat.recommend import Feed, Product, load_feed, parse_feed, product_from_page

CSV = """\
id,name,url,price,category,image,in_stock,excluded,brand
trail-runner,Trail Runner 3,/product/trail-runner,129.00,Running,https://cdn.example/t.jpg,yes,,Acme
run-socks,Merino running socks,https://shop.example/product/run-socks,15,running,,false,,
gift-card,Gift card,/gift,,,,,true,
"""


def problems(text: str, kind: str = "csv") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_feed(text, filename="feed." + kind, kind=kind)
    return [str(p) for p in caught.value.problems]


def test_a_csv_feed_is_read_with_defaults_and_ignored_columns_named() -> None:
    feed = parse_feed(CSV, filename="feed.csv", kind="csv")
    assert len(feed) == 3
    assert feed.get("trail-runner") == Product(
        "trail-runner",
        "Trail Runner 3",
        "/product/trail-runner",
        129.0,
        "running",
        "https://cdn.example/t.jpg",
    )
    socks, card = feed.get("run-socks"), feed.get("gift-card")
    assert socks is not None
    assert not socks.in_stock
    assert not socks.available
    assert card is not None
    assert card.excluded
    assert card.price is None
    assert card.in_stock
    assert feed.ignored == ("brand",)
    assert feed.source == "feed.csv"


def test_semicolons_and_a_byte_order_mark_are_fine() -> None:
    feed = parse_feed("\ufeffid;name;url\n1;One;/one\n", filename="f.csv", kind="csv")
    assert feed.get("1") == Product("1", "One", "/one")


def test_a_bad_url_or_price_is_named_by_file_line_and_field() -> None:
    text = (
        "id,name,url,price\n"
        "a,A,/a,1\n"
        "b,B,javascript:alert(1),2\n"
        "\n"
        "c,C,/c,12,50\n"
        "d,D,/d,-3\n"
        "e,E,//evil.example/x,abc\n"
    )
    assert problems(text) == [
        "feed.csv:3: url: must be a path starting with '/' or an http(s) URL of at most 500 "
        "characters",
        "feed.csv:5: row: has 5 cells, the header has 4",
        "feed.csv:6: price: '-3' is not a price: digits, a dot for decimals",
        "feed.csv:7: url: must be a path starting with '/' or an http(s) URL of at most 500 "
        "characters",
        "feed.csv:7: price: 'abc' is not a price: digits, a dot for decimals",
    ]


def test_a_missing_column_or_value_is_an_error() -> None:
    assert problems("id,name\na,A\n") == [
        "feed.csv:1: header: no url column (the columns: id, name)"
    ]
    assert problems("id,name,url\n,A,/a\nb,,/b\n") == [
        "feed.csv:2: id: missing",
        "feed.csv:3: name: missing",
    ]


def test_ids_are_checked_and_unique() -> None:
    long_id = "x" * 101
    assert problems(f"id,name,url\n{long_id},A,/a\nb,B,/b\nb,C,/c\n") == [
        "feed.csv:2: id: must be text of 1 to 100 characters without control characters, "
        "or a whole number",
        "feed.csv:4: id: duplicate id 'b', first on line 3",
    ]


def test_flags_must_be_true_or_false() -> None:
    assert problems("id,name,url,in_stock\na,A,/a,maybe\n") == [
        "feed.csv:2: in_stock: 'maybe' is not true or false"
    ]


def test_an_empty_feed_or_one_without_rows_is_refused() -> None:
    assert problems("  \n") == ["feed.csv:1: header: the file is empty"]
    assert problems("id,name,url\n") == ["feed.csv:1: products: no products"]


def test_a_json_feed_names_the_line_each_product_starts_on() -> None:
    text = """[
  {"id": "a", "name": "A", "url": "/a", "price": 10, "in_stock": true, "colour": "red"},
  {"id": 7, "name": "Seven", "url": "/7", "price": "7.50"},
  {"id": "b",
   "name": "B", "url": "ftp://b", "price": -1},
  "not an object"
]"""
    assert problems(text, "json") == [
        "feed.json:4: url: must be a path starting with '/' or an http(s) URL of at most 500 "
        "characters",
        "feed.json:4: price: must be a number from 0 to 1000000000",
        "feed.json:6: row: not an object",
    ]
    good = text.split("\n")[:3]
    feed = parse_feed("\n".join(good).rstrip(",") + "\n]", filename="feed.json", kind="json")
    assert feed.get("7") == Product("7", "Seven", "/7", 7.5)
    assert feed.ignored == ("colour",)


def test_a_json_feed_must_be_one_array() -> None:
    assert problems('{"products": []}', "json") == [
        "feed.json:1: products: a JSON feed is an array of product objects"
    ]
    assert problems('[{"id": "a", "name": "A", "url": "/a"}', "json") == [
        "feed.json:1: products: the array is not closed"
    ]
    assert problems('[{"id": "a", "name": "A", "url": "/a"}] x', "json") == [
        "feed.json:1: products: text after the array"
    ]


def test_load_feed_reads_csv_and_json_files_and_explains_what_it_cannot(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("id,name,url\na,A,/a\n")
    (tmp_path / "c.json").write_text('[{"id": "a", "name": "A", "url": "/a"}]')
    assert load_feed(tmp_path / "c.csv").get("a") == load_feed(tmp_path / "c.json").get("a")
    (tmp_path / "c.xml").write_text("<feed/>")
    (tmp_path / "latin.csv").write_bytes(b"id,name,url\na,Caf\xe9,/a\n")
    for name, message in (
        ("c.xml", "1: file: a feed is a .csv or a .json file"),
        ("latin.csv", "2: file: not UTF-8 text"),
        ("absent.csv", "1: file: cannot read the file: No such file or directory"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_feed(tmp_path / name)
        assert str(caught.value) == f"{tmp_path / name}:{message}"


def test_a_page_names_its_product_as_the_snippet_sends_it() -> None:
    page = {
        "path": "/product/trail-runner",
        "product": "trail-runner",
        "product_name": "Trail Runner 3",
        "category": "Running",
        "price": 129,
    }
    assert product_from_page(page) == Product(
        "trail-runner", "Trail Runner 3", "/product/trail-runner", 129.0, "running"
    )
    assert product_from_page({"path": "/about"}) is None
    assert product_from_page({"product": "x", "path": "/x"}) is None  # no name to show


def test_a_feed_from_pages_keeps_the_most_recently_seen_products() -> None:
    feed = Feed.from_pages(max_products=2)
    for product_id in ("a", "b", "a", "c"):
        assert feed.note(Product(product_id, product_id.upper(), f"/{product_id}"))
    assert [p.id for p in feed] == ["a", "c"]
    fixed = Feed([Product("a", "A", "/a")])
    assert not fixed.note(Product("b", "B", "/b"))
    assert "b" not in fixed
