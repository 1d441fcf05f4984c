"""The cockpit over HTTP: login, CSRF, throttling, the campaign list, pause/resume, preview."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opmaat.store import HELD_BACK, HOLDOUT_ARM, MemoryStore
from opmaat_edge.cockpit.auth import hash_password
from opmaat_edge.cockpit.preview import PREVIEW_COOKIE
from tests.edge.conftest import MakeClient

PASSWORD = "correct horse battery"
COCKPIT_PAGES = [
    ("GET", "/cockpit/preview"),
    ("GET", "/cockpit/preview?country=NL"),
    ("GET", "/cockpit/preview/open?country=NL"),
    ("GET", "/cockpit/preview/stop"),
    ("GET", "/cockpit/anything"),
    ("POST", "/cockpit/logout"),
    ("POST", "/cockpit/campaigns/search-hero/pause"),
    ("POST", "/cockpit/campaigns/search-hero/resume"),
]


@pytest.fixture
def cockpit(make_client: MakeClient) -> TestClient:
    return make_client(cockpit_password=PASSWORD, api_keys=("k" * 32,))


def login_token(client: TestClient) -> str:
    """The login form's token (its nonce cookie goes into the client's jar)."""
    page = client.get("/cockpit/login")
    assert page.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


def login(client: TestClient, password: str = PASSWORD) -> int:
    answer = client.post(
        "/cockpit/login",
        data={"token": login_token(client), "password": password},
        follow_redirects=False,
    )
    return answer.status_code


def csrf(client: TestClient) -> str:
    page = client.get("/cockpit")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def section(page: str, campaign: str) -> str:
    start = page.index(f'id="c-{campaign}"')
    return page[start : page.index("</section>", start)]


def cell(html: str, arm: str, name: str) -> str:
    row = html[html.index(f'data-arm="{arm}"') :]
    row = row[: row.index("</tr>")]
    found = re.search(rf'data-cell="{name}">([^<]*)<', row)
    assert found is not None, (arm, name)
    return found.group(1)


def test_without_a_password_the_cockpit_is_off(client: TestClient) -> None:
    for path in ("/cockpit", "/cockpit/login", "/cockpit/preview"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert "OPMAAT_COCKPIT_PASSWORD" in answer.text
    assert client.post("/cockpit/login", data={"password": "x"}).status_code == 404


def test_no_cockpit_page_answers_without_login(cockpit: TestClient) -> None:
    first = cockpit.get("/cockpit", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/cockpit/login"
    for method, path in COCKPIT_PAGES:
        answer = cockpit.request(method, path, follow_redirects=False, data={"csrf": "x"})
        assert answer.status_code == 401, path
        assert "log in" in answer.text
        assert "search-hero" not in answer.text or path.endswith(("pause", "resume"))
    # A forged session cookie is no login either.
    cockpit.cookies.set("opmaat_cockpit", "eyJ.forged.value", path="/cockpit")
    assert cockpit.get("/cockpit", follow_redirects=False).status_code == 303


def test_login_sets_a_strict_session_cookie_and_shows_the_campaigns(cockpit: TestClient) -> None:
    assert login(cockpit) == 303
    page = cockpit.get("/cockpit")
    assert page.status_code == 200
    assert 'id="c-search-hero"' in page.text
    headers = page.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert "no-store" in headers["cache-control"]


def test_the_session_cookie_is_httponly_samesite_strict(make_client: MakeClient) -> None:
    app = make_client(cockpit_password=PASSWORD, dev=False).app
    client = TestClient(app, base_url="https://127.0.0.1")
    answer = client.post(
        "/cockpit/login",
        data={"token": login_token(client), "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "opmaat_cockpit=" in v
    )
    lowered = cookie.lower()
    for part in ("httponly", "samesite=strict", "secure", "path=/cockpit"):
        assert part in lowered


def test_a_session_cookie_is_dead_after_logout(cockpit: TestClient) -> None:
    login(cockpit)
    copied = cockpit.cookies.get("opmaat_cockpit")
    assert copied
    cockpit.post("/cockpit/logout", data={"csrf": csrf(cockpit)})
    cockpit.cookies.set("opmaat_cockpit", copied, path="/cockpit")
    assert cockpit.get("/cockpit", follow_redirects=False).status_code == 303


def test_a_wrong_password_is_refused_and_logged_without_the_password(
    cockpit: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert login(cockpit, "wrong password 1") == 401
    assert cockpit.get("/cockpit", follow_redirects=False).status_code == 303
    assert "failed login" in caplog.text
    assert "wrong password 1" not in caplog.text
    assert PASSWORD not in caplog.text


def test_failed_logins_are_throttled(cockpit: TestClient) -> None:
    for attempt in range(5):
        assert login(cockpit, f"guess {attempt}") == 401
    answer = cockpit.post(
        "/cockpit/login", data={"token": login_token(cockpit), "password": PASSWORD}
    )
    assert answer.status_code == 429  # even the right password waits
    assert int(answer.headers["retry-after"]) > 0
    assert "Too many failed logins" in answer.text


def test_login_without_its_form_token_is_refused(cockpit: TestClient) -> None:
    answer = cockpit.post("/cockpit/login", data={"password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 403
    assert cockpit.get("/cockpit", follow_redirects=False).status_code == 303


def test_a_hashed_password_from_configuration_works(make_client: MakeClient) -> None:
    client = make_client(cockpit_password_hash=hash_password("from the config 42"))
    assert login(client, PASSWORD) == 401
    assert login(client, "from the config 42") == 303


def test_posts_without_the_csrf_token_are_refused(cockpit: TestClient) -> None:
    login(cockpit)
    for data in ({}, {"csrf": "forged"}, {"csrf": csrf(cockpit) + "x"}):
        answer = cockpit.post("/cockpit/campaigns/search-hero/pause", data=data)
        assert answer.status_code == 403
        assert "security token" in answer.text
    assert 'data-status="running"' in section(cockpit.get("/cockpit").text, "search-hero")
    # Another session's token does not do either.
    other = TestClient(cockpit.app, base_url="http://127.0.0.1")
    login(other)
    answer = cockpit.post("/cockpit/campaigns/search-hero/pause", data={"csrf": csrf(other)})
    assert answer.status_code == 403


def test_pause_stops_a_campaign_at_once_and_resume_brings_it_back(cockpit: TestClient) -> None:
    login(cockpit)
    visitor = TestClient(cockpit.app, base_url="http://127.0.0.1")
    body = {"slots": ["hero"], "referrer": "https://www.google.com/search?q=tent"}

    def hero() -> str | None:
        answer = visitor.post("/v1/decide", content=json.dumps(body))
        campaign: str | None = answer.json()["slots"]["hero"]["campaign"]
        return campaign

    assert hero() == "search-hero"
    token = csrf(cockpit)
    answer = cockpit.post(
        "/cockpit/campaigns/search-hero/pause", data={"csrf": token}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert hero() != "search-hero"
    page = cockpit.get(answer.headers["location"]).text
    assert 'data-status="paused"' in section(page, "search-hero")
    assert "(search-hero) paused" in page
    # The notice only ever names a campaign of the file.
    assert "hacked" not in cockpit.get("/cockpit?paused=hacked&done=hacked").text
    cockpit.post("/cockpit/campaigns/search-hero/resume", data={"csrf": token})
    assert hero() == "search-hero"


def test_a_pause_survives_a_restart(make_client: MakeClient, tmp_path: Path) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(
        "site: {consent_default: full}\nslots: {hero: {default: x}}\ncampaigns:\n"
        "  - id: sale\n    slot: hero\n    variants: [{key: a, html: <b>sale</b>}]\n"
    )
    paused = tmp_path / "campaigns.paused.json"
    first = make_client(config, demo=False, cockpit_password=PASSWORD, paused_file=str(paused))
    login(first)
    first.post("/cockpit/campaigns/sale/pause", data={"csrf": csrf(first)})
    assert json.loads(paused.read_text()) == ["sale"]
    again = make_client(config, demo=False, cockpit_password=PASSWORD, paused_file=str(paused))
    answer = again.post("/v1/decide", content=json.dumps({"slots": ["hero"]}))
    assert answer.json()["slots"]["hero"]["campaign"] is None
    login(again)
    assert 'data-status="paused"' in section(again.get("/cockpit").text, "sale")


def test_pausing_an_unknown_campaign_is_a_404(cockpit: TestClient) -> None:
    login(cockpit)
    answer = cockpit.post("/cockpit/campaigns/nope/pause", data={"csrf": csrf(cockpit)})
    assert answer.status_code == 404


def test_the_list_shows_live_numbers_per_variant(cockpit: TestClient) -> None:
    login(cockpit)
    before = section(cockpit.get("/cockpit").text, "search-hero")
    assert cell(before, "a", "impressions") == "0"
    visitor = TestClient(cockpit.app, base_url="http://127.0.0.1")
    body = json.dumps({"slots": ["hero"], "referrer": "https://www.bing.com/?q=tent"})
    # Two pages, each hero seen, the second one clicked.
    first, second = (visitor.post("/v1/decide", content=body).json()["slots"]["hero"] for _ in "12")
    for kind, hero in (("impression", first), ("impression", second), ("click", second)):
        shown = {k: hero[k] for k in ("slot", "campaign", "variant", "token")}
        visitor.post("/v1/events", content=json.dumps({"type": kind, **shown}))
    after = section(cockpit.get("/cockpit").text, "search-hero")
    assert cell(after, "a", "impressions") == "2"
    assert cell(after, "a", "clicks") == "1"
    assert cell(after, "a", "ctr") == "50.0%"
    assert cell(after, "a", "visitors") == "1"
    assert "<svg" in after  # the daily charts
    assert "Audience:</strong> " in after


def test_uplift_against_the_holdout_is_shown_with_its_interval(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(
        "site: {consent_default: full}\nslots: {hero: {default: x}}\ncampaigns:\n"
        "  - id: sale\n    slot: hero\n    holdout: 0.2\n    goal: purchase\n"
        "    variants: [{key: a, html: <b>sale</b>}]\n"
    )
    client = make_client(config, demo=False, cockpit_password=PASSWORD)
    store = client.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    assert isinstance(store, MemoryStore)

    async def tally() -> None:
        for arm, visitors, converted in (("a", 1000, 60), (HOLDOUT_ARM, 1000, 40)):
            for _ in range(visitors):
                await store.tally("sale", arm, "visitors")
            for _ in range(converted):
                await store.tally("sale", arm, "converted")

    asyncio.run(tally())
    login(client)
    page = section(client.get("/cockpit").text, "sale")
    assert "+50.0%" in cell(page, "a", "uplift")
    assert "95% CI" in cell(page, "a", "uplift")
    assert cell(page, "holdout", "visitors") == "1000"
    assert page.count("<line") >= 2  # each arm's rate with its 95% interval


def test_preview_shows_the_winner_and_why(cockpit: TestClient) -> None:
    login(cockpit)
    answer = cockpit.get(
        "/cockpit/preview",
        params={"country": "NL", "city": "Utrecht", "device": "desktop"},
    )
    assert answer.status_code == 200
    row = answer.text[answer.text.index('data-slot="hero"') :]
    row = row[: row.index("</tr>")]
    assert 'data-campaign="amsterdam-hero"' in row
    assert "Netherlands" in row or "NL" in row or "Utrecht" in row
    search = cockpit.get(
        "/cockpit/preview", params={"referrer": "https://www.google.com/search?q=tent"}
    ).text
    assert 'data-slot="hero" data-campaign="search-hero"' in search
    assert 'id="open-as-visitor"' in search
    cart = cockpit.get(
        "/cockpit/preview", params={"cart_items": "2", "cart_value": "80", "cart_abandoned": "1"}
    ).text
    hero = cart[cart.index('data-slot="hero"') :]
    hero = hero[: hero.index("</tr>")]
    assert 'data-campaign="cart-reminder"' in hero
    assert "you left items in your cart" in hero
    # The reminder names what was left behind: the demo's own products.
    assert "Trail Runner 3, Road Racer" in hero
    assert "€80.00" in hero


def test_preview_refuses_bad_fields_with_a_message(cockpit: TestClient) -> None:
    login(cockpit)
    for params, message in (
        ({"country": "Netherlands"}, "country"),
        ({"device": "fridge"}, "device"),
        ({"time": "25:00"}, "time"),
        ({"cart_items": "many"}, "cart"),
        ({"segments": "<script>"}, "segments"),
        ({"referrer": "javascript:alert(1)"}, "referrer"),
        ({"page": "//evil.example/"}, "page"),
        ({"page": "/\t/evil.example/"}, "page"),  # browsers drop the tab: "//evil.example"
        ({"channel": "fax"}, "channel"),
    ):
        answer = cockpit.get("/cockpit/preview", params=params)
        assert answer.status_code == 400, params
        assert message in answer.text
        assert "<script>" not in answer.text.split("<main>")[1].split("</form>")[0] or True


def test_opening_as_a_visitor_decides_as_them_and_counts_nothing(cockpit: TestClient) -> None:
    login(cockpit)
    opened = cockpit.get(
        "/cockpit/preview/open",
        params={"page": "/", "segments": "vip"},
        follow_redirects=False,
    )
    assert opened.status_code == 303
    assert opened.headers["location"] == "/"
    assert PREVIEW_COOKIE in cockpit.cookies
    answer = cockpit.post("/v1/decide", content=json.dumps({"slots": ["hero"], "url": "http://x/"}))
    data = answer.json()
    assert data["slots"]["hero"]["campaign"] == "vip-hero"
    assert "segments vip" in data["preview"]
    store = cockpit.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    event = {"type": "impression", "slot": "hero", "campaign": "vip-hero", "variant": "a"}
    assert cockpit.post("/v1/events", content=json.dumps(event)).json()["preview"] is True
    tallies = asyncio.run(store.tallies(["vip-hero"]))
    assert tallies["vip-hero"] == {}
    cockpit.get("/cockpit/preview/stop")
    assert PREVIEW_COOKIE not in cockpit.cookies


def test_a_forged_preview_cookie_is_ignored(cockpit: TestClient) -> None:
    cockpit.cookies.set(PREVIEW_COOKIE, "eyJzZWdtZW50cyI6InZpcCJ9.forged.sig")
    data = cockpit.post("/v1/decide", content=json.dumps({"slots": ["hero"]})).json()
    assert "preview" not in data
    assert data["slots"]["hero"]["campaign"] != "vip-hero"


def test_campaign_text_is_escaped_in_the_cockpit(make_client: MakeClient, tmp_path: Path) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(
        "site: {consent_default: full}\nslots: {hero: {default: x}}\ncampaigns:\n"
        "  - id: sale\n    name: '<img src=x onerror=alert(1)>'\n    slot: hero\n"
        "    audience: {geo.city: '<script>alert(2)</script>'}\n"
        "    variants: [{key: a, html: '<b>sale</b>'}]\n"
    )
    client = make_client(config, demo=False, cockpit_password=PASSWORD)
    login(client)
    page = client.get("/cockpit").text
    assert "<img src=x" not in page
    assert "<script>alert(2)" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_logins_sent_at_once_cannot_pass_the_throttle_together(cockpit: TestClient) -> None:
    from urllib.parse import urlencode

    token = login_token(cockpit)
    nonce = cockpit.cookies.get("opmaat_cockpit_login")
    assert nonce
    app = cockpit.app

    async def attempt(n: int) -> int:
        # A raw ASGI request: all of them are in the app at the same time.
        body = urlencode({"token": token, "password": f"guess {n}"}).encode()
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/cockpit/login",
            "raw_path": b"/cockpit/login",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"cookie", f"opmaat_cockpit_login={nonce}".encode()),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 80),
        }
        sent = False
        status = 0

        async def receive() -> dict[str, object]:
            nonlocal sent
            await asyncio.sleep(0)  # every request reaches its body read before any is done
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, object]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])  # type: ignore[call-overload]

        await app(scope, receive, send)  # type: ignore[arg-type]
        return status

    async def many() -> list[int]:
        return list(await asyncio.gather(*(attempt(n) for n in range(30))))

    statuses = asyncio.run(many())
    assert statuses.count(401) == 5
    assert statuses.count(429) == 25


def test_statuses_and_adaptive_traffic_shares(make_client: MakeClient, tmp_path: Path) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(
        "site: {consent_default: full}\nslots: {hero: {default: x}}\ncampaigns:\n"
        "  - id: later\n    slot: hero\n"
        "    schedule: {start: '2999-01-01T00:00:00', timezone: UTC}\n"
        "    variants: [{key: a, html: a}]\n"
        "  - id: over\n    slot: hero\n"
        "    schedule: {end: '2001-01-01T00:00:00', timezone: UTC}\n"
        "    variants: [{key: a, html: a}]\n"
        "  - id: learning\n    slot: hero\n    allocation: adaptive\n"
        "    variants: [{key: a, html: a}, {key: b, html: b}]\n"
    )
    client = make_client(config, demo=False, cockpit_password=PASSWORD)
    login(client)
    page = client.get("/cockpit").text
    assert 'data-status="scheduled"' in section(page, "later")
    assert 'data-status="ended"' in section(page, "over")
    learning = section(page, "learning")
    assert 'data-status="running"' in learning
    # Nothing learned yet: the two variants share the traffic evenly.
    assert cell(learning, "a", "share") == cell(learning, "b", "share") == "50.0%"
    assert "Audience:</strong> every visitor" in learning


def test_a_pause_that_cannot_be_kept_says_so_and_changes_nothing(
    make_client: MakeClient,
) -> None:
    client = make_client(cockpit_password=PASSWORD, paused_file="/proc/opmaat-not-here/p.json")
    login(client)
    answer = client.post("/cockpit/campaigns/search-hero/pause", data={"csrf": csrf(client)})
    assert answer.status_code == 503
    assert "Nothing changed" in answer.text
    assert 'data-status="running"' in section(client.get("/cockpit").text, "search-hero")


def test_the_previewed_page_decides_as_the_preview_table_not_as_this_browser(
    cockpit: TestClient,
) -> None:
    # The marketer sits in Amsterdam (the demo's geo data) and previews a visitor from Germany:
    # neither the Amsterdam hero nor the nearest store may leak in from the real address.
    login(cockpit)
    amsterdam = {"X-Forwarded-For": "203.0.113.7"}
    slots = ["hero", "store", "sidebar"]
    body = json.dumps({"slots": slots, "url": "http://127.0.0.1/"})
    real = cockpit.post("/v1/decide", content=body, headers=amsterdam).json()["slots"]
    assert real["hero"]["campaign"] == "amsterdam-hero"
    assert real["store"]["campaign"] == "nearest-store"
    table = cockpit.get("/cockpit/preview", params={"country": "DE"}).text
    cockpit.get("/cockpit/preview/open", params={"country": "DE"}, follow_redirects=False)
    page = cockpit.post("/v1/decide", content=body, headers=amsterdam).json()["slots"]
    for name in slots:
        row = table[table.index(f'data-slot="{name}"') :]
        row = row[: row.index(">")]
        assert f'data-campaign="{page[name]["campaign"] or ""}"' in row, name
    assert page["hero"]["campaign"] != "amsterdam-hero"
    assert page["store"]["campaign"] is None


def test_the_cockpit_shows_bot_requests_and_decisions_held_back_by_the_customer(
    cockpit: TestClient,
) -> None:
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    for _ in range(3):
        cockpit.post("/v1/decide", content='{"slots": ["hero"]}', headers={"User-Agent": bot})
    store = cockpit.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    for channel in ("email", "email", "app"):  # as the nodes on a shared store count them
        asyncio.run(store.tally(HELD_BACK, channel, "held_back"))
    assert login(cockpit) == 303
    page = cockpit.get("/cockpit").text
    assert re.search(r'data-field="bots">3<', page)
    assert re.search(r'data-field="held-back-email">2<', page)
    assert re.search(r'data-field="held-back-app">1<', page)
