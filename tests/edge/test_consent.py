"""Consent tiers on the edge: what is stored, which cookie, which campaigns, GPC and DNT."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from opmaat.consent import CONSENT_COOKIE
from opmaat.identity import COOKIE_NAME
from opmaat.reasons import OPTED_OUT
from opmaat.store import MemoryStore
from tests.edge.conftest import MakeClient

HOME = "http://127.0.0.1/"
GOOGLE = "https://www.google.com/search?q=trail+shoes"


def decide(
    client: TestClient,
    slots: tuple[str, ...] = ("hero", "sidebar"),
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    body = {"slots": list(slots), "url": HOME, "referrer": GOOGLE, **extra}
    r = client.post("/v1/decide", content=json.dumps(body), headers=headers or {})
    assert r.status_code == 200, r.text
    return r


def kept_for(store: MemoryStore) -> set[int]:
    """How long the memory store keeps each record, in whole seconds (it holds deadlines)."""
    now = time.monotonic()
    return {round(deadline - now) for _, deadline in store._data.values()}


def store_of(client: TestClient) -> MemoryStore:
    store = client.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    assert isinstance(store, MemoryStore)
    return store


def set_cookie_header(r: Any, name: str) -> str | None:
    for value in r.headers.get_list("set-cookie"):
        if value.startswith(name + "="):
            return str(value)
    return None


def test_full_consent_gets_a_persistent_cookie_and_is_remembered(client: TestClient) -> None:
    r = decide(client)
    assert r.json()["consent"] == "full"
    cookie = set_cookie_header(r, COOKIE_NAME)
    assert cookie is not None
    assert "Max-Age=" in cookie
    decide(client)
    assert client.get("/v1/me").json()["session"]["pageviews"] == 2
    (ttl,) = kept_for(store_of(client))
    assert ttl == 395 * 86400  # the default retention


@pytest.mark.parametrize("header", [{"Sec-GPC": "1"}, {"DNT": "1"}])
def test_gpc_and_dnt_never_get_more_than_a_session(
    client: TestClient, header: dict[str, str]
) -> None:
    r = decide(client, headers=header)
    assert r.json()["consent"] == "session"
    cookie = set_cookie_header(r, COOKIE_NAME)
    assert cookie is not None
    assert "Max-Age" not in cookie  # a session cookie
    assert "expires" not in cookie.lower()
    (ttl,) = kept_for(store_of(client))
    assert ttl == 30 * 60  # kept no longer than the session timeout
    me = client.get("/v1/me", headers=header).json()
    assert me["consent"]["tier"] == "session"
    assert me["consent"]["capped_by"] == ("gpc" if "Sec-GPC" in header else "dnt")
    # Even an explicit choice of full stays capped while the signal is sent.
    client.post("/v1/consent", content=json.dumps({"tier": "full"}), headers=header)
    assert decide(client, headers=header).json()["consent"] == "session"


def test_a_gpc_visitor_does_not_see_a_campaign_that_needs_full_consent(
    client: TestClient,
) -> None:
    decide(client)
    decide(client)  # nothing changes the visit count within a session, so fake a second visit
    store = store_of(client)
    (vid,) = store.dump()
    data, token = asyncio.run(store.load(vid))
    assert data is not None
    data["visits"] = 3
    assert asyncio.run(store.store_if(vid, data, 3600, token)) is not None
    assert decide(client).json()["slots"]["sidebar"]["campaign"] == "returning-sidebar"
    gpc = decide(client, headers={"Sec-GPC": "1"}).json()
    assert gpc["slots"]["sidebar"]["campaign"] != "returning-sidebar"


def test_choosing_none_forgets_and_keeps_nothing(client: TestClient) -> None:
    decide(client)
    assert len(store_of(client)) == 1
    r = client.post("/v1/consent", content=json.dumps({"tier": "none"}))
    assert r.status_code == 200
    assert r.json()["consent"] == {
        "tier": "none",
        "choice": "none",
        "capped_by": None,
        "personalized": True,
        "source": "choice",
    }
    assert len(store_of(client)) == 0
    assert COOKIE_NAME not in client.cookies
    assert client.cookies[CONSENT_COOKIE] == "none"
    r = decide(client)
    # Context still personalizes (the search campaign needs no consent); nothing is kept.
    assert r.json()["consent"] == "none"
    assert r.json()["slots"]["hero"]["campaign"] == "search-hero"
    assert set_cookie_header(r, COOKIE_NAME) is None
    assert len(store_of(client)) == 0
    goal = client.post("/v1/events", content=json.dumps({"type": "goal", "name": "signup"}))
    assert goal.json() == {"ok": True, "stored": False}
    assert len(store_of(client)) == 0


def test_opting_out_shows_only_default_content(client: TestClient) -> None:
    decide(client)
    client.post("/v1/consent", content=json.dumps({"tier": "off"}))
    slots = decide(client).json()["slots"]
    assert {s["campaign"] for s in slots.values()} == {None}
    assert {s["reason"] for s in slots.values()} == {OPTED_OUT}
    assert len(store_of(client)) == 0
    client.post("/v1/consent", content=json.dumps({"tier": "full"}))
    assert decide(client).json()["slots"]["hero"]["campaign"] == "search-hero"


def test_a_page_default_applies_until_the_visitor_chooses(client: TestClient) -> None:
    decide(client)
    # A page whose consent banner is not answered yet sends its default with each request.
    r = decide(client, consent="none")
    assert r.json()["consent"] == "none"
    assert set_cookie_header(r, COOKIE_NAME) is None  # neither written nor cleared
    assert client.cookies.get(COOKIE_NAME)
    assert client.get("/v1/me").json()["session"]["pageviews"] == 1
    # Once the visitor answers, the answer counts, on every page.
    client.post("/v1/consent", content=json.dumps({"tier": "full"}))
    assert decide(client, consent="none").json()["consent"] == "full"
    assert client.get("/v1/me").json()["session"]["pageviews"] == 2
    # A page default that is not a tier is ignored.
    client.cookies.delete("opmaat_consent")
    assert decide(client, consent="everything").json()["consent"] == "full"


def test_site_default_and_retention_come_from_the_campaign_file(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "site: {consent_default: session, retention_days: 30}\n"
        "slots: {hero: {default: x}}\ncampaigns: []\n"
    )
    client = make_client(config, demo=False)
    assert decide(client, ("hero",)).json()["consent"] == "session"
    client.post("/v1/consent", content=json.dumps({"tier": "full"}))
    decide(client, ("hero",))
    # (The session profile's old id, emptied when full consent gave it a new one, expires now.)
    kept = {seconds for seconds in kept_for(store_of(client)) if seconds > 1}
    assert kept == {30 * 86400}


@pytest.mark.parametrize("tier", [None, "", "FULL", "all", 3, ["full"], {"tier": "full"}])
def test_bad_consent_changes_are_refused_and_change_nothing(client: TestClient, tier: Any) -> None:
    decide(client)
    r = client.post("/v1/consent", content=json.dumps({"tier": tier}))
    assert r.status_code == 400
    assert "consent must be one of" in r.json()["error"]
    assert CONSENT_COOKIE not in client.cookies
    assert client.get("/v1/me").json()["session"]["pageviews"] == 1


def test_changes_from_another_site_are_refused(client: TestClient) -> None:
    decide(client)
    cross = {"Sec-Fetch-Site": "cross-site"}
    for method, path, body in [
        ("POST", "/v1/consent", {"tier": "none"}),
        ("PATCH", "/v1/me", {"prefs": {"interests": {"running": "less"}}}),
        ("DELETE", "/v1/me", None),
        ("POST", "/v1/identify", {"customer_id": "c1"}),
    ]:
        r = client.request(method, path, content=json.dumps(body) if body else None, headers=cross)
        assert r.status_code == 403, path
    assert len(store_of(client)) == 1


def linking(client: TestClient, customer_id: str, **more: Any) -> str:
    """An identify body with the proof the site's server makes for ``customer_id``."""
    proof = client.app.state.edge.personalizer.identify_proof(customer_id)  # type: ignore[attr-defined]
    return json.dumps({"customer_id": customer_id, "proof": proof, **more})


