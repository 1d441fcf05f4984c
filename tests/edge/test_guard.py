"""Issue 12, what the edge itself guards: security headers on every HTML page (a CSP with a
per-request nonce), CORS for the configured origins only, the configurable limits (events a
minute, body size, slots, store size), and visitor values that come back escaped."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2 as httpx
import pytest
from selectolax.lexbor import LexborHTMLParser
from starlette.applications import Starlette
from starlette.testclient import TestClient

from opmaat import limits
from opmaat.purl import PurlSigner, create_recipients
from opmaat.store import MemoryStore, open_store
from opmaat_edge.app import create_app
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings, SettingsError
from opmaat_edge.state import ANONYMOUS_SHARE, EdgeState

KEY = "guard-signing-key-0123456789"
SHOP = "https://www.shop.example"
EVIL = "https://evil.example"
BASE = "http://127.0.0.1"
DEMO_PAGES = ["/", "/c/running", "/product/trail-runner", "/cart", "/banner", "/campaigns", "/ssr/"]
HTML_PAGES = [*DEMO_PAGES, "/me"]
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "</script><svg onload=alert(1)>",
    "{{7*7}}",
    "'-alert(1)-'",
    '<a href="javascript:alert(1)">x</a>',
]
SAFE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}

LINKS = ("href", "src", "action", "formaction", "xlink:href")
TIMES = "\N{MULTIPLICATION SIGN}"  # in the cart banner: quantity, this sign, name

Edge = Callable[..., TestClient]

SMALL_SITE = """site:
  hosts: [shop.example]
  allowed_origins: [{origins}]
slots:
  hero: {{default: "<p>default</p>"}}
campaigns:
  - id: everyone
    slot: hero
    variants:
      - {{key: a, html: "<p>hi</p>"}}
"""


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture
def edge() -> Iterator[Edge]:
    """An edge built as production builds it: settings from OPMAAT_* variables (``env``)."""
    clients: list[TestClient] = []

    def make(
        config: Path = DEMO_CAMPAIGNS, *, peer: str = "127.0.0.1", demo: bool = True, **env: str
    ) -> TestClient:
        settings = EdgeSettings.from_env(
            {
                "OPMAAT_CONFIG": str(config),
                "OPMAAT_SECRET_KEYS": KEY,
                "OPMAAT_DEV": "1",
                "OPMAAT_DEMO": "1" if demo else "",
                "OPMAAT_RELOAD_INTERVAL": "3600",
                **env,
            }
        )
        client = TestClient(create_app(settings), client=(peer, 50000), base_url=BASE)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def another_address(client: TestClient, peer: str) -> TestClient:
    """A browser on another address talking to the same edge process."""
    return TestClient(client.app, client=(peer, 50000), base_url=BASE)


def state(client: TestClient) -> EdgeState:
    app = client.app
    assert isinstance(app, Starlette)
    found: EdgeState = app.state.edge
    return found


def small_site(folder: Path, *origins: str) -> Path:
    path = folder / "campaigns.yaml"
    path.write_text(SMALL_SITE.format(origins=", ".join(origins)), encoding="utf-8")
    return path


def rewrite(path: Path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()  # a later mtime than the last load, whatever the clock's resolution
    os.utime(path, (st.st_atime, st.st_mtime + bump))


def policy(r: httpx.Response) -> dict[str, list[str]]:
    headers = r.headers.get_list("content-security-policy")
    assert len(headers) == 1, headers
    out: dict[str, list[str]] = {}
    for part in headers[0].split(";"):
        words = part.split()
        if words:
            out.setdefault(words[0].lower(), words[1:])
    return out


def script_sources(csp: dict[str, list[str]]) -> list[str]:
    found = csp.get("script-src", csp.get("default-src"))
    assert found is not None, "no script-src and no default-src: any script may run"
    return found


def nonces(csp: dict[str, list[str]]) -> list[str]:
    return [s[len("'nonce-") : -1] for s in script_sources(csp) if s.startswith("'nonce-")]


def inline_scripts(html: str) -> list[dict[str, str | None]]:
    """Attributes of the inline scripts a browser would run (JSON data blocks are not run)."""
    out = []
    for node in LexborHTMLParser(html).css("script"):
        attrs = node.attributes
        kind = (attrs.get("type") or "").strip().lower()
        if "src" in attrs or kind not in ("", "text/javascript", "module"):
            continue
        out.append(attrs)
    return out


def vary(r: httpx.Response) -> set[str]:
    return {v.strip().lower() for h in r.headers.get_list("vary") for v in h.split(",")}


def cors_headers(r: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def preflight(client: TestClient, path: str, origin: str, method: str = "POST") -> httpx.Response:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


def json_error(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    error = r.json()["error"]
    assert isinstance(error, str)
    assert words in error, error


def decide(client: TestClient, slots: list[str], **body: Any) -> dict[str, Any]:
    r = client.post("/v1/decide", content=json.dumps({"slots": slots, **body}))
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()["slots"]
    return found


def impression(client: TestClient, **body: Any) -> dict[str, Any]:
    """The impression of a new decision for the hero slot, as the snippet sends it."""
    hero = decide(client, ["hero"], **body)["hero"]
    return {"type": "impression", **{k: hero[k] for k in ("slot", "campaign", "variant", "token")}}


def event(client: TestClient, body: dict[str, Any] | None = None) -> httpx.Response:
    return client.post("/v1/events", content=json.dumps(body or impression(client)))


def injected(html: str) -> list[str]:
    """Elements or attributes a payload would have added had it not been escaped."""
    tree = LexborHTMLParser(html)
    found: list[str] = []
    for node in tree.css("img, svg, iframe, object, embed"):
        found.append(node.html or str(node.tag))
    for node in tree.css("*"):
        for name, value in node.attributes.items():
            if name.lower().startswith("on"):
                found.append(f"{node.tag} {name}={value}")
            link = (value or "").strip().lower()
            if name.lower() in LINKS and link.startswith("javascript:"):
                found.append(f"{node.tag} {name}={value}")
    for node in tree.css("script"):
        if "alert(1)" in node.text(deep=True):
            found.append(node.html or "script")
    return found


def text_of(html: str) -> str:
    body = LexborHTMLParser(html).body
    return body.text(deep=True) if body is not None else ""


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The rate limiter's clock, 15 s into a minute (so six quick events share one window)."""
    now = [60.0 * 29_000_000 + 15.0]
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: now[0]))
    return now


