"""Smaller leaks (security issue #19, finding 11): what /healthz tells the public, and which
Host names the edge answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opmaat.consent import CONSENT_COOKIE
from opmaat_edge.app import HIDDEN_RELOAD_ERROR, create_app
from opmaat_edge.privacy_page import FORM_COOKIE
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings, SettingsError
from tests.edge.conftest import KEYS, MakeClient

GOOD = "slots: {hero: {default: x}}\ncampaigns: []\n"
BROKEN = (
    "slots: {hero: {default: x}}\ncampaigns:\n  - id: c\n    slot: hero\n"
    "    variants: [{key: a, html: '{{ secret_template_text'}]\n"
)


def test_healthz_names_a_failed_reload_but_shows_its_text_only_to_operators(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(GOOD)
    operator = make_client(config, demo=False)
    config.write_text(BROKEN)
    runtime = operator.app.state.edge.runtime  # type: ignore[attr-defined]
    assert not runtime.reload_if_changed()
    inside = operator.get("/healthz").json()["last_reload_error"]
    assert "c.yaml:5: campaigns[0].variants[0].html" in inside
    public = TestClient(operator.app, client=("203.0.113.5", 4000), base_url="http://127.0.0.1")
    answer = public.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["last_reload_error"] == HIDDEN_RELOAD_ERROR
    assert "c.yaml" not in answer.text
    assert "variants" not in answer.text


def edge_for(*hosts: str) -> TestClient:
    settings = EdgeSettings(
        config=str(DEMO_CAMPAIGNS), secret_keys=KEYS, dev=True, demo=True, allowed_hosts=hosts
    )
    return TestClient(create_app(settings), base_url="http://shop.example")


@pytest.mark.parametrize(
    "host", ["shop.example", "SHOP.example:8443", "127.0.0.1:8000", "[::1]:8000"]
)
def test_the_edge_answers_its_own_host_names(host: str) -> None:
    with edge_for("shop.example", "127.0.0.1", "[::1]") as client:
        assert client.get("/healthz", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "shop.example.evil.example", "127.0.0.2", "", "shop.example:80:80"]
)
def test_any_other_host_name_gets_421_and_reaches_nothing(host: str) -> None:
    with edge_for("shop.example", "127.0.0.1") as client:
        for path in ("/healthz", "/cockpit/login", "/v1/me", "/me"):
            r = client.get(path, headers={"Host": host})
            assert r.status_code == 421, (host, path)
            assert "OPMAAT_ALLOWED_HOSTS" in r.json()["error"]
            assert "set-cookie" not in r.headers


def test_without_a_list_every_host_name_is_answered() -> None:
    with edge_for() as client:
        assert client.get("/healthz", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize("value", ["https://shop.example", "shop.example/x", "shop example", "*"])
def test_a_malformed_allowed_host_is_a_settings_error(value: str) -> None:
    env = {
        "OPMAAT_CONFIG": str(DEMO_CAMPAIGNS),
        "OPMAAT_SECRET_KEYS": KEYS[0],
        "OPMAAT_ALLOWED_HOSTS": f"shop.example,{value}",
    }
    with pytest.raises(SettingsError, match="OPMAAT_ALLOWED_HOSTS"):
        EdgeSettings.from_env(env)


# --- the privacy page's form for a visitor without a cookie ---------------------------------


def page_token(client: TestClient) -> str:
    page = client.get("/me")
    assert page.status_code == 200
    found = re.search(r'name="token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_a_cookieless_visitors_form_is_bound_to_a_nonce_cookie_of_its_own(
    make_client: MakeClient,
) -> None:
    visitor = make_client()
    visitor.cookies.set(CONSENT_COOKIE, "none")
    token = page_token(visitor)
    assert visitor.cookies.get(FORM_COOKIE)
    ok = visitor.post("/me", data={"token": token, "action": "consent", "consent": "none"})
    assert ok.status_code in (200, 303), ok.text
    # Another page (or another browser) with that token but without the nonce cookie: refused.
    other = TestClient(visitor.app, base_url="http://127.0.0.1")
    other.cookies.set(CONSENT_COOKIE, "none")
    refused = other.post("/me", data={"token": token, "action": "consent", "consent": "full"})
    assert refused.status_code == 400  # the page again, saying why, and nothing changed
    assert "another visitor" in refused.text
    # ...and a cookieless visitor's own nonce does not make someone else's token theirs.
    page_token(other)
    again = other.post("/me", data={"token": token, "action": "consent", "consent": "full"})
    assert again.status_code == 400
    assert "another visitor" in again.text
    assert CONSENT_COOKIE not in {c.split("=")[0] for c in again.headers.get_list("set-cookie")}
