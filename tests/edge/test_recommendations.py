"""Recommendations through the edge's HTTP API: slots filled by templates that call
``recommendations(...)``, learning from the visitors' own product views, the server API's
``recommendations`` for email and app channels, /me explaining each item's reason and obeying
"less of this", and the demo shop's catalogue with its seeded "viewed together" slot."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from opmaat.recommend import load_feed
from opmaat_edge import demo_recommendations
from opmaat_edge.resources import DEMO
from opmaat_edge.state import EdgeState
from tests.edge.conftest import MakeClient

KEY = "r" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}
FEED = """\
id,name,url,price,category
tent,Dome tent,/p/tent,179,outdoor
mat,Sleeping mat,/p/mat,35,outdoor
helmet,City helmet,/p/helmet,59,cycling
light,Bike light,/p/light,24,cycling
"""
CONFIG = """\
site: {consent_default: full}
recommendations:
  feed: feed.csv
  serendipity: 0
  strategies:
    viewed-together: {}
    popular: {}
slots:
  related: {default: ""}
campaigns:
  - id: related
    slot: related
    channels: [web, email]
    variants:
      - key: a
        html: "{% for i in recommendations('viewed-together', n=3) %}<li>{{ i.name }}: \\
          {{ i.reason }}</li>{% endfor %}"
