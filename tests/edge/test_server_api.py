"""The server-to-server API (``POST /v1/decide`` and ``POST /v1/events`` with an API key), end to
end through the edge's HTTP API: keys, channels, customers and their web profiles, tracking
tokens, tallies and hostile input.

Every test runs on a small campaign file written to tmp_path (``CONFIG``), so each expectation
is exact. Server calls go through the same TestClient as the web visitor's, with the
visitor's cookies put aside, so a server decision can only know the visitor through the
customer link in the store.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx2 as httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.testclient import TestClient

from opmaat.bucketing import choose_variant, in_holdout
from opmaat.channels import customer_visitor_id, link_key
from opmaat.store import HOLDOUT_ARM, MemoryStore, Record, tally_day
from opmaat_edge import logs
from opmaat_edge.logs import JsonFormatter
from opmaat_edge.state import EdgeState
from tests.edge.conftest import KEYS, MakeClient

KEY = "k" * 32
OTHER_KEY = "j" * 32
WRONG_KEY = "w" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}
PAGE = "http://127.0.0.1/"
T = TypeVar("T")

CONFIG = """\
site: {consent_default: session, session_timeout_minutes: 30}
slots:
  hero: {default: "<p>hero</p>"}
  banner: {default: "<p>banner</p>"}
  local: {default: "<p>local</p>"}
  cart: {default: "<p>cart</p>"}
  offer: {default: "<p>offer</p>"}
  capped: {default: "<p>capped</p>"}
campaigns:
  - id: mail-sale
    slot: hero
    channels: [email]
    goal: purchase
    variants:
      - {key: a, weight: 50, html: "<b>a</b>"}
      - {key: b, weight: 50, html: "<b>b</b>"}
  - id: web-only
    slot: banner
    variants: [{key: w, html: "<i>web</i>"}]
  - id: dutch
    slot: local
    channels: [email, app]
    audience: {geo.country: NL}
    variants: [{key: nl, html: "<p>hallo</p>"}]
  - id: cart-mail
    slot: cart
    channels: [email, web]
    audience: {cart.count: {$gte: 1}}
    variants: [{key: c, html: "<p>your cart</p>"}]
  - id: held
    slot: offer
    channels: [email]
    holdout: 0.5
    goal: purchase
    variants: [{key: h, html: "<p>offer</p>"}]
  - id: once
    slot: capped
    channels: [email]
    frequency: {max: 1, per: 1d}
    variants: [{key: o, html: "<p>once</p>"}]
"""


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "campaigns.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def edge(make_client: MakeClient, config: Path) -> TestClient:
    """An edge with one API key."""
    return make_client(config, demo=False, api_keys=(KEY,))


def state(client: TestClient) -> EdgeState:
    app = client.app
    assert isinstance(app, Starlette)
    found: EdgeState = app.state.edge
    return found


def store(client: TestClient) -> MemoryStore:
    found = state(client).personalizer.store
    assert isinstance(found, MemoryStore)
    return found


def call(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    portal = client.portal
    assert portal is not None
    return portal.call(fn, *args)


def tallies(client: TestClient, campaign: str) -> dict[str, dict[str, int]]:
    return call(client, store(client).tallies, [campaign])[campaign]


def record(client: TestClient, visitor_id: str) -> Record | None:
    return call(client, store(client).get, visitor_id)


def own_visitor(customer_id: str) -> str:
    """The visitor id of a customer who never logged in on the site."""
    return customer_visitor_id(KEYS[0], customer_id)


@contextmanager
def no_cookies(client: TestClient) -> Iterator[None]:
    """Put the web visitor's cookies aside: a server sends none."""
    saved = httpx.Cookies(client.cookies)
    client.cookies = httpx.Cookies()
    try:
        yield
    finally:
        client.cookies = saved


