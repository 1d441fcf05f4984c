"""Redis failing under the visitor's own requests: nothing lost that was kept, clear answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from opmaat.redis_store import CircuitBreaker, RedisStore, StoreUnavailable
from opmaat_edge.app import create_app
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings
from tests.redis.conftest import RedisServer

GOOGLE = "https://www.google.com/search?q=tents"


def edge(url: str) -> TestClient:
    settings = EdgeSettings(
        config=str(DEMO_CAMPAIGNS),
        secret_keys=("resilience-test-key-0123456789",),
        dev=True,
        store=url + "?timeout_ms=100&breaker_failures=100",
    )
    return TestClient(create_app(settings), client=("127.0.0.1", 5000))


def decide(client: TestClient, category: str = "running") -> Any:
    body = {"slots": ["hero"], "url": "http://127.0.0.1/", "referrer": GOOGLE, "page": {}}
    body["page"] = {"category": category}
    r = client.post("/v1/decide", content=json.dumps(body))
    assert r.status_code == 200
    return r.json()


def test_a_failed_read_never_overwrites_the_stored_profile(redis_server: RedisServer) -> None:
    with edge(redis_server.url) as client:
        for _ in range(3):
            decide(client)
        store = client.app.state.edge.personalizer.store  # type: ignore[attr-defined]
        real_call = store.wire.call  # a page view reads the profile over the lean wire

        async def flaky_get(*args: Any) -> Any:
            if args[0] == b"GET":
                raise ConnectionError("one slow read")
            return await real_call(*args)

        store.wire.call = flaky_get
        decide(client, "cycling")  # decided from the request alone
        store.wire.call = real_call
        me = client.get("/v1/me").json()
        assert me["session"]["pageviews"] == 3  # the three page views are all still there
        assert "running" in me["interests"]


def test_with_redis_down_changes_answer_503_and_the_choice_still_holds(
    redis_server: RedisServer,
) -> None:
    with edge(redis_server.url) as client:
        decide(client)
        redis_server.stop()
        assert decide(client)["slots"]["hero"]["campaign"] == "search-hero"
        for method, path, body in [
            ("DELETE", "/v1/me", None),
            ("PATCH", "/v1/me", {"consent": "off"}),
            ("GET", "/v1/me", None),
        ]:
            r = client.request(method, path, content=json.dumps(body) if body else None)
            assert r.status_code == 503, path
            assert "try again" in r.json()["error"]
        r = client.post("/v1/consent", content=json.dumps({"tier": "off"}))
        assert r.status_code == 503
        assert client.cookies["opmaat_consent"] == "off"  # the choice holds in the browser
        assert "opmaat" in client.cookies  # kept, so the retry can delete what is stored
        client.cookies.delete("opmaat_consent")
        page = client.get("/me")
        assert page.status_code == 503
        assert "cannot be reached" in page.text
        redis_server.start()
        # Redis is back (empty: it kept nothing on disk): the same request now goes through.
        assert client.delete("/v1/me").status_code == 200
        assert "opmaat" not in client.cookies


def test_the_breaker_lets_one_trial_through_at_a_time(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        store = RedisStore(
            RedisStore.from_url(redis_server.url).client,
            timeout=0.2,
            breaker=CircuitBreaker(failures=1, cooldown=0.1),
        )
        redis_server.stop()
        with contextlib.suppress(StoreUnavailable):
            await store.get("v")
        await asyncio.sleep(0.15)
        results = await asyncio.gather(*(store.get("v") for _ in range(20)), return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results)
        assert store.errors == 2  # the first failure and the one trial, not twenty calls
        await store.close()

    asyncio.run(scenario())


def test_template_files_outside_the_campaign_folder_are_refused(tmp_path: Path) -> None:
    from opmaat.campaigns import load_campaigns_text
    from opmaat.errors import ConfigError

    text = (
        "slots: {hero: {default: x}}\n"
        "campaigns:\n  - id: c\n    slot: hero\n    variants: [{key: a, template: /etc/passwd}]\n"
    )
    with pytest.raises(ConfigError, match="outside the campaign file's folder"):
        load_campaigns_text(text, "c.yaml", base_dir=tmp_path)


def test_a_redis_that_never_answers_costs_a_timeout_then_nothing(silent_redis: str) -> None:
    import time

    url = silent_redis
    settings = EdgeSettings(
        config=str(DEMO_CAMPAIGNS),
        secret_keys=("resilience-test-key-0123456789",),
        dev=True,
        store=url + "?timeout_ms=50&breaker_failures=2&breaker_cooldown_s=30",
    )
    with TestClient(create_app(settings), client=("127.0.0.1", 5000)) as client:
        timings = []
        for _ in range(12):
            started = time.monotonic()
            assert decide(client)["slots"]["hero"]["campaign"] == "search-hero"
            timings.append(time.monotonic() - started)
        assert max(timings) < 0.5  # never more than the per-call timeouts
        assert sorted(timings)[len(timings) // 2] < 0.02  # once open, the breaker is free
        assert client.get("/healthz").json()["status"] == "degraded"
