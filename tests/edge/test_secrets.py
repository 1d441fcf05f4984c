"""Issue 12, secrets: the signing keys never leave the edge, and the visitor's cookie never
reaches its logs. A demo shop runs with known keys and is browsed the way that logs the most:
bad cookies, a reload that fails, a template that fails, a decide that fails, an unhandled
error, a 404 and a 429. Every log line (as JSON), every answer's body and headers, /metrics
and /healthz are then searched for the keys in every spelling a leak could take."""

from __future__ import annotations

import base64
import csv
import json
import logging
import os
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from opmaat.identity import CookieCodec
from opmaat.recommend.live import LiveRecommender
from opmaat.store import MemoryStore
from opmaat_edge import api, logs
from opmaat_edge.app import create_app
from opmaat_edge.cockpit.preview import PREVIEW_COOKIE
from opmaat_edge.data_cli import prepare_demo
from opmaat_edge.logs import JsonFormatter
from opmaat_edge.settings import EdgeSettings, SettingsError
from opmaat_edge.state import EdgeState

SECRET = "sekrit-signing-key-0123456789"
OLD_SECRET = "sekrit-older-key-9876543210"  # a rotated-out key still verifies: just as secret
OTHER_KEY = "somebody-elses-key-0123456789"
GOOGLE = "https://www.google.com/search?q=trail+shoes"
BROKEN_OFFER = """campaigns:
  - id: broken-offer
    name: An offer whose template fails
    slot: offer
    priority: 99
    variants:
      - {key: a, html: "<p>{{ visitor.visits // 0 }}</p>"}
"""