def post(
    client: TestClient,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A server's POST: JSON (or raw bytes/str), the API key unless ``headers`` say otherwise."""
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    with no_cookies(client):
        return client.post(path, content=content, headers=AUTH if headers is None else headers)


def decide(
    client: TestClient,
    slots: list[str],
    *,
    customer_id: Any = None,
    attributes: dict[str, Any] | None = None,
    channel: str = "email",
) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": channel, "slots": slots}
    if customer_id is not None:
        body["customer_id"] = customer_id
    if attributes is not None:
        body["attributes"] = attributes
    r = post(client, "/v1/decide", body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def slot(client: TestClient, name: str, **kwargs: Any) -> dict[str, Any]:
    found: dict[str, Any] = decide(client, [name], **kwargs)["slots"][name]
    return found


def send_event(client: TestClient, **body: Any) -> httpx.Response:
    return post(client, "/v1/events", body)


def error(r: httpx.Response) -> str:
    data = r.json()
    assert set(data) == {"error"}
    message = data["error"]
    assert isinstance(message, str)
    assert message
    return message


def web_decide(client: TestClient, slots: list[str]) -> dict[str, Any]:
    r = client.post("/v1/decide", content=json.dumps({"slots": slots, "url": PAGE}))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def web_visitor(client: TestClient) -> str:
    """A web visitor who consents fully and fills their cart; returns their visitor id."""
    assert client.post("/v1/consent", json={"tier": "full"}).status_code == 200
    web_decide(client, ["banner"])
    r = client.post(
        "/v1/events",
        content=json.dumps(
            {"type": "goal", "name": "add_to_cart", "props": {"id": "tent", "price": 120}}
        ),
    )
    assert r.status_code == 200, r.text
    me = client.get("/v1/me").json()
    assert me["cart"]["count"] == 1
    visitor: str = me["visitor"]["id"]
    return visitor


def login(client: TestClient, customer_id: str) -> str:
    """Log the browser in as ``customer_id``; returns the visitor id it has from then on (a
    login gives the profile a new one: see test_fixation)."""
    proof = state(client).personalizer.identify_proof(customer_id)
    r = client.post("/v1/identify", json={"customer_id": customer_id, "proof": proof})
    assert r.status_code == 200, r.text
    assert r.json() == {"linked": True}
    visitor = client.get("/v1/me").json()["visitor"]["id"]
    assert isinstance(visitor, str)
    return visitor


def customer_in(campaign: str, share: float, *, held_out: bool) -> str:
    """A customer id (without a web profile) that is (or is not) in the campaign's holdout."""
    for number in range(1000):
        customer = f"holdout-probe-{number}"
        if in_holdout(campaign, own_visitor(customer), share) == held_out:
            return customer
    raise AssertionError("no such customer among 1000")


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Any:
    """caplog catching every record: the access log on, every level, and the edge's records
    even after logs.configure() ran in this process (it stops them propagating)."""
    monkeypatch.setattr(logs.access_log, "disabled", False)
    monkeypatch.setattr(logging.getLogger("opmaat"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="opmaat")
    return caplog


# --- 1. auth ------------------------------------------------------------------------------

DECIDE_BODY = {"channel": "email", "customer_id": "c-1", "slots": ["hero"]}


@pytest.mark.parametrize("path", ["/v1/decide", "/v1/events"])
def test_a_server_call_without_a_key_is_refused(edge: TestClient, path: str) -> None:
    body = DECIDE_BODY if path == "/v1/decide" else {"type": "impression", "token": "x.y.z"}
    r = post(edge, path, body, headers={})
    assert r.status_code == 401
    assert "Authorization: Bearer" in error(r)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"].startswith("application/json")
    assert len(store(edge)) == 0


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {WRONG_KEY}",
        f"Bearer {KEY[:-1]}",
        f"Bearer {KEY}x",
        f"Basic {KEY}",
        f"Token {KEY}",
        KEY,
        "Bearer",
        "Bearer ",
        "",
        f"Bearer {KEY} {KEY}",
        "Bearer " + "k" * 600,
    ],
)
@pytest.mark.parametrize("path", ["/v1/decide", "/v1/events"])
def test_a_wrong_key_or_scheme_is_refused(edge: TestClient, path: str, header: str) -> None:
    body = DECIDE_BODY if path == "/v1/decide" else {"type": "goal", "customer_id": "c-1"}
    r = post(edge, path, {**body, "name": "purchase"}, headers={"Authorization": header})
    assert r.status_code == 401
    assert "www-authenticate" in r.headers
    assert "invalid_token" in r.headers["www-authenticate"]
    error(r)
    assert len(store(edge)) == 0
    assert tallies(edge, "mail-sale") == {}


@pytest.mark.parametrize(
    "header",
    [f"Bearer {KEY}", f"bearer {KEY}", f"BEARER {KEY}", f"Bearer   {KEY}  ", f"  Bearer {KEY}"],
)
def test_the_key_is_accepted_in_any_case_of_bearer_and_with_spaces(
    edge: TestClient, header: str
) -> None:
    r = post(edge, "/v1/decide", DECIDE_BODY, headers={"Authorization": header})
    assert r.status_code == 200, r.text
    assert r.json()["slots"]["hero"]["campaign"] == "mail-sale"


def test_every_configured_key_works(make_client: MakeClient, config: Path) -> None:
    client = make_client(config, demo=False, api_keys=(KEY, OTHER_KEY))
    for key in (KEY, OTHER_KEY):
        r = post(client, "/v1/decide", DECIDE_BODY, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
    r = post(client, "/v1/decide", DECIDE_BODY, headers={"Authorization": f"Bearer {WRONG_KEY}"})
    assert r.status_code == 401


@pytest.mark.parametrize("path", ["/v1/decide", "/v1/events"])
@pytest.mark.parametrize("headers", [AUTH, {}])
def test_an_edge_without_api_keys_takes_no_server_calls(
    make_client: MakeClient, config: Path, path: str, headers: dict[str, str]
) -> None:
    client = make_client(config, demo=False)
    body = DECIDE_BODY if path == "/v1/decide" else {"type": "impression", "token": "x.y.z"}
    r = post(client, path, body, headers=headers)
    assert r.status_code == 401
    assert "OPMAAT_API_KEYS" in error(r)
    assert r.headers["www-authenticate"].startswith("Bearer")
    # The browser's calls still work there.
    assert web_decide(client, ["banner"])["slots"]["banner"]["campaign"] == "web-only"


def test_a_non_ascii_authorization_header_is_refused_not_a_crash(edge: TestClient) -> None:
    with no_cookies(edge):
        r = edge.post(
            "/v1/decide",
            content=json.dumps(DECIDE_BODY),
            headers=[(b"Authorization", b"Bearer \xff\xfe" + KEY.encode())],
        )
    assert r.status_code == 401


def test_the_key_never_appears_in_answers_or_logs(
    edge: TestClient, logged: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers: list[str] = []

    def keep(r: httpx.Response) -> httpx.Response:
        answers.append(r.text)
        answers.extend(f"{k}: {v}" for k, v in r.headers.items())
        return r

    decided = keep(post(edge, "/v1/decide", DECIDE_BODY)).json()
    token = decided["slots"]["hero"]["token"]
    keep(post(edge, "/v1/decide", DECIDE_BODY, headers={"Authorization": f"Bearer {WRONG_KEY}"}))
    keep(post(edge, "/v1/decide", DECIDE_BODY, headers={"Authorization": f"Basic {KEY}"}))
    keep(post(edge, "/v1/events", {"type": "impression", "token": token}))
    keep(
        post(
            edge,
            "/v1/events",
            {"type": "impression", "token": token},
            headers={"Authorization": f"Bearer {WRONG_KEY}"},
        )
    )

    async def broken(event: Any) -> None:
        raise RuntimeError("stream down")

    # A failing event stream logs a warning with the exception: still no key in it.
    monkeypatch.setattr(store(edge), "append_event", broken)
    keep(post(edge, "/v1/events", {"type": "click", "token": token}))
    lines = [JsonFormatter().format(r) for r in logged.records]
    assert any("/v1/decide" in line for line in lines)  # the access log was caught
    assert any("could not add an event" in line for line in lines)
    for text in [*answers, *lines]:
        assert KEY not in text
        assert WRONG_KEY not in text


# --- 2. the browser's calls stay as they were ---------------------------------------------


def test_the_snippets_decide_needs_no_key(edge: TestClient) -> None:
    data = web_decide(edge, ["banner", "hero", "cart"])
    assert data["consent"] == "session"
    banner = data["slots"]["banner"]
    assert (banner["campaign"], banner["variant"], banner["html"]) == (
        "web-only",
        "w",
        "<i>web</i>",
    )
    # The snippet's token is a decision token (for its events), not a server's tracking token.
    assert len(banner["token"]) == 40
    assert "." not in banner["token"]
    # Email-only campaigns are not for the web.
    assert data["slots"]["hero"]["campaign"] is None
    assert "opmaat" in edge.cookies
    r = edge.get("/v1/decide", params={"slots": "banner", "url": PAGE})
    assert r.status_code == 200
    assert r.json()["slots"]["banner"]["campaign"] == "web-only"


def test_the_snippets_events_need_no_key(edge: TestClient) -> None:
    banner = web_decide(edge, ["banner"])["slots"]["banner"]
    for kind in ("impression", "click"):
        body = {"type": kind, "slot": "banner", "campaign": "web-only", "variant": "w"}
        r = edge.post("/v1/events", content=json.dumps({**body, "token": banner["token"]}))
        assert r.status_code == 200, r.text
        assert r.json() == {"ok": True, "stored": True}
    assert tallies(edge, "web-only")["w"]["impressions"] == 1
    assert tallies(edge, "web-only")["w"]["clicks"] == 1


def test_a_server_call_cannot_name_the_campaign_itself(edge: TestClient) -> None:
    decide(edge, ["hero"], customer_id="c-1")
    r = send_event(edge, type="impression", campaign="mail-sale", variant="a", slot="hero")
    assert r.status_code == 400
    assert "token" in error(r)
    assert all(row["impressions"] == 0 for row in tallies(edge, "mail-sale").values())


# --- 3. decide ----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["fax", "", "EMAIL", None, 3, ["email"], {"email": 1}])
def test_the_channel_must_be_a_known_one(edge: TestClient, channel: Any) -> None:
    r = post(edge, "/v1/decide", {**DECIDE_BODY, "channel": channel})
    assert r.status_code == 400
    assert "channel must be one of web, email" in error(r)


def test_a_server_call_without_a_channel_is_refused(edge: TestClient) -> None:
    r = post(edge, "/v1/decide", {"customer_id": "c-1", "slots": ["hero"]})
    assert r.status_code == 400
    assert "channel" in error(r)


def test_email_gets_only_the_campaigns_that_list_email(edge: TestClient) -> None:
    data = decide(edge, ["hero", "banner", "cart", "local"], customer_id="c-1")
    assert data["channel"] == "email"
    assert data["customer_id"] == "c-1"
    slots = data["slots"]
    assert list(slots) == ["hero", "banner", "cart", "local"]
    assert slots["hero"]["campaign"] == "mail-sale"
    assert slots["hero"]["variant"] in ("a", "b")
    assert slots["hero"]["html"] == f"<b>{slots['hero']['variant']}</b>"
    # The web-only campaign is not decided for email: the slot has no email campaign at all.
    assert slots["banner"]["campaign"] is None
    assert slots["banner"]["variant"] is None
    for decision in slots.values():
        assert isinstance(decision["reason"], str)
        assert decision["reason"]
        assert decision["holdout"] is False
    assert slots["banner"]["reason"] != slots["cart"]["reason"]  # none vs. none eligible


def test_the_app_channel_gets_its_own_campaigns(edge: TestClient) -> None:
    nl = {"geo": {"country": "NL"}}
    assert slot(edge, "local", attributes=nl, channel="app")["campaign"] == "dutch"
    assert slot(edge, "hero", attributes=nl, channel="app")["campaign"] is None
    assert slot(edge, "banner", attributes=nl, channel="web")["campaign"] == "web-only"
    assert slot(edge, "banner", attributes=nl, channel="contact_center")["campaign"] is None


def test_personalized_decisions_carry_a_token_and_default_ones_none(edge: TestClient) -> None:
    slots = decide(edge, ["hero", "banner", "cart"], customer_id="c-1")["slots"]
    assert isinstance(slots["hero"]["token"], str)
    assert len(slots["hero"]["token"]) > 20
    assert slots["banner"]["token"] is None
    assert slots["cart"]["token"] is None


def test_a_server_decision_is_not_cached_and_sets_no_cookie(edge: TestClient) -> None:
    r = post(edge, "/v1/decide", DECIDE_BODY)
    assert r.status_code == 200
    assert "no-store" in r.headers["cache-control"]
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize("attributes", [None, {}])
def test_a_decision_needs_a_customer_or_attributes(edge: TestClient, attributes: Any) -> None:
    body: dict[str, Any] = {"channel": "email", "slots": ["hero"]}
    if attributes is not None:
        body["attributes"] = attributes
    r = post(edge, "/v1/decide", body)
    assert r.status_code == 400
    assert "customer_id" in error(r)


@pytest.mark.parametrize(
    "customer_id",
    ["a\x00b", "line\nbreak", "tab\there", "del\x7f", "x" * 200, "x" * 129, "", "   ", True, 1.5],
)
def test_a_bad_customer_id_is_refused(edge: TestClient, customer_id: Any) -> None:
    r = post(edge, "/v1/decide", {**DECIDE_BODY, "customer_id": customer_id})
    assert r.status_code == 400
    assert "customer_id" in error(r)
    assert len(store(edge)) == 0


def test_customer_ids_of_128_characters_and_numbers_are_fine(edge: TestClient) -> None:
    assert decide(edge, ["hero"], customer_id="x" * 128)["customer_id"] == "x" * 128
    assert decide(edge, ["hero"], customer_id=12345)["customer_id"] == "12345"
    # Surrounding spaces are not part of the id: the same customer, the same record.
    assert decide(edge, ["hero"], customer_id=" 12345 ")["customer_id"] == "12345"
    assert record(edge, own_visitor("12345")) is not None


@pytest.mark.parametrize("name", ["visitor", "consent", "response", "decisions", "Geo"])
def test_an_unknown_attribute_is_refused_by_name(edge: TestClient, name: str) -> None:
    r = post(edge, "/v1/decide", {**DECIDE_BODY, "attributes": {"geo": {}, name: {"x": 1}}})
    assert r.status_code == 400
    assert f"unknown attribute '{name}'" in error(r)
    assert len(store(edge)) == 0


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ([], "attributes must be an object"),
        ("geo", "attributes must be an object"),
        ({"geo": {"a": {"b": {"c": {"d": 1}}}}}, "geo.a.b.c: attributes nest at most 4 deep"),
        ({"segments": [[[["x"]]]]}, "nest at most 4 deep"),
        ({"segments": ["x"] * 200}, "at most 200 attribute values"),
        ({"segments": ["x"] * 100, "interests": {str(i): i for i in range(100)}}, "at most 200"),
        ({"geo": {"city": "x" * 1025}}, "geo.city: texts are at most 1024 characters"),
    ],
)
def test_bad_attributes_are_refused(edge: TestClient, attributes: Any, message: str) -> None:
    r = post(edge, "/v1/decide", {**DECIDE_BODY, "attributes": attributes})
    assert r.status_code == 400
    assert message in error(r)


def test_attributes_at_the_limits_are_fine(edge: TestClient) -> None:
    deep = {"geo": {"a": {"b": {"c": 1}}}}
    assert slot(edge, "hero", customer_id="c-1", attributes=deep)["campaign"] == "mail-sale"
    many = {"segments": ["x"] * 199}  # the list and its 199 items: 200 values
    assert slot(edge, "hero", customer_id="c-1", attributes=many)["campaign"] == "mail-sale"
    text = {"geo": {"city": "x" * 1024}}
    assert slot(edge, "hero", customer_id="c-1", attributes=text)["campaign"] == "mail-sale"


def test_attributes_reach_the_audiences(edge: TestClient) -> None:
    assert slot(edge, "local", attributes={"geo": {"country": "NL"}})["campaign"] == "dutch"
    assert slot(edge, "local", attributes={"geo": {"country": "DE"}})["campaign"] is None
    assert slot(edge, "local", customer_id="c-1")["campaign"] is None
    nl = slot(edge, "local", customer_id="c-1", attributes={"geo": {"country": "NL"}})
    assert (nl["campaign"], nl["variant"], nl["html"]) == ("dutch", "nl", "<p>hallo</p>")
    # Given once, not kept: the next decision for the customer is without them.
    assert slot(edge, "local", customer_id="c-1")["campaign"] is None
    cart = {"cart": {"count": 2}}
    assert slot(edge, "cart", customer_id="c-2", attributes=cart)["campaign"] == "cart-mail"


def test_a_decision_with_attributes_alone_keeps_nothing(edge: TestClient) -> None:
    decided = slot(edge, "hero", attributes={"geo": {"country": "NL"}})
    assert decided["campaign"] == "mail-sale"
    assert decided["token"] is not None
    assert len(store(edge)) == 0
    # Nobody was assigned to an arm: no visitor to count.
    assert all(row["visitors"] == 0 for row in tallies(edge, "mail-sale").values())
    # Its impressions still count in the campaign's totals (nothing about anyone is kept).
    r = send_event(edge, type="impression", token=decided["token"])
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "counted": 1}
    assert tallies(edge, "mail-sale")[decided["variant"]]["impressions"] == 1
    assert len(store(edge)) == 0
    assert list(store(edge).events) == []


