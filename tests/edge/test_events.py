from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.edge.conftest import MakeClient

GOOGLE = "https://www.google.com/search?q=trail+shoes"


def start(client: TestClient) -> dict[str, Any]:
    """Decide the hero slot; what the snippet then sends about it: slot, campaign, variant and
    the decision's token."""
    body = {"slots": ["hero"], "url": "http://127.0.0.1/", "referrer": GOOGLE}
    r = client.post("/v1/decide", content=json.dumps(body))
    assert r.status_code == 200
    hero = r.json()["slots"]["hero"]
    return {k: hero[k] for k in ("slot", "campaign", "variant", "token")}


def event(client: TestClient, **body: object) -> tuple[int, dict[str, object]]:
    r = client.post("/v1/events", content=json.dumps(body))
    data: dict[str, object] = r.json()
    return r.status_code, data


def test_impressions_and_clicks_land_in_the_profile(client: TestClient) -> None:
    hero = start(client)
    assert (hero["campaign"], hero["variant"]) == ("search-hero", "a")
    assert event(client, type="impression", **hero)[0] == 200
    assert event(client, type="click", **hero)[0] == 200
    response = client.get("/v1/me").json()["response"]["search-hero"]
    assert response["impressions"] == 1
    assert response["clicks"] == 1
    assert response["conversions"] == 1  # the demo campaign's goal is the click
    assert "seen" not in response  # impression times are kept for capped campaigns only


def test_a_capped_campaign_keeps_only_as_many_impression_times_as_its_cap(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "site: {consent_default: full}\nslots: {hero: {default: x}}\ncampaigns:\n"
        "  - id: capped\n    slot: hero\n    frequency: {max: 3, per: 1d}\n"
        "    variants: [{key: a, html: <b>hi</b>}]\n"
    )
    client = make_client(config, demo=False)
    # Five pages (tabs) decided before any was seen: the cap counts impressions, not decisions.
    shown = [start(client) for _ in range(5)]
    assert {s["campaign"] for s in shown} == {"capped"}
    for hero in shown:
        assert event(client, type="impression", **hero)[0] == 200
    entry = client.get("/v1/me").json()["response"]["capped"]
    assert entry["impressions"] == 5
    assert len(entry["seen"]) == 3


def test_goal_counts_for_campaigns_the_visitor_saw(client: TestClient) -> None:
    start(client)
    assert event(client, type="goal", name="purchase", props={"value": 10})[0] == 200
    # Decided (the arm is noted, for uplift) but its goal is another event: nothing counted.
    entry = client.get("/v1/me").json()["response"]["search-hero"]
    assert (entry["impressions"], entry["conversions"], entry["arm"]) == (0, 0, "a")
    assert "converted" not in entry


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "explode"}, "event type"),
        ({"type": "impression", "campaign": "no-such"}, "needs the token of its decision"),
        ({"type": "click"}, "needs the token of its decision"),
        ({"type": "goal", "name": "Bad Name!"}, "unknown event 'Bad Name!'"),
        ({"type": "goal", "name": 3}, "unknown event '3'"),
        ({"type": "goal", "name": "made_up"}, "list it under site.events"),
        ({"type": "goal", "name": "add_to_cart"}, "needs props with the product"),
        ({"type": "goal", "name": "add_to_cart", "props": {"id": "x", "price": -1}}, "price"),
        ({"type": "goal", "name": "add_to_cart", "props": "x"}, "props must be an object"),
        ({"type": "goal", "name": "purchase", "props": {"value": "lots"}}, "purchase value"),
        (
            {"type": "goal", "name": "product_view", "props": {"id": "x", "url": "javascript:x"}},
            "product.url",
        ),
    ],
)
def test_bad_events_are_refused_and_nothing_is_lost(
    client: TestClient, body: dict[str, object], message: str
) -> None:
    event(client, type="impression", **start(client))
    status, data = event(client, **body)
    assert status == 400
    assert message in str(data["error"])
    assert client.get("/v1/me").json()["response"]["search-hero"]["impressions"] == 1


