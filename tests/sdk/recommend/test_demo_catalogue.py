"""The demo shop's catalogue is a valid feed that keeps the products the demo's stories name and
shows each strategy something to do: three categories, and products out of stock or excluded."""

from __future__ import annotations

import yaml

from opmaat.recommend import load_feed
from opmaat_edge.resources import DEMO

# The products the demo's campaigns, guide and tests have named from the start.
STORY_PRODUCTS = {
    "trail-runner": ("Trail Runner 3", 129.0, "running"),
    "road-racer": ("Road Racer", 99.0, "running"),
    "run-socks": ("Merino running socks", 15.0, "running"),
    "city-helmet": ("City helmet", 59.0, "cycling"),
    "bike-light": ("USB bike light set", 24.5, "cycling"),
    "dome-tent": ("Two-person dome tent", 179.0, "outdoor"),
    "rain-jacket": ("Rain jacket", 89.0, "outdoor"),
}


def test_the_demo_catalogue_holds_the_demo_shop_products() -> None:
    feed = load_feed(DEMO / "catalogue.csv")
    shop = yaml.safe_load((DEMO / "catalog.yaml").read_text(encoding="utf-8"))
    for product_id, listed in STORY_PRODUCTS.items():
        product = feed.get(product_id)
        assert product is not None, product_id
        assert (product.name, product.price, product.category) == listed
        assert product.url == f"/product/{product_id}"
        assert product.available
    assert set(shop["featured"]) <= set(STORY_PRODUCTS)
    assert 40 <= len(feed) <= 80
    assert {p.category for p in feed} == set(shop["categories"])
    assert any(not p.in_stock for p in feed)
    assert any(p.excluded for p in feed)