@pytest.mark.parametrize(
    ("slots", "message"),
    [
        (["bad slot!"], "slot names"),
        ([""], "slot names"),
        ([3], "slot names"),
        (["x" * 65], "slot names"),
        ({"hero": 1}, "slots must be a list"),
        (7, "slots must be a list"),
        ([f"s{i}" for i in range(21)], "at most 20 slots"),
    ],
)
def test_slots_are_checked_as_for_the_browser(edge: TestClient, slots: Any, message: str) -> None:
    r = post(edge, "/v1/decide", {**DECIDE_BODY, "slots": slots})
    assert r.status_code == 400
    assert message in error(r)
    web = edge.post("/v1/decide", content=json.dumps({"slots": slots, "url": PAGE}))
    assert (web.status_code, web.json()["error"]) == (400, error(r))


def test_slots_may_be_a_comma_list_and_repeats_count_once(edge: TestClient) -> None:
    slots = decide(edge, ["hero", "banner", "hero", "banner"], customer_id="c-1")["slots"]
    assert list(slots) == ["hero", "banner"]
    r = post(edge, "/v1/decide", {**DECIDE_BODY, "slots": "hero,banner"})
    assert r.status_code == 200
    assert list(r.json()["slots"]) == ["hero", "banner"]


def test_an_unknown_slot_keeps_its_default(edge: TestClient) -> None:
    decided = slot(edge, "nowhere", customer_id="c-1")
    assert (decided["campaign"], decided["token"]) == (None, None)


