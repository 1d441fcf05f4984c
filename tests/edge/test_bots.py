"""Crawlers get the standard content and leave nothing behind (issue #23): no profile, no
cookie, no tallies; they are counted apart."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from opmaat.identity import COOKIE_NAME
from opmaat.reasons import BOT
from tests.edge.test_consent import GOOGLE, HOME, decide, set_cookie_header, store_of

GOOGLEBOT = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)"
)
BYTESPIDER = (
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
    "(compatible; Bytespider; spider-feedback@bytedance.com)"
)


def test_a_crawler_gets_default_content_and_leaves_nothing(client: TestClient) -> None:
    for agent in (GOOGLEBOT, BYTESPIDER):
        r = decide(client, headers={"User-Agent": agent})
        slots = r.json()["slots"]
        assert {s["campaign"] for s in slots.values()} == {None}
        assert {s["reason"] for s in slots.values()} == {BOT}
        assert set_cookie_header(r, COOKIE_NAME) is None
    assert len(store_of(client)) == 0
    health = client.get("/healthz").json()
    assert health["counters"]["bots"] == 2


def test_a_crawlers_impressions_and_clicks_are_not_counted(client: TestClient) -> None:
    person = decide(client).json()["slots"]["hero"]
    assert person["campaign"] is not None
    event = {
        "type": "impression",
        "slot": "hero",
        "campaign": person["campaign"],
        "variant": person["variant"],
        **({"token": person["token"]} if "token" in person else {}),
    }
    before = client.get("/healthz").json()["counters"]
    r = client.post("/v1/events", content=json.dumps(event), headers={"User-Agent": GOOGLEBOT})
    assert r.status_code < 500
    state = client.app.state.edge  # type: ignore[attr-defined]
    import asyncio

    tallies = asyncio.run(state.personalizer.store.tallies([person["campaign"]]))
    assert not any(
        counts.get("impressions") for counts in tallies.get(person["campaign"], {}).values()
    )
    assert client.get("/healthz").json()["counters"]["bots"] == before["bots"] + 1


def test_a_person_taken_for_a_bot_keeps_their_cookie(client: TestClient) -> None:
    decide(client, referrer=GOOGLE, url=HOME)
    r = decide(client, headers={"User-Agent": BYTESPIDER})
    assert set_cookie_header(r, COOKIE_NAME) is None  # neither renewed nor deleted
    assert client.get("/v1/me").json()["session"]["pageviews"] == 1