def test_identify_needs_the_servers_proof(client: TestClient) -> None:
    decide(client)
    for body in (
        {"customer_id": "C-1001"},
        {"customer_id": "C-1001", "proof": "made-up"},
        {"customer_id": "C-1001", "proof": json.loads(linking(client, "C-1002"))["proof"]},
        {"customer_id": "C-1001", "proof": ["x"]},
    ):
        r = client.post("/v1/identify", content=json.dumps(body))
        assert r.status_code == 403
        assert "proof" in r.json()["error"]
    assert client.get("/v1/me").json()["customer"] == {}


def test_a_proof_for_a_longer_customer_id_does_not_link_its_prefix(client: TestClient) -> None:
    decide(client)
    proof = json.loads(linking(client, "alice@example.com.evil.example"))["proof"]
    forged = {"customer_id": "alice@example.com", "proof": "evil.example." + proof}
    r = client.post("/v1/identify", content=json.dumps(forged))
    assert r.status_code == 403
    assert client.get("/v1/me").json()["customer"] == {}


def test_identify_links_a_customer_with_full_consent_only(client: TestClient) -> None:
    decide(client)
    r = client.post("/v1/identify", content=linking(client, "C-1001"))
    assert r.json() == {"linked": True}
    assert client.get("/v1/me").json()["customer"] == {"id": "C-1001"}
    gpc = client.post("/v1/identify", content=linking(client, "C-2"), headers={"Sec-GPC": "1"})
    assert gpc.json()["linked"] is False
    assert "full consent" in gpc.json()["why"]
    assert client.get("/v1/me").json()["customer"] == {"id": "C-1001"}