def test_a_paused_campaign_is_not_decided_for_email(edge: TestClient) -> None:
    personalizer = state(edge).personalizer
    personalizer.paused = frozenset({"mail-sale"})
    assert slot(edge, "hero", customer_id="c-1")["campaign"] is None
    personalizer.paused = frozenset()
    assert slot(edge, "hero", customer_id="c-1")["campaign"] == "mail-sale"


# --- 4. customers who logged in on the site -----------------------------------------------


def test_a_logged_in_visitors_web_profile_reaches_email_until_they_delete_it(
    edge: TestClient,
) -> None:
    customer = "cust-42"
    # Before any login the customer has a record of their own, without a cart.
    assert slot(edge, "cart", customer_id=customer)["campaign"] is None
    web_visitor(edge)
    visitor = login(edge, customer)
    assert record(edge, link_key(customer)) == {"visitor": visitor}
    decided = slot(edge, "cart", customer_id=customer)
    assert (decided["campaign"], decided["variant"]) == ("cart-mail", "c")
    # The email's decision is noted in the web profile (the privacy page shows it).
    notes = edge.get("/v1/me").json()["decisions"]
    assert [(d["campaign"], d["consent"]) for d in notes if d["slot"] == "cart"] == [
        ("cart-mail", "email")
    ]
    r = edge.delete("/v1/me")
    assert r.status_code == 200
    assert r.json()["deleted"] is True
    assert record(edge, link_key(customer)) in (None, {"visitor": ""})  # gone, or going
    assert slot(edge, "cart", customer_id=customer)["campaign"] is None
    # ...and nothing was written back under the deleted visitor's id.
    assert record(edge, visitor) is None