"""


def write_shop(folder: Path) -> Path:
    """The campaign file (and its feed) of these tests, written into ``folder``."""
    (folder / "feed.csv").write_text(FEED, encoding="utf-8")
    config = folder / "campaigns.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return write_shop(tmp_path)


@pytest.fixture
def edge(make_client: MakeClient, shop: Path) -> TestClient:
    return make_client(shop, demo=False, api_keys=(KEY,))


def state(client: TestClient) -> EdgeState:
    app = client.app
    assert isinstance(app, Starlette)
    found: EdgeState = app.state.edge
    return found


def refresh(client: TestClient) -> None:
    personalizer = state(client).personalizer
    portal = client.portal
    assert portal is not None
    portal.call(personalizer.recommender.refresh, personalizer.runtime.current.campaigns)


def decide(client: TestClient, product: str | None, slots: tuple[str, ...] = ("related",)) -> Any:
    body = {
        "slots": list(slots),
        "url": f"http://127.0.0.1/p/{product or ''}",
        "page": {"product": product} if product else {},
    }
    r = client.post("/v1/decide", content=json.dumps(body))
    assert r.status_code == 200
    return r.json()["slots"]


def server_decide(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/v1/decide", content=json.dumps(body), headers={**AUTH, **headers})


def browse(make: Callable[[], TestClient], *products: str) -> None:
    visitor = make()
    for product in products:
        decide(visitor, product)


def test_one_visitors_co_views_fill_the_next_visitors_slot_with_reasons(
    make_client: MakeClient, shop: Path
) -> None:
    first = make_client(shop, demo=False, peer="192.0.2.1")
    assert decide(first, "tent")["related"]["html"] == ""  # nothing learned yet
    decide(first, "mat")
    refresh(first)
    # Another visitor on the same edge (its own cookie jar, its own address).
    other = TestClient(first.app, client=("203.0.113.5", 50000), base_url="http://127.0.0.1")
    slot = decide(other, "tent")["related"]
    assert slot["campaign"] == "related"
    assert slot["html"] == "<li>Sleeping mat: people who viewed Dome tent also viewed this</li>"


def test_the_edge_refreshes_what_was_learned_by_itself(make_client: MakeClient, shop: Path) -> None:
    client = make_client(shop, demo=False, reload_interval=0.05)
    decide(client, "tent")
    decide(client, "mat")
    client.cookies.clear()  # another visitor
    deadline = time.monotonic() + 5
    while "Sleeping mat" not in decide(client, "tent")["related"]["html"]:
        assert time.monotonic() < deadline, "keep_in_step did not refresh the recommendations"
        time.sleep(0.05)


def learn_tent_and_mat(client: TestClient) -> None:
    decide(client, "tent")
    decide(client, "mat")
    client.cookies.clear()
    decide(client, "helmet")
    refresh(client)


def test_the_server_api_returns_lists_with_reasons_for_an_email(edge: TestClient) -> None:
    learn_tent_and_mat(edge)
    r = server_decide(
        edge,
        {
            "channel": "email",
            "attributes": {"geo": {"country": "NL"}},
            "slots": [],
            "recommendations": {
                "viewed-together": {"n": 2, "products": ["tent"]},
                "popular": None,
            },
        },
    )
    assert r.status_code == 200
    lists = r.json()["recommendations"]
    assert lists["viewed-together"] == [
        {
            "id": "mat",
            "name": "Sleeping mat",
            "url": "/p/mat",
            "price": 35.0,
            "image": None,
            "category": "outdoor",
            "reason": "people who viewed Dome tent also viewed this",
            "serendipitous": False,
        },
        {  # a short list is topped up with popular products
            "id": "helmet",
            "name": "City helmet",
            "url": "/p/helmet",
            "price": 59.0,
            "image": None,
            "category": "cycling",
            "reason": "popular right now",
            "serendipitous": False,
        },
    ]
    assert {item["id"] for item in lists["popular"]} == {"tent", "mat", "helmet"}
    assert {item["reason"] for item in lists["popular"]} == {"popular right now"}


def test_an_email_template_calls_recommendations_for_the_customer(edge: TestClient) -> None:
    learn_tent_and_mat(edge)
    r = server_decide(
        edge,
        {"channel": "email", "attributes": {"page": {"product": "tent"}}, "slots": ["related"]},
    )
    assert r.status_code == 200
    assert (
        "Sleeping mat: people who viewed Dome tent also viewed this"
        in (r.json()["slots"]["related"]["html"])
    )
    assert "recommendations" not in r.json()  # only when asked for


@pytest.mark.parametrize(
    ("wanted", "said"),
    [
        ("for-you", "recommendations is an object of 1-10 strategy names"),
        ({}, "recommendations is an object of 1-10 strategy names"),
        ({"for-you": {}}, "recommendations.for-you: no such strategy; the campaign file has "),
        ({"popular": {"n": 51}}, "recommendations.popular: n is how many items"),
        ({"popular": {"n": True}}, "recommendations.popular: n is how many items"),
        ({"popular": {"size": 3}}, "recommendations.popular: the options are n and products"),
        ({"popular": [3]}, "recommendations.popular: the options are n and products"),
        ({"popular": {"products": ["x"] * 6}}, "a list of at most 5 product ids"),
        ({f"s{i}": {} for i in range(11)}, "recommendations is an object of 1-10"),
    ],
)
def test_the_server_api_refuses_bad_recommendation_requests(
    edge: TestClient, wanted: Any, said: str
) -> None:
    r = server_decide(edge, {"channel": "app", "customer_id": "c1", "recommendations": wanted})
    assert r.status_code == 400
    assert said in r.json()["error"]


def test_recommendations_need_the_api_key_and_a_section(make_client: MakeClient) -> None:
    body = {"channel": "app", "customer_id": "c1", "recommendations": {"popular": {}}}
    without = make_client(api_keys=(KEY,))  # the demo has a section
    assert server_decide(without, body, Authorization="Bearer wrong").status_code == 401
    plain = make_client(DEMO.parent / "demo" / "campaigns.yaml", api_keys=(KEY,))
    assert server_decide(plain, body).status_code == 400  # the demo names no "popular"


def me(client: TestClient) -> str:
    r = client.get("/me")
    assert r.status_code == 200
    return r.text


def test_the_privacy_page_explains_each_recommendation_and_obeys_less_of_this(
    make_client: MakeClient, shop: Path
) -> None:
    first = "    popular: {}\n    viewed-together: {}\n"  # the page shows the first one's list
    shop.write_text(CONFIG.replace("    viewed-together: {}\n    popular: {}\n", first))
    client = make_client(shop, demo=False)
    for product in ("tent", "tent", "tent", "mat", "mat", "helmet"):
        client.cookies.clear()
        decide(client, product)
    refresh(client)
    page = me(client)  # the visitor who viewed the helmet
    assert "Recommendations, and why" in page
    assert "Your own views, cart and orders count in them too" in page
    rows = re.findall(r'<td data-label="Product">([^<]+)</td><td data-label="Why">([^<]+)<', page)
    assert rows == [
        ("Dome tent", "popular right now"),
        ("Sleeping mat", "popular right now"),
        ("City helmet", "popular right now"),
    ]
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token is not None
    fields = {"token": token.group(1), "action": "prefs", "add_interest": "outdoor"}
    r = client.post("/me", data={**fields, "add_choice": "less"}, follow_redirects=False)
    assert r.status_code == 303
    after = me(client)
    rows = re.findall(r'<td data-label="Product">([^<]+)</td><td data-label="Why">([^<]+)<', after)
    assert rows == [("City helmet", "popular right now")]
    assert "<td>outdoor</td>" in after  # the choice is listed with the visitor's interests


def test_a_visitor_who_keeps_nothing_is_told_they_teach_nothing(
    make_client: MakeClient, shop: Path
) -> None:
    shop.write_text(CONFIG.replace("consent_default: full", "consent_default: session"))
    page = me(make_client(shop, demo=False))
    assert "Nothing you do counts in them" in page


# --- the demo shop ---------------------------------------------------------------------------


def test_the_demo_shop_has_a_page_for_every_product_of_its_feed(client: TestClient) -> None:
    feed = load_feed(DEMO / "catalogue.csv")
    for product in feed:
        page = client.get(f"/product/{product.id}")
        assert page.status_code == 200, product.id
        assert product.name in page.text
        assert ('id="add-to-cart"' in page.text) is product.in_stock
    assert "Out of stock" in client.get("/product/track-spike").text
    running = client.get("/c/running").text
    assert running.count('<div class="card">') == sum(p.category == "running" for p in feed)
    home = client.get("/").text
    assert [name for name in ("Trail Runner 3", "City helmet") if name in home] == [
        "Trail Runner 3",
        "City helmet",
    ]


def test_a_demo_product_page_shows_what_was_viewed_together_with_it(client: TestClient) -> None:
    assert 'data-opmaat-slot="related"' in client.get("/product/dome-tent").text
    slot = decide(client, "dome-tent")["related"]
    assert slot["campaign"] == "viewed-together"
    html = slot["html"]
    reasons = re.findall(r'<small class="reason">([^<]+)</small>', html)
    assert reasons[:3] == ["people who viewed Two-person dome tent also viewed this"] * 3
    assert reasons[3:] == ["something different"]  # the section's serendipity: one of four
    for name in ("Rain jacket", "Tent footprint"):  # the seeded sessions viewed them with it
        assert name in html


def test_the_demo_is_seeded_once_from_sessions_of_available_products() -> None:
    feed = load_feed(DEMO / "catalogue.csv")
    for views, order in demo_recommendations.SESSIONS:
        for product in (*views, *order):
            found = feed.get(product)
            assert found is not None, product
            assert found.available, product
        assert set(order) <= set(views)


def test_a_restarted_demo_does_not_seed_a_model_that_learned_already(
    client: TestClient,
) -> None:
    client.get("/")  # seeded
    recommender = state(client).personalizer.recommender.current(
        state(client).runtime.current.campaigns
    )
    assert recommender is not None
    portal = client.portal
    assert portal is not None
    assert portal.call(demo_recommendations.seed, recommender) is False