def test_first_request_may_be_an_event(client: TestClient) -> None:
    status, _ = event(client, type="goal", name="purchase", url="http://127.0.0.1/thanks")
    assert status == 200
    assert client.cookies["opmaat"]
    me = client.get("/v1/me").json()
    assert me["visitor"]["visits"] == 1
    assert me["session"]["pageviews"] == 0
    assert me["session"]["landing_url"] == "http://127.0.0.1/thanks"


def test_oversized_event_is_refused(client: TestClient) -> None:
    start(client)
    r = client.post(
        "/v1/events", content=json.dumps({"type": "goal", "name": "x", "p": "y" * 20000})
    )
    assert r.status_code == 413


def test_corrupt_stored_counters_do_not_break_events(client: TestClient) -> None:
    hero = start(client)
    state = client.app.state.edge  # type: ignore[attr-defined]
    visitor_id = client.get("/v1/me").json()["visitor"]["id"]
    store = state.personalizer.store
    record, token = client.portal.call(store.load, visitor_id)  # type: ignore[union-attr]
    record["response"] = {"search-hero": {"impressions": "lots", "clicks": None, "seen": "x"}}
    client.portal.call(store.store_if, visitor_id, record, 60, token)  # type: ignore[union-attr]
    assert event(client, type="impression", **hero)[0] == 200
    assert event(client, type="click", **hero)[0] == 200
    response = client.get("/v1/me").json()["response"]["search-hero"]
    assert (response["impressions"], response["clicks"]) == (1, 1)
    assert "seen" not in response  # the demo's search-hero has no cap


def test_events_are_tallied_per_variant_and_streamed(client: TestClient) -> None:
    import asyncio

    hero = start(client)
    store = client.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    event(client, type="impression", **hero)
    event(client, type="click", **hero)
    tallies = asyncio.run(store.tallies(["search-hero"]))
    assert tallies == {
        "search-hero": {
            "a": {
                "impressions": 1,
                "clicks": 1,
                "conversions": 1,
                "visitors": 1,
                "converted": 1,
                "held_back": 0,
            }
        }
    }
    kinds = [(e["type"], e.get("campaign"), e.get("variant")) for e in store.events]
    assert kinds == [("impression", "search-hero", "a"), ("click", "search-hero", "a")]
    assert {e["visitor"] for e in store.events} == {client.get("/v1/me").json()["visitor"]["id"]}
    # Without consent to keep anything: counted in the totals, not in the stream.
    client.post("/v1/consent", content=json.dumps({"tier": "none"}))
    event(client, type="impression", **start(client))
    tallies = asyncio.run(store.tallies(["search-hero"]))
    assert tallies["search-hero"]["a"]["impressions"] == 2
    assert len(store.events) == 0  # choosing none forgot the visitor's events as well


def test_an_unknown_variant_is_refused(client: TestClient) -> None:
    hero = start(client)
    status, data = event(client, type="impression", **{**hero, "variant": "zz"})
    assert status == 400
    assert "another campaign, variant or slot" in str(data["error"])


def test_a_goal_is_tallied_for_the_variant_the_visitor_saw(
    make_client: MakeClient, tmp_path: Path
) -> None:
    import asyncio

    config = tmp_path / "c.yaml"
    config.write_text(
        "site: {consent_default: full}\nslots: {hero: {default: x}}\ncampaigns:\n"
        "  - id: sale\n    slot: hero\n    goal: purchase\n"
        "    variants: [{key: b, html: <b>sale</b>}]\n"
    )
    client = make_client(config, demo=False)
    event(client, type="impression", **start(client))
    event(client, type="goal", name="purchase")
    store = client.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    tallies = asyncio.run(store.tallies(["sale"]))
    assert tallies == {
        "sale": {
            "b": {
                "impressions": 1,
                "clicks": 0,
                "conversions": 1,
                "visitors": 1,
                "converted": 1,
                "held_back": 0,
            }
        }
    }
    assert client.get("/v1/me").json()["response"]["sale"]["conversions"] == 1