def test_a_goal_reported_by_a_server_lands_in_the_web_profile(edge: TestClient) -> None:
    customer = "cust-7"
    web_visitor(edge)
    login(edge, customer)
    decided = slot(edge, "hero", customer_id=customer)
    assert send_event(edge, type="impression", token=decided["token"]).status_code == 200
    r = send_event(edge, type="goal", name="purchase", customer_id=customer, props={"value": 10})
    assert r.status_code == 200, r.text
    entry = edge.get("/v1/me").json()["response"]["mail-sale"]
    assert (entry["impressions"], entry["conversions"]) == (1, 1)


def test_a_login_without_full_consent_makes_no_link(edge: TestClient) -> None:
    customer = "cust-session"
    web_decide(edge, ["banner"])  # the site's default: session
    proof = state(edge).personalizer.identify_proof(customer)
    r = edge.post("/v1/identify", json={"customer_id": customer, "proof": proof})
    assert r.json()["linked"] is False
    assert record(edge, link_key(customer)) is None


def test_after_consent_drops_to_session_email_no_longer_sees_the_web_profile(
    edge: TestClient,
) -> None:
    customer = "cust-downgrade"
    web_visitor(edge)
    visitor = login(edge, customer)
    assert slot(edge, "cart", customer_id=customer)["campaign"] == "cart-mail"
    # The visitor withdraws the consent the link needed (their cart stays for the session).
    assert edge.post("/v1/consent", json={"tier": "session"}).status_code == 200
    kept = record(edge, visitor)
    assert kept is not None
    assert "customer" not in kept
    decided = slot(edge, "cart", customer_id=customer)
    assert decided["campaign"] is None, "a session-only web profile was read for an email"


def test_a_server_decision_keeps_a_session_only_profile_no_longer_than_the_session(
    edge: TestClient,
) -> None:
    customer = "cust-ttl"
    web_visitor(edge)
    visitor = login(edge, customer)
    assert edge.post("/v1/consent", json={"tier": "session"}).status_code == 200
    session_seconds = 30 * 60
    # MemoryStore keeps (packed record, time.monotonic() deadline) per key.
    assert round(store(edge)._data[visitor][1] - time.monotonic()) == session_seconds
    slot(edge, "hero", customer_id=customer)
    assert store(edge)._data[visitor][1] - time.monotonic() <= session_seconds, "kept too long"