# --- security headers ---------------------------------------------------------------------


@pytest.mark.parametrize("path", HTML_PAGES)
def test_every_html_page_sends_a_strict_policy_nosniff_and_a_referrer_policy(
    client: TestClient, path: str
) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = policy(r)
    assert csp.get("frame-ancestors") == ["'none'"]
    scripts = script_sources(csp)
    for loose in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:", "blob:"):
        assert loose not in scripts, (loose, scripts)
    assert csp.get("object-src", csp.get("default-src")) == ["'none'"]
    assert csp.get("base-uri") in (["'none'"], ["'self'"])
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] in SAFE_REFERRER_POLICIES


@pytest.mark.parametrize("path", DEMO_PAGES)
def test_each_request_gets_its_own_nonce_and_every_inline_script_carries_it(
    client: TestClient, path: str
) -> None:
    seen = []
    for _ in range(2):
        r = client.get(path)
        (nonce,) = nonces(policy(r))
        assert len(nonce) >= 16  # 128 random bits: not guessable
        scripts = inline_scripts(r.text)
        assert scripts, "the demo pages have an inline script (the snippet's stub)"
        assert all(script.get("nonce") == nonce for script in scripts), scripts
        seen.append(nonce)
    assert seen[0] != seen[1]


def test_the_privacy_page_runs_no_script_at_all(client: TestClient) -> None:
    r = client.get("/me")
    csp = policy(r)
    # No script-src: default-src 'none' applies to scripts, so no nonce and no inline script.
    assert "script-src" not in csp
    assert csp["default-src"] == ["'none'"]
    assert nonces(csp) == []
    assert inline_scripts(r.text) == []
    assert r.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/me", None, 200),
        ("POST", "/v1/decide", b'{"slots": ["hero"]}', 200),
        ("POST", "/v1/events", b'{"type": "explode"}', 400),
        ("POST", "/v1/events", b"not json", 400),
        ("GET", "/v1/decide?slots=not%20a%20slot!", None, 400),
        ("GET", "/healthz", None, 200),
        ("GET", "/readyz", None, 200),
        ("GET", "/nothing-here", None, 404),
        ("DELETE", "/healthz", None, 405),
    ],
)
def test_json_answers_have_nosniff(
    client: TestClient, method: str, path: str, body: bytes | None, status: int
) -> None:
    r = client.request(method, path, content=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]


