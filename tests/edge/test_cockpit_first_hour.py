"""What a marketer meets first in the cockpit: the preview's log out, a city that is one of the
site's locations, what a slot shows as text, the demo's own products in a previewed cart, each
campaign's label, and the demo's seeded numbers marked as such."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opmaat_edge.cockpit.preview import PreviewVisitor, parse_preview, visible_text
from tests.edge.conftest import MakeClient
from tests.edge.test_cockpit import PASSWORD, cell, login, section


@pytest.fixture
def cockpit(make_client: MakeClient) -> TestClient:
    client = make_client(cockpit_password=PASSWORD)
    assert login(client) == 303
    return client


def row(page: str, slot: str) -> str:
    found = page[page.index(f'data-slot="{slot}"') :]
    return found[: found.index("</tr>")]


def test_the_preview_page_can_log_out(cockpit: TestClient) -> None:
    page = cockpit.get("/cockpit/preview").text
    token = re.search(
        r'<form method="post" action="/cockpit/logout"><input type="hidden" name="csrf" '
        r'value="([^"]+)">',
        page,
    )
    assert token is not None
    cockpit.post("/cockpit/logout", data={"csrf": token.group(1)})
    assert cockpit.get("/cockpit/preview").status_code == 401


@pytest.mark.parametrize(
    ("city", "store", "km"), [("Utrecht", "Utrecht", "0"), ("berlin", "Berlin Mitte", "0")]
)
def test_a_city_that_is_a_location_of_the_site_gets_its_nearest_store(
    cockpit: TestClient, city: str, store: str, km: str
) -> None:
    page = cockpit.get("/cockpit/preview", params={"country": "NL", "city": city}).text
    found = row(page, "store")
    assert 'data-campaign="nearest-store"' in found
    assert f"our {store} store is {km} km from you" in found
    assert f"Our {store} store is 0.0 km from you" in found
    # A city the site has no location in has no position: no nearest store.
    elsewhere = cockpit.get("/cockpit/preview", params={"country": "NL", "city": "Delft"}).text
    assert 'data-slot="store" data-campaign=""' in elsewhere


def test_the_preview_shows_what_a_slot_reads_with_its_html_apart(cockpit: TestClient) -> None:
    page = cockpit.get("/cockpit/preview", params={"country": "NL", "city": "Utrecht"}).text
    hero = row(page, "hero")
    reason = re.search(r'data-cell="reason" class="wrap">([^<]*)<', hero)
    assert reason is not None
    assert reason.group(1) == "you are in Utrecht, the Netherlands"
    content = hero[hero.index('data-cell="content"') :]
    assert content.split("<details>")[0].endswith(
        "Goedendag, Utrecht! Same-day delivery in the Randstad."
    )
    assert "<summary>HTML</summary><pre>&lt;h2&gt;Goedendag, Utrecht!&lt;/h2&gt;" in content


def test_visible_text_is_what_a_visitor_reads() -> None:
    assert visible_text("<h2>Hi</h2><p>there &amp; <b>you</b></p>") == "Hi there & you"
    assert visible_text("<style>p{color:red}</style><p>Shown</p><script>x()</script>") == "Shown"
    assert visible_text("<p>\n  spaced\n   out </p>") == "spaced out"


def test_a_previewed_cart_holds_the_demos_products_or_the_names_given(
    cockpit: TestClient,
) -> None:
    cart = {"cart_items": "2", "cart_value": "80", "cart_abandoned": "1"}
    page = cockpit.get("/cockpit/preview", params=cart).text
    assert "You left Trail Runner 3, Road Racer in your cart (€80.00)." in row(page, "hero")
    assert 'value="Trail Runner 3, Road Racer"' in page  # the form says which
    named = cockpit.get("/cockpit/preview", params={**cart, "cart_products": "Tent , Stove"}).text
    assert "You left Tent, Stove in your cart" in row(named, "hero")


def test_cart_products_without_a_count_count_themselves() -> None:
    visitor = parse_preview({"cart_products": "Tent, Stove, Mat"})
    assert visitor.products == ["Tent", "Stove", "Mat"]
    assert PreviewVisitor(cart_items=2).products == ["Product 1", "Product 2"]
    assert PreviewVisitor(cart_items=3, cart_products="Tent").products == ["Tent"] * 3
    with pytest.raises(ValueError, match="cart products"):
        parse_preview({"cart_products": "x" * 81})


def test_the_campaign_list_shows_each_label(cockpit: TestClient) -> None:
    page = cockpit.get("/cockpit").text
    label = section(page, "search-hero")
    assert "“A welcome for visitors from a search engine”" in label
    assert "(what visitors see on their privacy page)" in label


def test_a_campaign_without_a_label_says_what_visitors_see(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(
        "slots: {hero: {}}\ncampaigns:\n"
        "  - {id: plain, slot: hero, variants: [{key: a, html: x}]}\n"
    )
    client = make_client(config, demo=False, cockpit_password=PASSWORD)
    login(client)
    assert "none, so visitors see “a promotion”" in section(client.get("/cockpit").text, "plain")


def test_the_demos_seeded_numbers_show_an_uplift_and_are_marked(cockpit: TestClient) -> None:
    page = section(cockpit.get("/cockpit").text, "third-visit")
    assert "Seeded demo data" in page
    assert cell(page, "a", "visitors") == "800"
    assert cell(page, "holdout", "visitors") == "200"
    assert cell(page, "a", "uplift") == "+87.5% (95% CI +13.9% to +208.5%)"
    # No other campaign is marked, and no other campaign's numbers were touched.
    assert cockpit.get("/cockpit").text.count('data-field="seeded"') == 1
    assert cell(section(cockpit.get("/cockpit").text, "search-hero"), "a", "impressions") == "0"


def test_only_the_demo_seeds_numbers(make_client: MakeClient) -> None:
    client = make_client(demo=False, cockpit_password=PASSWORD)
    login(client)
    page = section(client.get("/cockpit").text, "third-visit")
    assert "Seeded demo data" not in page
    assert cell(page, "a", "visitors") == "0"