def test_a_second_customer_logging_in_on_the_same_browser_takes_the_profile_over(
    edge: TestClient,
) -> None:
    web_visitor(edge)
    login(edge, "cust-anne")
    visitor = login(edge, "cust-bob")
    kept = record(edge, visitor)
    assert kept is not None
    assert kept["customer"]["id"] == "cust-bob"
    assert slot(edge, "cart", customer_id="cust-bob")["campaign"] == "cart-mail"
    # Anne's email must not show Bob's cart.
    decided = slot(edge, "cart", customer_id="cust-anne")
    assert decided["campaign"] is None, "an earlier customer's link still reads the profile"


def test_deleting_the_profile_leaves_no_link_to_it(edge: TestClient) -> None:
    web_visitor(edge)
    login(edge, "cust-anne")
    visitor = login(edge, "cust-bob")
    assert edge.delete("/v1/me").json()["deleted"] is True
    for customer in ("cust-bob", "cust-anne"):
        link = record(edge, link_key(customer))
        assert link is None or link == {"visitor": ""}, f"a link of {customer} is left"
    slot(edge, "hero", customer_id="cust-anne")
    assert record(edge, visitor) is None, "a record was written under the deleted visitor's id"


def test_deleting_the_profile_also_deletes_the_customers_own_record(edge: TestClient) -> None:
    slot(edge, "hero", customer_id="cust-cleo")  # an email before she ever logged in
    assert record(edge, own_visitor("cust-cleo")) is not None
    web_visitor(edge)
    login(edge, "cust-cleo")
    assert edge.delete("/v1/me").json()["deleted"] is True
    assert record(edge, own_visitor("cust-cleo")) is None


# --- 5. customers who never visited --------------------------------------------------------


def test_a_customer_without_a_web_profile_gets_a_record_of_their_own(edge: TestClient) -> None:
    customer = "never-visited"
    first = slot(edge, "hero", customer_id=customer)
    second = slot(edge, "hero", customer_id=customer)
    assert first["variant"] == second["variant"]
    vid = own_visitor(customer)
    assert vid != customer
    expected = ["a", "b"][choose_variant("mail-sale", vid, [50.0, 50.0])]
    assert first["variant"] == expected
    kept = record(edge, vid)
    assert kept is not None
    assert kept["customer"]["id"] == customer
    assert kept["response"]["mail-sale"]["arm"] == expected
    assert record(edge, customer) is None
    # No web login made it: there is no link (a later login makes one).
    assert record(edge, link_key(customer)) is None


def test_variants_follow_the_customer_not_the_request(edge: TestClient) -> None:
    seen = {slot(edge, "hero", customer_id=f"cust-{n}")["variant"] for n in range(40)}
    assert seen == {"a", "b"}
    for n in range(10):
        vid = own_visitor(f"cust-{n}")
        expected = ["a", "b"][choose_variant("mail-sale", vid, [50.0, 50.0])]
        assert slot(edge, "hero", customer_id=f"cust-{n}")["variant"] == expected


# --- 6. events ----------------------------------------------------------------------------


def test_impressions_and_clicks_with_the_token_are_counted_for_the_customer(
    edge: TestClient,
) -> None:
    customer = "c-events"
    decided = slot(edge, "hero", customer_id=customer)
    variant = decided["variant"]
    for kind in ("impression", "click"):
        r = send_event(edge, type=kind, token=decided["token"])
        assert r.status_code == 200, r.text
        assert r.json() == {"ok": True, "counted": 1}
        assert "no-store" in r.headers["cache-control"]
    assert tallies(edge, "mail-sale") == {
        variant: {
            "impressions": 1,
            "clicks": 1,
            "conversions": 0,
            "visitors": 1,
            "converted": 0,
            "held_back": 0,
        }
    }
    daily = call(edge, store(edge).daily_tallies, ["mail-sale"])["mail-sale"]
    assert daily[tally_day()][variant]["impressions"] == 1
    kept = record(edge, own_visitor(customer))
    assert kept is not None
    entry = kept["response"]["mail-sale"]
    assert (entry["impressions"], entry["clicks"], entry["variant"]) == (1, 1, variant)
    streamed = [e for e in store(edge).events if e["type"] in ("impression", "click")]
    assert [
        (e["type"], e["campaign"], e["variant"], e["slot"], e["channel"]) for e in streamed
    ] == [
        ("impression", "mail-sale", variant, "hero", "email"),
        ("click", "mail-sale", variant, "hero", "email"),
    ]
    assert {e["visitor"] for e in streamed} == {own_visitor(customer)}


def test_the_token_names_the_customer_not_the_body(edge: TestClient) -> None:
    decided = slot(edge, "hero", customer_id="c-real")
    r = send_event(edge, type="impression", token=decided["token"], customer_id="c-other")
    assert r.status_code == 200
    kept = record(edge, own_visitor("c-real"))
    assert kept is not None
    assert kept["response"]["mail-sale"]["impressions"] == 1
    assert record(edge, own_visitor("c-other")) is None


def test_impressions_count_towards_frequency_caps(edge: TestClient) -> None:
    decided = slot(edge, "capped", customer_id="c-cap")
    assert decided["campaign"] == "once"
    assert slot(edge, "capped", customer_id="c-cap")["campaign"] == "once"  # not shown yet
    assert send_event(edge, type="impression", token=decided["token"]).status_code == 200
    assert slot(edge, "capped", customer_id="c-cap")["campaign"] is None