@pytest.mark.parametrize(("path", "kind"), [("/opmaat.js", "javascript"), ("/metrics", "text/")])
def test_scripts_and_metrics_have_nosniff(client: TestClient, path: str, kind: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert kind in r.headers["content-type"]
    assert r.headers["x-content-type-options"] == "nosniff"


# --- CORS ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/decide", b'{"slots": ["hero"]}'),
        ("POST", "/v1/events", None),  # an impression of the decision below
        ("GET", "/v1/me", None),
    ],
)
def test_the_sites_own_origin_may_call_the_api_with_credentials(
    edge: Edge, tmp_path: Path, method: str, path: str, body: bytes | None
) -> None:
    client = edge(small_site(tmp_path, SHOP), demo=False)
    shown = impression(client)  # a visitor with a cookie, as the site's pages would have
    if path == "/v1/events":
        body = json.dumps(shown).encode()
    r = client.request(method, path, content=body, headers={"Origin": SHOP})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SHOP
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "origin" in vary(r)

    method_asked = "PATCH" if method == "GET" else method
    pre = preflight(client, path, SHOP, method_asked)
    assert 200 <= pre.status_code < 300
    assert pre.headers["access-control-allow-origin"] == SHOP
    assert pre.headers["access-control-allow-credentials"] == "true"
    allowed = {m.strip() for m in pre.headers["access-control-allow-methods"].split(",")}
    assert method_asked in allowed
    assert "content-type" in pre.headers["access-control-allow-headers"].lower()
    assert "origin" in vary(pre)


@pytest.mark.parametrize(
    "origin",
    [
        EVIL,
        "null",
        "http://www.shop.example",  # another scheme is another origin
        "https://www.shop.example:8443",
        "https://www.shop.example.evil.example",
        "https://evil.example/https://www.shop.example",
        "https://shop.example",  # the bare domain was not listed
    ],
)
def test_other_origins_get_no_cors_and_their_preflight_is_refused(
    edge: Edge, tmp_path: Path, origin: str
) -> None:
    client = edge(small_site(tmp_path, SHOP), demo=False)
    r = client.post("/v1/decide", content=b'{"slots": ["hero"]}', headers={"Origin": origin})
    assert r.status_code == 200
    assert cors_headers(r) == {}
    assert "origin" in vary(r)  # a cache must not hand this answer to the site's own origin
    pre = preflight(client, "/v1/events", origin)
    json_error(pre, 403, "origin")
    assert cors_headers(pre) == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/me"), ("GET", "/opmaat.js"), ("GET", "/healthz"), ("GET", "/p/x")],
)
def test_no_cors_headers_outside_the_api(
    edge: Edge, tmp_path: Path, method: str, path: str
) -> None:
    client = edge(small_site(tmp_path, SHOP))
    r = client.request(method, path, headers={"Origin": SHOP}, follow_redirects=False)
    assert r.status_code < 400, (path, r.status_code)
    assert cors_headers(r) == {}
    pre = preflight(client, path, SHOP)
    assert cors_headers(pre) == {}
    assert not 200 <= pre.status_code < 300


def test_a_reload_that_changes_allowed_origins_takes_effect(edge: Edge, tmp_path: Path) -> None:
    other = "https://checkout.shop.example"
    path = small_site(tmp_path, SHOP)
    client = edge(path, demo=False)
    assert preflight(client, "/v1/events", SHOP).status_code == 204
    assert preflight(client, "/v1/events", other).status_code == 403

    rewrite(path, SMALL_SITE.format(origins=other), 10)
    assert state(client).runtime.reload_if_changed()
    assert preflight(client, "/v1/events", SHOP).status_code == 403
    pre = preflight(client, "/v1/events", other)
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == other
    r = client.post("/v1/decide", content=b'{"slots": ["hero"]}', headers={"Origin": SHOP})
    assert cors_headers(r) == {}
    r = client.post("/v1/decide", content=b'{"slots": ["hero"]}', headers={"Origin": other})
    assert r.headers["access-control-allow-origin"] == other


# --- limits: events a minute ----------------------------------------------------------------


