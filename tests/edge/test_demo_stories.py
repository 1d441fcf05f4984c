"""The demo's stories as /campaigns and the home page tell them: a simulated search arrival,
the intent offer over the event offers, counts beside the adaptive shares, and the holdout."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.testclient import TestClient

from opmaat.campaigns import load_campaigns
from opmaat.engine import Engine
from opmaat_edge.resources import DEMO_CAMPAIGNS


def test_a_search_arrival_is_simulated_through_the_referrer_the_snippet_sends(
    client: TestClient,
) -> None:
    page = client.get("/", params={"demo_search": "tent"}).text
    assert (
        'Object.defineProperty(document, "referrer", '
        '{value: "https://www.google.com/search?q=tent", configurable: true});'
    ) in page
    assert 'history.replaceState(null, "", "/");' in page
    # The script comes before the snippet, which reads document.referrer when it runs.
    assert page.index("defineProperty") < page.index("/opmaat.js?v=")
    assert "Simulated: you arrived from a Google search for “tent”" in page
    # Starting a new visit keeps its own parameter in the address.
    again = client.get("/", params={"demo_search": "tent", "utm_campaign": "from-search"}).text
    assert 'history.replaceState(null, "", "/?utm_campaign=from-search");' in again
    assert "defineProperty" not in client.get("/").text


def test_the_simulated_term_is_cut_and_cannot_break_out_of_the_script(client: TestClient) -> None:
    page = client.get("/", params={"demo_search": "</script><b>x" + "y" * 200}).text
    script = page[
        page.index("defineProperty") : page.index("</script>", page.index("defineProperty"))
    ]
    assert "<b>" not in script
    assert "y" * 100 not in script
    assert "&lt;/script&gt;&lt;b&gt;x" in page  # the banner escapes it


def test_what_the_simulated_arrival_sends_picks_the_search_hero(client: TestClient) -> None:
    body = {
        "slots": ["hero"],
        "url": "http://127.0.0.1/",
        "referrer": "https://www.google.com/search?q=tent",
    }
    hero = client.post("/v1/decide", content=json.dumps(body)).json()["slots"]["hero"]
    assert hero["campaign"] == "search-hero"
    assert "Everything for “tent”" in hero["html"]


def test_the_guide_says_why_a_search_mid_visit_keeps_welcome(client: TestClient) -> None:
    guide = client.get("/campaigns").text
    section = guide[guide.index('id="search"') : guide.index('id="purl"')]
    assert 'href="/?demo_search=tent"' in section
    assert "In the middle of a visit the hero keeps “Welcome”" in section
    assert "no browser sends an https page as the referrer of a plain-http address" in section


def test_the_intent_offer_wins_over_the_event_offers_of_its_slot() -> None:
    engine = Engine(load_campaigns(DEMO_CAMPAIGNS, load_data=False))
    profile: dict[str, Any] = {
        "visitor": {"id": "v-1", "visits": 3},
        "consent": {"tier": "full"},
        "events": {"product_view": {"count_1d": 3}},
        "milestone": {"third_visit": True},
        "intent": {"score": 76},
        "journey": {"stage": "buy"},
    }
    assert engine.decide(profile, ["offer"])["offer"].campaign == "ready-to-buy"
    profile["intent"] = {"score": 46}  # three product views alone
    assert engine.decide(profile, ["offer"])["offer"].campaign == "three-products-today"


def test_the_adaptive_table_shows_counts_and_no_rate_before_any(client: TestClient) -> None:
    def table() -> str:
        page = client.get("/campaigns").text
        start = page.index('id="adaptive"')
        return page[start : page.index("</table>", start)]

    fresh = table()
    assert "<th>Seen</th><th>Clicked</th><th>Click rate</th>" in fresh
    assert re.search(
        r"<tr><td>shipping</td><td>3\d\.\d%</td><td>0</td><td>0</td><td>\u2013</td></tr>", fresh
    )
    assert "50.0%" not in fresh
    store = client.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    for field, count in (("impressions", 40), ("conversions", 2)):
        for _ in range(count):
            client.portal.call(store.tally, "promo-test", "shipping", field)  # type: ignore[union-attr]
    assert re.search(
        r"<td>shipping</td><td>[\d.]+%</td><td>40</td><td>2</td><td>5.0%</td>", table()
    )


def test_the_guide_tells_the_holdout_story(client: TestClient) -> None:
    guide = client.get("/campaigns").text
    story = guide[guide.index('id="holdout"') :]
    story = story[: story.index("</p>")]
    assert "20% of" in story
    assert 'href="/cockpit#c-third-visit"' in story
    assert "<code>purchase</code>" in story
    assert "seeded" in story