def _tampered(token: str) -> list[str]:
    payload, rest = token.split(".", 1)
    flipped = ("A" if payload[1] != "A" else "B").join([payload[:1], payload[2:]])
    return [
        f"{flipped}.{rest}",
        token[:-2],
        token + "x",
        token.replace(".", "..", 1),
        f"{payload}.",
        token.upper(),
    ]


def test_a_tampered_token_is_refused(edge: TestClient) -> None:
    token = slot(edge, "hero", customer_id="c-1")["token"]
    for bad in _tampered(token):
        r = send_event(edge, type="click", token=bad)
        assert r.status_code == 400, bad
        assert "token" in error(r)
    assert all(row["clicks"] == 0 for row in tallies(edge, "mail-sale").values())


def _token(keys: list[str], data: Any, salt: str = "opmaat.tracking", age: float = 0) -> str:
    class Aged(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    made = URLSafeTimedSerializer(keys, salt=salt, signer=Aged).dumps(data)
    return made if isinstance(made, str) else made.decode("ascii")


GOOD = ["mail-sale", "a", "hero", "email", "c-1"]


@pytest.mark.parametrize(
    "token",
    [
        _token(["another-signing-key-0123456789"], GOOD),
        _token([KEY], GOOD),  # the API key is not the signing key
        _token(list(KEYS), GOOD, salt="itsdangerous"),
        _token(list(KEYS), GOOD, age=91 * 86400),  # emails are opened for 90 days
    ],
)
def test_a_token_not_signed_by_this_edge_or_expired_is_refused(
    edge: TestClient, token: str
) -> None:
    r = send_event(edge, type="impression", token=token)
    assert r.status_code == 400
    assert "not one of ours" in error(r)
    assert tallies(edge, "mail-sale") == {}
    assert record(edge, own_visitor("c-1")) is None


def test_a_token_of_89_days_still_counts(edge: TestClient) -> None:
    r = send_event(edge, type="impression", token=_token(list(KEYS), GOOD, age=89 * 86400))
    assert r.status_code == 200, r.text
    assert tallies(edge, "mail-sale")["a"]["impressions"] == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["mail-sale", "a", "hero", "email"], "not one of ours"),
        ({"campaign": "mail-sale"}, "not one of ours"),
        ("mail-sale", "not one of ours"),
        (["mail-sale", "a", "hero", "email", 5], "not one of ours"),
        (["mail-sale", None, "hero", "email", "c-1"], "not one of ours"),
        (["gone", "a", "hero", "email", "c-1"], "unknown campaign"),
        (["mail-sale", "z", "hero", "email", "c-1"], "has no variant 'z'"),
    ],
)
def test_a_signed_token_of_the_wrong_shape_is_refused(
    edge: TestClient, data: Any, message: str
) -> None:
    r = send_event(edge, type="impression", token=_token(list(KEYS), data))
    assert r.status_code == 400
    assert message in error(r)
    assert tallies(edge, "mail-sale") == {}


@pytest.mark.parametrize("token", [None, "", 5, ["x"], {"t": 1}, "x" * 5000])
def test_an_impression_needs_a_token(edge: TestClient, token: Any) -> None:
    body: dict[str, Any] = {"type": "impression"}
    if token is not None:
        body["token"] = token
    r = send_event(edge, **body)
    assert r.status_code == 400
    assert "token" in error(r)


@pytest.mark.parametrize("kind", [None, "pageview", "goal ", ["goal"], 1])
def test_the_event_type_is_checked(edge: TestClient, kind: Any) -> None:
    r = send_event(edge, type=kind, customer_id="c-1", name="purchase")
    assert r.status_code == 400
    assert "event type must be one of impression, click, goal" in error(r)


def test_a_goal_counts_a_conversion_and_a_converted_visitor(edge: TestClient) -> None:
    customer = "c-goal"
    decided = slot(edge, "hero", customer_id=customer)
    variant = decided["variant"]
    assert tallies(edge, "mail-sale")[variant]["visitors"] == 1
    assert send_event(edge, type="impression", token=decided["token"]).status_code == 200
    r = send_event(edge, type="goal", name="purchase", customer_id=customer, channel="email")
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "counted": 2}
    assert tallies(edge, "mail-sale") == {
        variant: {
            "impressions": 1,
            "clicks": 0,
            "conversions": 1,
            "visitors": 1,
            "converted": 1,
            "held_back": 0,
        }
    }
    # A second purchase is a second conversion, by a visitor already converted.
    send_event(edge, type="goal", name="purchase", customer_id=customer)
    row = tallies(edge, "mail-sale")[variant]
    assert (row["conversions"], row["converted"]) == (2, 1)
    kept = record(edge, own_visitor(customer))
    assert kept is not None
    assert kept["response"]["mail-sale"]["conversions"] == 2
    goals = [e for e in store(edge).events if e["type"] == "goal"]
    assert [(e["name"], e["channel"]) for e in goals] == [
        ("purchase", "email"),
        ("purchase", "server"),
    ]
    assert {e["visitor"] for e in goals} == {own_visitor(customer)}