def test_the_sixth_event_in_a_minute_is_429_for_that_visitor_only(
    edge: Edge, tmp_path: Path, fixed_clock: list[float]
) -> None:
    client = edge(small_site(tmp_path, SHOP), demo=False, OPMAAT_EVENTS_PER_MINUTE="5")
    decide(client, ["hero"])
    first = list(client.cookies.jar)
    for _ in range(5):
        assert event(client).status_code == 200
    r = event(client)
    json_error(r, 429, "5 events a minute")
    assert r.headers["retry-after"] == "45"  # the window ends 45 s after this clock's 0:15
    assert client.get("/v1/me").json()["response"]["everyone"]["impressions"] == 5

    client.cookies.clear()  # another visitor, same address
    decide(client, ["hero"])
    assert event(client).status_code == 200

    client.cookies.clear()
    for cookie in first:
        client.cookies.jar.set_cookie(cookie)
    assert event(client).status_code == 429
    fixed_clock[0] += 45.0  # the next minute
    assert event(client).status_code == 200


def test_without_a_cookie_events_count_per_address_and_browser(
    edge: Edge, tmp_path: Path, fixed_clock: list[float]
) -> None:
    client = edge(
        small_site(tmp_path, SHOP), peer="192.0.2.10", demo=False, OPMAAT_EVENTS_PER_MINUTE="5"
    )
    # Many people may share an address: cookie-less events get ANONYMOUS_SHARE times the room.
    room = 5 * ANONYMOUS_SHARE
    firefox = {
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    }

    def cookieless(c: TestClient, headers: dict[str, str] | None = None) -> int:
        c.cookies.clear()
        shown = impression(c, consent="none")  # decided with nothing kept: no cookie
        return c.post("/v1/events", content=json.dumps(shown), headers=headers).status_code

    assert [cookieless(client) for _ in range(room)] == [200] * room
    client.cookies.clear()
    r = client.post("/v1/events", content=json.dumps(impression(client, consent="none")))
    json_error(r, 429, f"{room} events a minute")
    assert int(r.headers["retry-after"]) == 45
    # The address is the peer's: a made-up X-Forwarded-For from an untrusted peer changes nothing.
    assert cookieless(client, {"X-Forwarded-For": "203.0.113.99"}) == 429
    assert cookieless(another_address(client, "192.0.2.11")) == 200
    assert cookieless(client, firefox) == 200  # another browser behind the same address
    # A visitor with a cookie counts as themself, not as their address.
    client.cookies.clear()
    decide(client, ["hero"])
    assert event(client).status_code == 200


# --- limits: body size, slots ---------------------------------------------------------------


def padded(size: int) -> bytes:
    """A goal event whose JSON body is exactly ``size`` bytes."""
    empty = json.dumps({"type": "goal", "name": "purchase", "props": {"note": ""}})
    return json.dumps(
        {"type": "goal", "name": "purchase", "props": {"note": "x" * (size - len(empty))}}
    ).encode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/events"),
        ("POST", "/v1/decide"),
        ("POST", "/v1/identify"),
        ("POST", "/v1/consent"),
        ("PATCH", "/v1/me"),
    ],
)
def test_a_body_over_max_body_bytes_is_413_json(edge: Edge, method: str, path: str) -> None:
    client = edge(OPMAAT_MAX_BODY_BYTES="2048")
    three_kb = padded(3 * 1024)
    json_error(client.request(method, path, content=three_kb), 413, "2048 bytes")
    # Sent in chunks, without a Content-Length to check first.
    chunks = iter([three_kb[:1000], three_kb[1000:2000], three_kb[2000:]])
    json_error(client.request(method, path, content=chunks), 413, "2048 bytes")
    assert client.request(method, path, content=padded(2048)).status_code != 413
    json_error(client.request(method, path, content=padded(2049)), 413, "2048 bytes")
    # The limit is the setting, not a fixed one: the default edge takes the same 3 KB.
    assert edge().request(method, path, content=three_kb).status_code != 413


