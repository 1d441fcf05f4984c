from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from tests.edge.conftest import MakeClient

GOOGLE = "https://www.google.com/search?q=trail+shoes"
HOME = "http://127.0.0.1/"


def decide(client: TestClient, slots: list[str], **body: object) -> dict[str, object]:
    r = client.post(
        "/v1/decide",
        content=json.dumps({"slots": slots, "url": HOME, **body}),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"
    data: dict[str, object] = r.json()
    return data


def test_search_visitor_gets_the_search_hero(client: TestClient) -> None:
    slots = decide(client, ["hero"], referrer=GOOGLE)["slots"]
    assert isinstance(slots, dict)
    hero = slots["hero"]
    assert hero["campaign"] == "search-hero"
    assert "Found us on Google?" in hero["html"]
    assert "trail shoes" in hero["html"]
    assert "Google" in hero["reason"]


def test_direct_visitor_keeps_the_default(client: TestClient) -> None:
    slots = decide(client, ["hero"])["slots"]
    assert isinstance(slots, dict)
    assert slots["hero"]["campaign"] is None
    assert slots["hero"]["html"] is None


def test_cookie_is_set_small_httponly_lax(client: TestClient) -> None:
    r = client.post("/v1/decide", content='{"slots":["hero"]}')
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("opmaat=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert len(cookie.split(";")[0]) < 200


def test_secure_cookie_outside_dev_mode(make_client: MakeClient) -> None:
    r = make_client(dev=False).post("/v1/decide", content='{"slots":["hero"]}')
    assert "Secure" in r.headers["set-cookie"]


def test_returning_visitor_is_recognised(client: TestClient) -> None:
    decide(client, ["sidebar"])
    me = client.get("/v1/me").json()
    assert me["visitor"]["visits"] == 1
    assert me["session"]["pageviews"] == 1
    decide(client, ["sidebar"], url="http://127.0.0.1/c/running")
    me = client.get("/v1/me").json()
    assert me["session"]["pageviews"] == 2
    assert me["session"]["pages"] == ["/", "/c/running"]


def test_session_keeps_the_referrer_it_arrived_with(client: TestClient) -> None:
    decide(client, ["hero"], referrer=GOOGLE)
    slots = decide(client, ["hero"], url="http://127.0.0.1/cart", referrer=HOME)["slots"]
    assert isinstance(slots, dict)
    assert slots["hero"]["campaign"] == "search-hero"
    assert client.get("/v1/me").json()["referrer"]["medium"] == "search"


def test_get_decide_for_debugging(client: TestClient) -> None:
    r = client.get("/v1/decide", params={"slots": "hero,sidebar", "url": HOME})
    assert r.status_code == 200
    assert set(r.json()["slots"]) == {"hero", "sidebar"}


def test_unknown_slot_keeps_default(client: TestClient) -> None:
    slots = decide(client, ["no-such-slot"])["slots"]
    assert isinstance(slots, dict)
    assert slots["no-such-slot"]["campaign"] is None
    assert slots["no-such-slot"]["html"] is None


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        ('{"slots": "a b"}', 400, "slot names"),
        ('{"slots": [1]}', 400, "slot names"),
        ('{"slots": {"a": 1}}', 400, "list of slot names"),
        (json.dumps({"slots": [f"s{i}" for i in range(50)]}), 400, "at most"),
        ('{"slots": ["hero"], "x": ' + "[" * 50 + "]" * 50 + "}", 400, "nested"),
        ("x" * 20000, 413, "larger than"),
        (b"\xff\xfe\x00garbage", 400, "not valid JSON"),
    ],
)
def test_bad_decide_requests_get_a_json_4xx(
    client: TestClient, body: str | bytes, status: int, message: str
) -> None:
    r = client.post("/v1/decide", content=body)
    assert r.status_code == status
    assert message in r.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"User-Agent": ""},
        {"User-Agent": "x" * 8000, "Referer": "::::"},
        {"Cookie": "opmaat=tampered.value.here"},
        {"Cookie": "opmaat=" + "A" * 3000},
        {"X-Forwarded-For": "not-an-ip, 999.1.1.1, , ::ffff:zz"},
        {"User-Agent": "\u2603\u202e".encode()},
        {"User-Agent": b"\xff\xfe\x80", "Referer": b"\xc3("},
    ],
)
def test_hostile_headers_still_get_an_answer(
    client: TestClient, headers: dict[str, str | bytes]
) -> None:
    r = client.post(
        "/v1/decide",
        content=json.dumps({"slots": ["hero"], "url": "javascript:alert(1)", "referrer": "\u0000"}),
        headers=headers,
    )
    assert r.status_code == 200
    assert r.json()["slots"]["hero"]["campaign"] in (None, "amsterdam-hero", "search-hero")


def test_tampered_cookie_starts_a_fresh_visitor(client: TestClient) -> None:
    decide(client, ["hero"])
    value = client.cookies["opmaat"]
    client.cookies.clear()
    # For the edge's host, so the fresh cookie the edge answers with replaces it, as in a browser.
    client.cookies.set("opmaat", value[:-3] + "abc", domain="127.0.0.1")
    decide(client, ["hero"])
    me = client.get("/v1/me").json()
    assert me["visitor"]["visits"] == 1
    assert client.get("/healthz").json()["counters"]["rejected_cookies"] == 1
