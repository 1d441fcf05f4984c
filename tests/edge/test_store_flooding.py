"""One address cannot fill the profile store or bloat a profile through any public route
(security issue #19, finding 2): every path that starts a profile counts against the same
per-address budget, and a profile stays under its size bound whatever is sent."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import SimpleNamespace

import httpx2 as httpx
import orjson
import pytest
from starlette.testclient import TestClient

from opmaat import limits
from opmaat.limits import MAX_RECORD_BYTES
from opmaat.store import MemoryStore
from tests.edge import test_guard
from tests.edge.test_guard import Edge, another_address, decide, state

edge = test_guard.edge  # the fixture: an edge built from OPMAAT_* variables

ATTACKER = "203.0.113.66"
Flood = Callable[[TestClient], httpx.Response]

FLOODS: dict[str, Flood] = {
    "decide": lambda c: c.post("/v1/decide", content=json.dumps({"slots": ["hero"]})),
    "events": lambda c: c.post(
        "/v1/events", content=json.dumps({"type": "goal", "name": "newsletter_signup"})
    ),
    "preferences": lambda c: c.patch(
        "/v1/me", content=json.dumps({"prefs": {"interests": {"running": "more"}}})
    ),
    "consent": lambda c: c.post("/v1/consent", content=json.dumps({"tier": "full"})),
}


@pytest.fixture
def one_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter's clock stands still: however slow the machine, the flood is one minute's."""
    now = 60.0 * 29_000_000 + 1.0
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: now))


@pytest.mark.usefixtures("one_minute")
def test_no_route_lets_one_address_push_a_real_visitor_out_of_the_store(edge: Edge) -> None:
    client = edge(OPMAAT_STORE="memory://?max_profiles=100", OPMAAT_NEW_VISITORS_PER_MINUTE="20")
    store = state(client).personalizer.store
    assert isinstance(store, MemoryStore)
    visitor = another_address(client, "198.51.100.7")
    decide(visitor, ["hero"])
    assert visitor.post(
        "/v1/events",
        content=json.dumps(
            {"type": "goal", "name": "add_to_cart", "props": {"id": "tent", "price": 120}}
        ),
    ).is_success
    attacker = another_address(client, ATTACKER)
    for route, flood in FLOODS.items():
        for _ in range(300):
            attacker.cookies.clear()
            r = flood(attacker)
            assert r.status_code < 500, (route, r.text)
    assert len(store) <= 20 + 1, "one address started more profiles than its budget"
    assert visitor.get("/v1/me").json()["cart"]["count"] == 1, "a real visitor was evicted"


@pytest.mark.usefixtures("one_minute")
def test_past_the_budget_a_preference_change_is_still_answered(edge: Edge) -> None:
    client = edge(OPMAAT_NEW_VISITORS_PER_MINUTE="2")
    answers = []
    for _ in range(4):
        client.cookies.clear()
        answers.append(FLOODS["preferences"](client))
    assert all(r.status_code < 500 for r in answers)
    assert len(state(client).personalizer.store) == 2  # type: ignore[arg-type]
    assert "opmaat=" not in answers[-1].headers.get("set-cookie", "")


def test_a_profile_stays_under_its_size_bound_whatever_is_sent(edge: Edge) -> None:
    client = edge(OPMAAT_EVENTS_PER_MINUTE="0")
    store = state(client).personalizer.store
    assert isinstance(store, MemoryStore)
    for n in range(30):
        decide(
            client,
            ["hero", "sidebar"],
            url="http://127.0.0.1/p/" + "x" * 1900 + str(n),
            referrer="https://www.google.com/search?q=" + "y" * 1500,
            page={"category": f"cat{n}", "product": f"{n}" + "p" * 90, "product_name": "n" * 200},
        )
    refused = 0
    for n in range(60):
        product = {
            "id": f"{n:03d}" + "i" * 96,
            "name": "n" * 200,
            "url": "/" + "u" * 499,
            "price": 10,
        }
        for name in ("product_view", "add_to_cart"):
            r = client.post(
                "/v1/events", content=json.dumps({"type": "goal", "name": name, "props": product})
            )
            assert r.status_code in (200, 400), r.text
            if r.status_code == 400:
                assert "cart is full" in r.json()["error"]
                refused += 1
    assert refused > 0
    (visitor,) = store._data.keys()
    record = asyncio.run(store.get(visitor))
    assert record is not None
    size = len(orjson.dumps(record))
    assert size <= MAX_RECORD_BYTES, f"a profile of {size} bytes"
    cart = client.get("/v1/me").json()["cart"]
    assert cart["count"] >= 5, "the cart went to make room for page history"
    started = time.perf_counter()
    decide(client, ["hero", "sidebar"])
    assert time.perf_counter() - started < 0.5


@pytest.mark.usefixtures("one_minute")
def test_an_event_past_the_budget_says_nothing_was_kept(edge: Edge) -> None:
    client = edge(OPMAAT_NEW_VISITORS_PER_MINUTE="1")
    answers = []
    for _ in range(3):
        client.cookies.clear()
        answers.append(FLOODS["events"](client).json())
    assert [a["stored"] for a in answers] == [True, False, False]