def test_the_privacy_form_body_is_limited_too(edge: Edge) -> None:
    client = edge(OPMAAT_MAX_BODY_BYTES="2048")
    r = client.post(
        "/me",
        content=b"action=prefs&token=x&add_interest=" + b"a" * 3000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    json_error(r, 413, "2048 bytes")


def test_more_slots_than_max_slots_is_400(edge: Edge) -> None:
    client = edge(OPMAAT_MAX_SLOTS="3")
    four = ["hero", "sidebar", "promo", "store"]
    r = client.post("/v1/decide", content=json.dumps({"slots": four}))
    json_error(r, 400, "at most 3 slots")
    json_error(client.get("/v1/decide", params={"slots": ",".join(four)}), 400, "at most 3 slots")
    assert sorted(decide(client, four[:3])) == sorted(four[:3])
    assert sorted(decide(edge(), four)) == sorted(four)  # the default allows 20


# --- limits: the settings themselves --------------------------------------------------------

LIMITS = {
    "OPMAAT_MAX_BODY_BYTES": ("1024", "1048576", ["1023", "1048577", "2k", "1e4", "-2048"]),
    "OPMAAT_MAX_SLOTS": ("1", "100", ["0", "101", "three", "3.0", "-1"]),
    "OPMAAT_EVENTS_PER_MINUTE": ("0", "100000", ["100001", "-1", "5/min", "1_000", "0x10"]),
}


def settings_with(name: str, value: str) -> EdgeSettings:
    return EdgeSettings.from_env(
        {"OPMAAT_CONFIG": str(DEMO_CAMPAIGNS), "OPMAAT_SECRET_KEYS": KEY, name: value}
    )


@pytest.mark.parametrize(
    ("name", "value"), [(name, bad) for name, (_, _, bads) in LIMITS.items() for bad in bads]
)
def test_a_bad_limit_is_a_settings_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings_with(name, value)


@pytest.mark.parametrize("name", list(LIMITS))
def test_limits_take_their_whole_range(name: str) -> None:
    low, high, _ = LIMITS[name]
    field = {
        "OPMAAT_MAX_BODY_BYTES": "max_body_bytes",
        "OPMAAT_MAX_SLOTS": "max_slots",
        "OPMAAT_EVENTS_PER_MINUTE": "events_per_minute",
    }[name]
    assert getattr(settings_with(name, low), field) == int(low)
    assert getattr(settings_with(name, high), field) == int(high)


@pytest.mark.parametrize("name", list(LIMITS))
def test_a_digit_that_is_no_number_is_a_settings_error(name: str) -> None:
    # "²" passes str.isdigit() but not int(): it must be refused as a SettingsError that
    # names the variable, not escape as a bare ValueError (as it did when this was written).
    with pytest.raises(SettingsError, match=name):
        settings_with(name, "²")


# --- limits: the memory store ---------------------------------------------------------------


def test_memory_store_holds_at_most_max_profiles() -> None:
    store = open_store("memory://?max_profiles=100")
    assert isinstance(store, MemoryStore)

    async def fill() -> None:
        for n in range(300):
            assert await store.store_if(f"visitor-{n}", {"n": n}, 3600.0, None) is not None
        assert await store.get("visitor-299") == {"n": 299}  # the least recent went first
        assert await store.get("visitor-0") is None

    asyncio.run(fill())
    assert len(store) == 100


def test_the_edges_store_stays_bounded_whatever_the_number_of_visitors(edge: Edge) -> None:
    client = edge(OPMAAT_STORE="memory://?max_profiles=100", OPMAAT_NEW_VISITORS_PER_MINUTE="0")
    store = state(client).personalizer.store
    assert isinstance(store, MemoryStore)
    for _ in range(300):
        client.cookies.clear()
        decide(client, ["hero"])
    assert 0 < len(store) <= 100
    assert client.get("/v1/me").json()["visitor"]["visits"] == 1  # the newest is still known


def test_one_address_cannot_start_more_profiles_than_its_limit(edge: Edge) -> None:
    client = edge(OPMAAT_NEW_VISITORS_PER_MINUTE="5")
    store = state(client).personalizer.store
    assert isinstance(store, MemoryStore)
    answers = []
    for _ in range(8):
        client.cookies.clear()
        answers.append(client.post("/v1/decide", content=json.dumps({"slots": ["hero"]})))
    assert len(store) == 5
    late = answers[-1]
    assert late.status_code == 200  # the page still gets its decisions ...
    assert late.json()["consent"] == "none"  # ... but nothing is kept about this one
    assert "opmaat=" not in late.headers.get("set-cookie", "")
    assert answers[0].json()["consent"] != "none"


@pytest.mark.parametrize(
    "url",
    [
        "memory://?max_profiles=abc",
        "memory://?max_profiles=99",
        "memory://?max_profiles=0",
        "memory://?max_profiles=-100",
        "memory://?max_profiles=1e3",
        "memory://?max_profiles=100000001",
        "memory://?max_profiles=",
        "memory://?max_profile=100",
        "memory://?max_profiles=100&evict=never",
        "memory://?",
    ],
)
def test_bad_memory_store_options_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="max_profiles"):
        open_store(url)
    settings = EdgeSettings(config=str(DEMO_CAMPAIGNS), secret_keys=(KEY,), store=url)
    with pytest.raises(SettingsError, match="OPMAAT_STORE"):
        create_app(settings)