@pytest.mark.parametrize("customer_id", [None, "", "  ", "a\nb", "x" * 129, True, [1], {"id": 1}])
def test_bad_customer_ids_are_refused(client: TestClient, customer_id: Any) -> None:
    decide(client)
    r = client.post("/v1/identify", content=json.dumps({"customer_id": customer_id}))
    assert r.status_code == 400
    assert "customer_id" in r.json()["error"]
    assert client.get("/v1/me").json()["customer"] == {}


def test_no_ip_address_is_ever_stored(make_client: MakeClient) -> None:
    client = make_client(peer="127.0.0.1")
    ips = ["203.0.113.7", "198.51.100.23", "2001:db8::42"]
    for ip in ips:
        headers = {"X-Forwarded-For": ip, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
        for path in ("/", "/c/running", "/product/trail-runner"):
            body = {
                "slots": ["hero", "sidebar"],
                "url": "https://shop.example" + path,
                "referrer": GOOGLE,
                "page": {"category": "running"},
            }
            r = client.post("/v1/decide", content=json.dumps(body), headers=headers)
        hero = r.json()["slots"]["hero"]
        shown = {k: hero[k] for k in ("slot", "campaign", "variant", "token")}
        r = client.post(
            "/v1/events", content=json.dumps({"type": "impression", **shown}), headers=headers
        )
        assert r.json()["stored"] is True
        client.patch(
            "/v1/me",
            content=json.dumps({"prefs": {"interests": {"cycling": "more"}}}),
            headers=headers,
        )
    dump = store_of(client).dump()
    assert dump, "the session left nothing to look at"
    everything = b"\n".join(dump.values()).decode()
    assert "Amsterdam" not in everything  # geo is derived per request, not kept
    for ip in [*ips, "127.0.0.1", "203.0.113", "2001:db8"]:
        assert ip not in everything


def test_a_page_default_cannot_raise_the_site_default(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("site: {consent_default: session}\nslots: {hero: {default: x}}\n")
    client = make_client(config, demo=False)
    r = client.get("/v1/decide", params={"slots": "hero", "url": HOME, "consent": "full"})
    assert r.json()["consent"] == "session"
    cookie = set_cookie_header(r, COOKIE_NAME)
    assert cookie is not None
    assert "Max-Age" not in cookie
    linked = client.post("/v1/identify", content=linking(client, "C", consent="full"))
    assert linked.json()["linked"] is False


def test_a_customer_link_does_not_outlive_full_consent(client: TestClient) -> None:
    decide(client)
    client.post("/v1/identify", content=linking(client, "C-7"))
    client.post("/v1/consent", content=json.dumps({"tier": "session"}))
    assert client.get("/v1/me").json()["customer"] == {}
    assert b"C-7" not in b"".join(store_of(client).dump().values())


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.1"},
    ],
)
def test_changes_with_a_foreign_origin_are_refused(
    client: TestClient, headers: dict[str, str]
) -> None:
    decide(client)
    r = client.post("/v1/consent", content=json.dumps({"tier": "off"}), headers=headers)
    assert r.status_code == 403
    ok = client.post(
        "/v1/consent",
        content=json.dumps({"tier": "session"}),
        headers={"Origin": "http://127.0.0.1"},
    )
    assert ok.status_code == 200
