"""Impressions and clicks count only for a decision the visitor was given (its token), once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from opmaat.adaptive import traffic_shares
from opmaat.decision_tokens import DecisionTokens
from opmaat.engine import Decision
from opmaat.store import MemoryStore
from opmaat_edge.state import EdgeState
from tests.edge.conftest import MakeClient

LEARNING = (
    "site: {consent_default: full}\nslots: {hero: {default: x}, side: {default: y}}\n"
    "campaigns:\n"
    "  - id: learning\n    slot: hero\n    allocation: adaptive\n    goal: click\n"
    "    variants: [{key: a, html: a}, {key: b, html: b}]\n"
)


@pytest.fixture
def edge(make_client: MakeClient, tmp_path: Path) -> TestClient:
    config = tmp_path / "campaigns.yaml"
    config.write_text(LEARNING)
    return make_client(config, demo=False)


def state(client: TestClient) -> EdgeState:
    found: EdgeState = client.app.state.edge  # type: ignore[attr-defined]
    return found


def store(client: TestClient) -> MemoryStore:
    found = state(client).personalizer.store
    assert isinstance(found, MemoryStore)
    return found


def decide(client: TestClient, consent: str | None = None) -> dict[str, Any]:
    body = {"slots": ["hero", "side"], "url": "http://127.0.0.1/", "consent": consent}
    r = client.post("/v1/decide", content=json.dumps(body))
    assert r.status_code == 200, r.text
    slots: dict[str, Any] = r.json()["slots"]
    return slots


def shown(slot: dict[str, Any]) -> dict[str, Any]:
    """What the snippet sends about a filled slot (its data-opmaat-* marks)."""
    return {k: slot.get(k) for k in ("slot", "campaign", "variant", "token")}


def send(client: TestClient, kind: str, about: dict[str, Any], **more: Any) -> httpx.Response:
    return client.post("/v1/events", content=json.dumps({"type": kind, **about, **more}))


def tallies(client: TestClient) -> dict[str, Any]:
    assert client.portal is not None
    counted: dict[str, dict[str, Any]] = client.portal.call(store(client).tallies, ["learning"])
    return counted.get("learning", {})


def counts(client: TestClient, variant: str) -> tuple[int, int]:
    row = tallies(client).get(variant, {})
    return row.get("impressions", 0), row.get("clicks", 0)


def shares(client: TestClient) -> list[float]:
    assert client.portal is not None
    client.portal.call(state(client).personalizer.learn)
    engine = state(client).runtime.current.engine
    return list(traffic_shares(engine.posteriors["learning"], engine.adaptive[0].exploration))


def refused(r: httpx.Response, message: str) -> None:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert message in r.json()["error"]


def test_each_decided_slot_carries_its_token_and_a_default_slot_none(edge: TestClient) -> None:
    slots = decide(edge)
    assert len(slots["hero"]["token"]) == 40
    assert slots["side"]["campaign"] is None
    assert slots["side"]["token"] is None


def test_a_thousand_made_up_clicks_move_nothing(edge: TestClient) -> None:
    genuine = shown(decide(edge)["hero"])
    other = "b" if genuine["variant"] == "a" else "a"
    before, shares_before = tallies(edge), shares(edge)
    assert shares_before == pytest.approx([0.5, 0.5], abs=0.02)
    edge.cookies.clear()  # a script without a cookie, as consent "none" would send it
    made_up = Decision("hero", "learning", other, None, "r")
    forged = DecisionTokens(["not-the-edges-key-0123"]).make({"hero": made_up}, None)["hero"]
    fakes: list[dict[str, Any]] = [
        {"slot": "hero", "campaign": "learning", "variant": other},
        {"slot": "hero", "campaign": "learning", "variant": other, "token": "A" * 40},
        {"slot": "hero", "campaign": "learning", "variant": other, "token": forged},
        {**genuine, "variant": other},  # another variant than the one decided
        {**genuine, "slot": "side"},
    ]
    for n in range(1000):
        r = send(edge, "click", fakes[n % len(fakes)], consent="none")
        assert r.status_code == 400, r.text
    assert tallies(edge) == before
    assert shares(edge) == shares_before
    assert not store(edge).events


def test_a_replayed_token_counts_once(edge: TestClient) -> None:
    hero = shown(decide(edge)["hero"])
    variant = hero["variant"]
    answers = [send(edge, "impression", hero).json() for _ in range(3)]
    assert answers[0] == {"ok": True, "stored": True}
    assert answers[1:] == [{"ok": True, "stored": False, "repeat": True}] * 2
    for _ in range(3):
        assert send(edge, "click", hero).status_code == 200
    assert counts(edge, variant) == (1, 1)
    assert tallies(edge)[variant]["conversions"] == 1
    entry = edge.get("/v1/me").json()["response"]["learning"]
    assert (entry["impressions"], entry["clicks"]) == (1, 1)
    assert [e["type"] for e in store(edge).events] == ["impression", "click"]
    # A decision of its own counts again.
    assert send(edge, "impression", shown(decide(edge)["hero"])).json()["stored"] is True
    assert counts(edge, variant) == (2, 1)


def test_a_click_before_its_impression_counts_both(edge: TestClient) -> None:
    hero = shown(decide(edge)["hero"])
    variant = hero["variant"]
    assert send(edge, "click", hero).status_code == 200
    assert counts(edge, variant) == (1, 1)
    entry = edge.get("/v1/me").json()["response"]["learning"]
    assert (entry["impressions"], entry["clicks"]) == (1, 1)
    assert send(edge, "impression", hero).json()["repeat"] is True
    assert counts(edge, variant) == (1, 1)


def test_without_consent_a_genuine_decision_still_counts_once(edge: TestClient) -> None:
    edge.cookies.clear()
    hero = shown(decide(edge, consent="none")["hero"])
    assert "opmaat" not in edge.cookies
    for kind in ("impression", "impression", "click", "click"):
        r = send(edge, kind, hero, consent="none")
        assert r.status_code == 200, r.text
        assert r.json()["stored"] is False
    assert counts(edge, hero["variant"]) == (1, 1)
    assert not store(edge).events


def test_a_token_given_to_another_visitor_is_refused(edge: TestClient) -> None:
    theirs = shown(decide(edge)["hero"])
    edge.cookies.clear()
    decide(edge)  # a visitor of their own, with a cookie of their own
    refused(send(edge, "impression", theirs), "given to another visitor")
    assert counts(edge, theirs["variant"]) == (0, 0)


def test_the_visitor_who_was_given_it_counts_after_a_consent_choice(edge: TestClient) -> None:
    # Decided before the banner was answered (nobody kept): the token names no visitor.
    edge.cookies.clear()
    hero = shown(decide(edge, consent="none")["hero"])
    assert edge.post("/v1/consent", content=json.dumps({"tier": "full"})).status_code == 200
    decide(edge)  # the snippet decides again after the choice; the earlier slot stays shown
    assert send(edge, "impression", hero).json()["stored"] is True
    assert counts(edge, hero["variant"]) == (1, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"token": None}, "needs the token of its decision"),
        ({"token": 12}, "no decision token"),
        ({"token": "x" * 41}, "no decision token"),
        ({"token": "A" * 40}, "not one of ours"),
        ({"campaign": "other"}, "another campaign, variant or slot"),
        ({"variant": None}, "another campaign, variant or slot"),
        ({"slot": "side"}, "another campaign, variant or slot"),
        ({"slot": 3}, "another campaign, variant or slot"),
    ],
)
def test_a_bad_token_is_a_400_that_counts_and_keeps_nothing(
    edge: TestClient, changes: dict[str, Any], message: str
) -> None:
    hero = shown(decide(edge)["hero"])
    record = edge.get("/v1/me").json()["response"]["learning"]
    for kind in ("impression", "click"):
        refused(send(edge, kind, {**hero, **changes}), message)
    assert counts(edge, hero["variant"]) == (0, 0)
    assert edge.get("/v1/me").json()["response"]["learning"] == record
    assert not store(edge).events
    # The genuine token was not spent by the refusals.
    assert send(edge, "impression", hero).json()["stored"] is True


def test_an_expired_token_is_refused(edge: TestClient) -> None:
    hero = shown(decide(edge)["hero"])
    state(edge).personalizer.decision_tokens.max_age = -1  # every token is too old now
    refused(send(edge, "impression", hero), "has expired")
    assert counts(edge, hero["variant"]) == (0, 0)


def test_an_edge_with_the_same_keys_counts_another_edges_tokens(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(LEARNING)
    first, second = make_client(config, demo=False), make_client(config, demo=False)
    hero = shown(decide(first)["hero"])
    second.cookies = first.cookies
    assert send(second, "impression", hero).json()["stored"] is True
    assert counts(second, hero["variant"]) == (1, 0)
