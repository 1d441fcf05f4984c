"""What an operator relies on: /metrics, /readyz, request ids and JSON logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from opmaat.recommend.live import LiveRecommender
from opmaat_edge.logs import JsonFormatter, request_id
from tests.edge.conftest import MakeClient

GOOGLE = "https://www.google.com/search?q=trail+shoes"


def browse(client: TestClient) -> None:
    body = {"slots": ["hero", "sidebar"], "url": "http://127.0.0.1/", "referrer": GOOGLE}
    hero = client.post("/v1/decide", content=json.dumps(body)).json()["slots"]["hero"]
    shown = {k: hero[k] for k in ("slot", "campaign", "variant", "token")}
    client.post("/v1/events", content=json.dumps({"type": "impression", **shown}))
    client.post("/v1/events", content=json.dumps({"type": "goal", "name": "purchase"}))
    client.post("/v1/events", content=json.dumps({"type": "goal", "name": "made_up_goal_123"}))


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics_after_a_short_browsing_session(client: TestClient) -> None:
    browse(client)
    client.cookies.clear()
    client.cookies.set("opmaat", "tampered.value.x")
    client.get("/v1/me")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    m = samples(r.text)
    assert m["opmaat_decide_seconds_count"] == 1
    assert m['opmaat_decisions_total{campaign="search-hero",slot="hero",variant="a"}'] == 1
    assert m['opmaat_decisions_total{campaign="",slot="sidebar",variant=""}'] == 1
    assert m['opmaat_events_total{name="search-hero",type="impression"}'] == 1
    # Only known event names become labels; an unknown one is refused and adds no series.
    assert m['opmaat_events_total{name="purchase",type="goal"}'] == 1
    assert not any("made_up_goal_123" in name for name in m)
    assert m["opmaat_rejected_cookies_total"] == 1
    assert m["opmaat_store_degraded"] == 0
    assert m["opmaat_render_errors_total"] == 0
    assert "test-signing-key" not in r.text


def test_metrics_only_for_the_configured_networks(make_client: MakeClient) -> None:
    outsider = make_client(peer="203.0.113.9")
    r = outsider.get("/metrics")
    assert r.status_code == 403
    assert "OPMAAT_METRICS_NETWORKS" in r.json()["error"]


def test_readyz_says_ready_with_a_working_store(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is True
    assert body["store"] == "ok"
    assert body["campaigns"] > 0


def test_every_answer_has_a_request_id(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert first != second
    assert len(first) == 16
    kept = client.get("/healthz", headers={"X-Request-Id": "lb-42.a_b"}).headers["x-request-id"]
    assert kept == "lb-42.a_b"
    replaced = client.get("/healthz", headers={"X-Request-Id": "<script>"}).headers["x-request-id"]
    assert replaced != "<script>"
    assert client.get("/nothing-here").headers["x-request-id"]


def test_json_log_lines_carry_the_request_id_and_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "opmaat", "levelname": "WARNING", "msg": "store %s", "args": ("down",)}
    )
    record.store_state = "degraded"
    token = request_id.set("abc123")
    try:
        line: dict[str, Any] = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["msg"] == "store down"
    assert line["level"] == "warning"
    assert line["request_id"] == "abc123"
    assert line["store_state"] == "degraded"


def test_json_log_lines_leave_out_uvicorns_coloured_copy_of_the_message() -> None:
    record = logging.makeLogRecord(
        {"name": "uvicorn.error", "levelname": "INFO", "msg": "Started server process [%d]"}
    )
    record.args = (42,)
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    line = JsonFormatter().format(record)
    assert json.loads(line)["msg"] == "Started server process [42]"
    assert "color_message" not in line
    assert "\\u001b" not in line
    assert "\x1b" not in line


def test_a_decide_error_is_logged_without_personal_data(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("engine broke")

    # What the engine is handed for its templates (plain Python in a compiled build too).
    monkeypatch.setattr(LiveRecommender, "function", broken)
    with caplog.at_level(logging.ERROR, logger="opmaat"):
        r = client.post(
            "/v1/decide",
            content=json.dumps({"slots": ["hero"], "url": "http://127.0.0.1/?email=a@b.c"}),
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
    assert r.status_code == 200
    assert r.json()["slots"] == {}
    assert samples(client.get("/metrics").text)["opmaat_decide_errors_total"] == 1
    assert client.get("/healthz").json()["counters"]["decide_errors"] == 1
    text = caplog.text
    assert "decide failed" in text
    for secret in ("203.0.113.7", "a@b.c", "test-signing-key"):
        assert secret not in text


def test_an_edge_on_a_subdomain_sets_a_site_wide_cookie() -> None:
    from opmaat_edge.app import create_app
    from opmaat_edge.resources import DEMO_CAMPAIGNS
    from opmaat_edge.settings import EdgeSettings

    settings = EdgeSettings.from_env(
        {
            "OPMAAT_CONFIG": str(DEMO_CAMPAIGNS),
            "OPMAAT_SECRET_KEYS": "a-long-enough-signing-key",
            "OPMAAT_COOKIE_DOMAIN": "Shop.Example",
        }
    )
    client = TestClient(create_app(settings), base_url="https://edge.shop.example")
    r = client.post(
        "/v1/decide", content=json.dumps({"slots": ["hero"], "url": "https://shop.example/"})
    )
    cookie = r.headers["set-cookie"]
    assert "Domain=shop.example" in cookie
    assert "Secure" in cookie


@pytest.mark.parametrize("value", ["localhost", "shop", "-bad.example", "shop.example/x", "a b.c"])
def test_a_bad_cookie_domain_is_refused(value: str) -> None:
    from opmaat_edge.settings import EdgeSettings, SettingsError

    with pytest.raises(SettingsError, match="OPMAAT_COOKIE_DOMAIN"):
        EdgeSettings.from_env(
            {
                "OPMAAT_CONFIG": "x",
                "OPMAAT_SECRET_KEYS": "a-long-enough-signing-key",
                "OPMAAT_COOKIE_DOMAIN": value,
            }
        )


@pytest.mark.parametrize("value", ["10.0.0.0/33", "nonsense", "127.0.0.1,::1,fe80::/200"])
def test_bad_metrics_networks_are_refused(value: str) -> None:
    from opmaat_edge.app import create_app
    from opmaat_edge.resources import DEMO_CAMPAIGNS
    from opmaat_edge.settings import EdgeSettings, SettingsError

    settings = EdgeSettings(
        config=str(DEMO_CAMPAIGNS),
        secret_keys=("a-long-enough-signing-key",),
        metrics_networks=value,
    )
    with pytest.raises(SettingsError, match="OPMAAT_METRICS_NETWORKS"):
        create_app(settings)


def test_slot_names_from_the_page_do_not_become_metric_labels(client: TestClient) -> None:
    for i in range(30):
        body = {"slots": [f"made-up-{i}", "hero"], "url": "http://127.0.0.1/"}
        client.post("/v1/decide", content=json.dumps(body))
    text = client.get("/metrics").text
    assert "made-up" not in text
    assert samples(text)['opmaat_decisions_total{campaign="",slot="other",variant=""}'] == 30


def test_an_unhandled_error_answers_json_with_the_request_id(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from opmaat_edge import server_api

    async def broken(request: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server_api, "request_body", broken)
    client_no_raise = TestClient(client.app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="opmaat"):
        r = client_no_raise.post("/v1/decide", content=b"{}", headers={"X-Request-Id": "req-7"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal error"}
    assert r.headers["x-request-id"] == "req-7"
    assert "unhandled error on POST /v1/decide" in caplog.text


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_reload_interval_is_refused(value: str) -> None:
    from opmaat_edge.settings import EdgeSettings, SettingsError

    with pytest.raises(SettingsError, match="OPMAAT_RELOAD_INTERVAL"):
        EdgeSettings.from_env(
            {
                "OPMAAT_CONFIG": "x",
                "OPMAAT_SECRET_KEYS": "a-long-enough-signing-key",
                "OPMAAT_RELOAD_INTERVAL": value,
            }
        )