@pytest.mark.parametrize("customer_id", [None, "", True, "a\nb"])
def test_a_goal_needs_the_customer_id(edge: TestClient, customer_id: Any) -> None:
    body: dict[str, Any] = {"type": "goal", "name": "purchase"}
    if customer_id is not None:
        body["customer_id"] = customer_id
    r = send_event(edge, **body)
    assert r.status_code == 400
    assert "customer_id" in error(r)
    assert len(store(edge)) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "made_up"}, "list it under site.events"),
        ({"name": "Bad Name!"}, "unknown event"),
        ({"name": None}, "unknown event"),
        ({"name": ["purchase"]}, "unknown event"),
        ({"name": "purchase", "props": {"value": "lots"}}, "purchase value"),
        ({"name": "add_to_cart"}, "needs props with the product"),
        ({"name": "purchase", "channel": "fax"}, "channel must be one of"),
    ],
)
def test_a_bad_goal_is_refused_and_changes_nothing(
    edge: TestClient, body: dict[str, Any], message: str
) -> None:
    decided = slot(edge, "hero", customer_id="c-1")
    before = record(edge, own_visitor("c-1"))
    r = send_event(edge, type="goal", customer_id="c-1", **body)
    assert r.status_code == 400
    assert message in error(r)
    assert record(edge, own_visitor("c-1")) == before
    assert tallies(edge, "mail-sale")[decided["variant"]]["converted"] == 0


def test_an_arm_counts_each_customer_once(edge: TestClient) -> None:
    variant = slot(edge, "hero", customer_id="c-arm")["variant"]
    slot(edge, "hero", customer_id="c-arm")
    assert tallies(edge, "mail-sale")[variant]["visitors"] == 1
    slot(edge, "hero", customer_id="c-arm-2")
    rows = tallies(edge, "mail-sale")
    assert sum(row["visitors"] for row in rows.values()) == 2


def test_the_holdout_arm_gets_visitors_and_conversions(edge: TestClient) -> None:
    customer = customer_in("held", 0.5, held_out=True)
    decided = slot(edge, "offer", customer_id=customer)
    assert decided["campaign"] == "held"
    assert decided["holdout"] is True
    assert (decided["variant"], decided["html"], decided["token"]) == (None, None, None)
    assert tallies(edge, "held") == {
        HOLDOUT_ARM: {
            "impressions": 0,
            "clicks": 0,
            "conversions": 0,
            "visitors": 1,
            "converted": 0,
            "held_back": 0,
        }
    }
    r = send_event(edge, type="goal", name="purchase", customer_id=customer)
    assert r.status_code == 200, r.text
    assert tallies(edge, "held") == {
        HOLDOUT_ARM: {
            "impressions": 0,
            "clicks": 0,
            "conversions": 0,
            "visitors": 1,
            "converted": 1,
            "held_back": 0,
        }
    }
    shown = customer_in("held", 0.5, held_out=False)
    assert slot(edge, "offer", customer_id=shown)["variant"] == "h"
    assert tallies(edge, "held")["h"]["visitors"] == 1


def test_a_goal_of_a_customer_who_was_never_decided_counts_for_no_campaign(
    edge: TestClient,
) -> None:
    r = send_event(edge, type="goal", name="purchase", customer_id="c-new")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "counted": 0}
    assert tallies(edge, "mail-sale") == {}


# --- 7. hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/decide", "/v1/events"])
@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"not json", 400),
        (b"{", 400),
        (b"[1, 2]", 400),
        (b'"text"', 400),
        (b"null", 400),
        (b"\xff\xfe{}", 400),
        (b'{"channel": "email", "customer_id": "\\ud800", "slots": ["hero"]}', 400),
        (
            b'{"channel": "email", "customer_id": "c", "attributes": {"geo": {"city": "\\udfff"}}}',
            400,
        ),
        (b'{"type": "impression", "token": "\\ud800"}', 400),
        (json.dumps({"channel": "email", "x": "y" * 20000}).encode(), 413),
        (json.dumps({"a": [[[[[[[[[1]]]]]]]]]}).encode(), 400),
    ],
)
def test_hostile_bodies_are_refused_never_a_server_error(
    edge: TestClient, path: str, content: bytes, status: int
) -> None:
    r = post(edge, path, content)
    assert r.status_code == status
    error(r)


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "email", "customer_id": {"id": 1}, "slots": ["hero"]},
        {"channel": "email", "customer_id": ["c"], "slots": ["hero"]},
        {"channel": "email", "customer_id": "c", "attributes": {"geo": "\u0000"}},
        {"channel": "email", "customer_id": "c", "attributes": {"time": {"x": 1e308}}},
        {"channel": "email", "customer_id": "c", "attributes": {"cart": "lots"}, "slots": ["cart"]},
        {"channel": "email", "customer_id": "c", "attributes": {"geo": None}, "slots": ["local"]},
        {"channel": "email", "customer_id": "c", "attributes": {"segments": {"$in": 1}}},
        {"channel": "email", "customer_id": 10**40, "slots": ["hero"]},
        {"channel": "email", "customer_id": "\u202e\ufeff", "slots": ["hero"]},
        {"type": "click", "token": "a.b.c", "customer_id": "c"},
        {"type": "goal", "customer_id": "c", "name": "purchase", "props": [1]},
        {"type": "goal", "customer_id": "c", "name": "purchase", "props": {"value": 1e308}},
        {"type": "goal", "customer_id": "c", "name": {"$ne": 1}},
    ],
)
@pytest.mark.parametrize("path", ["/v1/decide", "/v1/events"])
def test_odd_values_get_an_answer_never_a_server_error(
    edge: TestClient, path: str, body: dict[str, Any]
) -> None:
    r = post(edge, path, body)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        error(r)


def test_a_huge_body_is_refused_before_the_key_is_checked(edge: TestClient) -> None:
    r = post(edge, "/v1/decide", b"{" + b" " * 20000 + b"}", headers={})
    assert r.status_code == 413