def spellings(key: str) -> set[str]:
    """The key as it would look if it leaked raw, hex-encoded or base64-encoded."""
    raw = key.encode()
    return {
        key,
        raw.hex(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


FORBIDDEN = spellings(SECRET) | spellings(OLD_SECRET)


def leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s in text)


class Shop:
    """The demo edge, and everything it answered."""

    def __init__(self, client: TestClient, config: Path) -> None:
        self.client = client
        self.config = config
        self.answers: list[httpx.Response] = []

    @property
    def state(self) -> EdgeState:
        app = self.client.app
        assert isinstance(app, Starlette)
        found: EdgeState = app.state.edge
        return found

    def go(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        r = self.client.request(method, path, follow_redirects=False, **kwargs)
        self.answers.append(r)
        return r

    def cookie_values(self) -> set[str]:
        """Every cookie value the edge handed out."""
        out = set()
        for r in self.answers:
            for header in r.headers.get_list("set-cookie"):
                for morsel in SimpleCookie(header).values():
                    if len(morsel.value) >= 8:
                        out.add(morsel.value)
        return out


@pytest.fixture
def shop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Shop]:
    config = prepare_demo(tmp_path / "demo", "http://testserver", (SECRET, OLD_SECRET))
    assert config is not None
    capsys.readouterr()
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("campaigns:\n", BROKEN_OFFER, 1), encoding="utf-8")
    settings = EdgeSettings.from_env(
        {
            "OPMAAT_CONFIG": str(config),
            "OPMAAT_SECRET_KEYS": f"{SECRET}, {OLD_SECRET}",
            "OPMAAT_DEV": "1",
            "OPMAAT_DEMO": "1",
            "OPMAAT_RELOAD_INTERVAL": "3600",
            "OPMAAT_EVENTS_PER_MINUTE": "3",
        }
    )
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        yield Shop(client, config)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Any:
    """caplog, catching every record from now on: the access log on (it is off by default),
    every level, and the edge's records even after logs.configure() ran in this process."""
    monkeypatch.setattr(logs.access_log, "disabled", False)
    monkeypatch.setattr(logging.getLogger("opmaat"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="opmaat")
    return caplog


def formatted(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The records as the edge's JSON log lines."""
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    for line in lines:
        json.loads(line)
    return lines


def browse(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """A visit that goes through every route that logs, and some that go wrong; returns
    the bad cookie values it sent."""
    for path in ["/", "/c/running", "/product/trail-runner", "/cart", "/banner", "/campaigns"]:
        assert shop.go("GET", path).status_code == 200
    assert shop.go("GET", "/ssr/", headers={"Referer": GOOGLE}).status_code == 200
    assert shop.go("GET", "/opmaat.js").status_code == 200
    body = {"slots": ["hero", "sidebar", "offer"], "url": "http://testserver/", "referrer": GOOGLE}
    decided = shop.go("POST", "/v1/decide", content=json.dumps(body))
    assert decided.status_code == 200
    hero = decided.json()["slots"]["hero"]
    shown = {k: hero[k] for k in ("slot", "campaign", "variant", "token")}
    impression = {"type": "impression", **shown}
    statuses = [shop.go("POST", "/v1/events", json=impression).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    proof = shop.state.personalizer.identify_proof("C-1")
    linked = {"customer_id": "C-1", "proof": proof}
    assert shop.go("POST", "/v1/identify", json=linked).status_code == 200
    forged = {"customer_id": "C-2", "proof": proof}
    assert shop.go("POST", "/v1/identify", json=forged).status_code == 403
    assert shop.go("PATCH", "/v1/me", json={"consent": "full"}).status_code == 200
    assert shop.go("GET", "/v1/me", params={"download": "1"}).status_code == 200

    me = shop.go("GET", "/me")
    token = re.search(r'name="token" value="([^"]+)"', me.text)
    assert token is not None
    form = {"token": token.group(1), "action": "prefs", "add_interest": "running"}
    assert shop.go("POST", "/me", data=form).status_code == 303
    assert shop.go("POST", "/me", data={"token": "forged", "action": "delete"}).status_code == 400

    with (shop.config.parent / "recipients-links.csv").open(encoding="utf-8") as f:
        link = urlsplit(next(csv.DictReader(f))["url"]).path
    assert shop.go("GET", link).status_code == 303
    assert shop.go("GET", link[:-3] + "xyz").status_code == 303  # a tampered link

    # Cookies the edge must refuse: signed with another key, tampered, junk, huge.
    ours = shop.client.cookies.get("opmaat")
    assert ours
    bad = [
        CookieCodec([OTHER_KEY]).dumps("visitor-from-elsewhere", "s-1"),
        ours[:-4] + ("AAAA" if not ours.endswith("AAAA") else "BBBB"),
        "<script>alert(1)</script>",
        "x" * 4000,
    ]
    for value in bad:
        shop.client.cookies.clear()
        shop.client.cookies.set("opmaat", value)
        assert shop.go("GET", "/v1/me").status_code == 200
    shop.client.cookies.clear()

    assert shop.go("GET", "/nothing-here", params={"q": "x"}).status_code == 404
    assert shop.go("DELETE", "/healthz").status_code == 405
    assert shop.go("POST", "/v1/events", content=b"{not json").status_code == 400

    # Seams a compiled build keeps (opmaat/compiled.py): the recommender the engine is handed
    # (plain Python), and the preview-cookie reader api.py imports from the cockpit.
    with monkeypatch.context() as m:
        m.setattr(LiveRecommender, "function", _raise)
        assert shop.go("POST", "/v1/decide", content=json.dumps(body)).status_code == 200
    with monkeypatch.context() as m:
        m.setattr(api, "read_preview_cookie", _raise)
        # Read only when a preview cookie comes (a visitor's page view skips it).
        assert shop.go("POST", "/v1/decide", content=json.dumps(body)).status_code == 200
        shop.client.cookies.set(PREVIEW_COOKIE, "not-a-preview")
        assert shop.go("POST", "/v1/decide", content=json.dumps(body)).status_code == 500
        shop.client.cookies.delete(PREVIEW_COOKIE)

    # A campaign file that no longer loads: the error is logged and shown on /healthz.
    broken = shop.config.read_text(encoding="utf-8").replace("slot: hero", "slot: [hero", 1)
    shop.config.write_text(broken, encoding="utf-8")
    st = shop.config.stat()
    os.utime(shop.config, (st.st_atime, st.st_mtime + 10))
    assert not shop.state.runtime.reload_if_changed()

    assert shop.go("GET", "/healthz").status_code == 200
    assert shop.go("GET", "/readyz").status_code == 200
    assert shop.go("GET", "/metrics").status_code == 200
    return set(bad)


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("something broke")


def test_keys_and_cookies_never_reach_logs_answers_metrics_or_health(
    shop: Shop, logged: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_cookies = browse(shop, monkeypatch)
    lines = formatted(logged)

    # The visit logged what it should (so the search below searched something).
    text = "\n".join(lines)
    for expected in (
        "campaign file rejected",
        "decide failed",
        "template",
        "unhandled error",
        '"status": 429',
        '"status": 404',
    ):
        assert expected in text, expected
    assert len(lines) > 30

    store = shop.state.personalizer.store
    assert isinstance(store, MemoryStore)
    visitors = {v for v in store.dump() if len(v) >= 8}
    cookies = shop.cookie_values() | bad_cookies
    assert cookies
    assert visitors
    for line in lines:
        assert leaks(line, FORBIDDEN) == [], line
        assert leaks(line, cookies) == [], line
        assert leaks(line, visitors) == [], line

    health = shop.go("GET", "/healthz")
    assert health.json()["last_reload_error"]
    metrics = shop.go("GET", "/metrics")
    for page in (health.text, metrics.text):
        assert leaks(page, FORBIDDEN | cookies | visitors) == []

    for r in shop.answers:
        raw_headers = "\n".join(
            f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in r.headers.raw
        )
        assert leaks(raw_headers, FORBIDDEN) == [], (r.request.url, raw_headers)
        assert leaks(r.content.decode("latin-1"), FORBIDDEN) == [], r.request.url


@pytest.mark.parametrize(
    "keys",
    [
        "short-sekrit",  # too short
        f"{SECRET},short-sekrit",
        f"short-sekrit,{SECRET}",
    ],
)
def test_a_refused_key_is_not_repeated_in_the_error(keys: str) -> None:
    with pytest.raises(SettingsError) as info:
        EdgeSettings.from_env({"OPMAAT_CONFIG": "campaigns.yaml", "OPMAAT_SECRET_KEYS": keys})
    message = str(info.value)
    assert "OPMAAT_SECRET_KEYS" in message
    assert leaks(message, spellings("short-sekrit") | FORBIDDEN) == []