# --- visitor values come back escaped -------------------------------------------------------

PURL_SITE = """site:
  hosts: [shop.example]
slots:
  hero: {default: "<p>default</p>"}
campaigns:
  - id: mailing
    slot: hero
    consent: session
    audience: {purl.campaign: mailing}
    purl: {recipients: recipients-links.csv, landing: /welcome, expose: [first_name, company]}
    variants:
      - key: a
        html: >-
          <h2>Welcome, {{ purl.first_name }}{% if purl.company %}
          of {{ purl.company }}{% endif %}!</h2>
"""


@pytest.fixture
def purl_site(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    """A mailing whose recipients' names are the payloads; returns the file and the rows."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "first_name", "company"])
    for n, payload in enumerate(PAYLOADS):
        writer.writerow([f"r-{n}", payload, payload[::-1]])
    text, problems, issued = create_recipients(
        buffer.getvalue(), filename="recipients.csv", base_url=BASE, signer=PurlSigner([KEY])
    )
    assert problems == []
    assert issued == len(PAYLOADS)
    (tmp_path / "recipients-links.csv").write_text(text, encoding="utf-8")
    config = tmp_path / "campaigns.yaml"
    config.write_text(PURL_SITE, encoding="utf-8")
    return config, list(csv.DictReader(io.StringIO(text)))


def test_purl_fields_render_escaped(
    edge: Edge, purl_site: tuple[Path, list[dict[str, str]]]
) -> None:
    config, rows = purl_site
    client = edge(config, demo=False)
    for row in rows:
        client.cookies.clear()
        r = client.get(urlsplit(row["url"]).path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/welcome")
        hero = decide(client, ["hero"], url=BASE + "/welcome")["hero"]
        assert hero["campaign"] == "mailing"
        html = hero["html"]
        assert injected(html) == []
        # The names come out as the visitor's text, character for character: escaped.
        assert text_of(html) == f"Welcome, {row['first_name']} of {row['company']}!"
        me = client.get("/me")  # the privacy page lists what the link brought along
        assert injected(me.text) == []
        assert f"first_name “{row['first_name']}”" in text_of(me.text)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_visitor_values_come_back_escaped_in_slots_and_pages(
    client: TestClient, payload: str
) -> None:
    """The server side of e2e/test_xss.py: referrer, UTM, cart item names, page metadata.
    (/ssr/ is left to Chromium: under TestClient, Starlette's templates send an
    ``http.response.debug`` message first, and the SDK middleware then passes the page
    through unfilled.)"""
    google = "https://www.google.com/search?" + urlencode({"q": payload})
    utm = {"utm_medium": "organic", "utm_source": "g", "utm_campaign": payload}
    page = BASE + "/?" + urlencode(utm)
    hero = decide(client, ["hero"], url=page, referrer=google)["hero"]
    assert hero["campaign"] == "search-hero"
    assert payload in text_of(hero["html"])
    assert injected(hero["html"]) == []

    product = {"id": payload, "name": payload, "price": 10, "category": "running"}
    goal = {"type": "goal", "name": "add_to_cart", "props": product}
    assert event(client, goal).status_code == 200
    meta = {"category": payload, "product": payload, "product_name": payload}
    banner = decide(client, ["cart_banner", "sidebar"], url=BASE + "/cart", page=meta)
    assert banner["cart_banner"]["campaign"] == "cart-contents"
    assert f"1 {TIMES} {payload}" in text_of(banner["cart_banner"]["html"])
    for slot in banner.values():
        assert injected(slot["html"] or "") == []

    me = client.get("/me")
    assert me.status_code == 200
    assert f"for “{payload}”" in text_of(me.text)
    assert f"Campaign link: {payload}" in text_of(me.text)
    assert injected(me.text) == []
