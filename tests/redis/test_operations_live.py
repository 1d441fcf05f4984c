"""Real edge processes: metrics summed over workers, readiness, JSON logs, SIGHUP, SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import redis
from tests.redis.conftest import RedisServer
from tests.redis.test_nodes import CONFIG, Browser, Node


def write_config(tmp_path: Path, hero: str = "<h2>Found us?</h2>") -> Path:
    config = tmp_path / "campaigns.yaml"
    config.write_text(CONFIG.format(hero=hero))
    return config


def get(url: str) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.rpartition(" ")[0] == name:
            return float(line.rpartition(" ")[2])
    return 0.0


def test_metrics_add_up_over_two_workers(redis_server: RedisServer, tmp_path: Path) -> None:
    # TMPDIR: the workers' metrics folder goes where pytest cleans up.
    node = Node(
        write_config(tmp_path), redis_server.url, "--workers", "2", env={"TMPDIR": str(tmp_path)}
    )
    try:
        visitors = [Browser() for _ in range(8)]
        for visitor in visitors:
            for _ in range(3):
                visitor.decide(node)
        # Whichever worker answers the scrape, it counts every worker's decisions.
        for _ in range(6):
            status, body, _ = get(node.url + "/metrics")
            assert status == 200
            assert metric(body.decode(), "opmaat_decide_seconds_count") == 24
    finally:
        node.stop()


def test_readyz_follows_the_store(redis_server: RedisServer, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store = redis_server.url + "?timeout_ms=100"
    strict = Node(config, store)
    lenient = Node(config, store, env={"OPMAAT_READY_WHEN_DEGRADED": "1"})
    try:
        assert get(strict.url + "/readyz")[0] == 200
        redis_server.stop()
        status, body, _ = get(strict.url + "/readyz")
        assert status == 503
        assert json.loads(body)["problems"] == ["profile store unreachable (StoreUnavailable)"]
        status, body, _ = get(lenient.url + "/readyz")
        assert status == 200
        assert json.loads(body)["store"] == "unreachable"
        assert get(strict.url + "/healthz")[0] == 200  # alive all the same
    finally:
        strict.stop()
        lenient.stop()


def test_json_logs_and_access_lines(redis_server: RedisServer, tmp_path: Path) -> None:
    log = tmp_path / "edge.log"
    node = Node(write_config(tmp_path), redis_server.url, "--access-log", log=log)
    try:
        visitor = Browser()
        visitor.decide(node)
        _, _, headers = get(node.url + "/healthz?secret=1")
        rid = headers["X-Request-Id"]
        redis_server.stop()
        visitor.decide(node)  # a store failure gets logged
    finally:
        node.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    access = [entry for entry in lines if entry["logger"] == "opmaat.access"]
    assert any(e["request_id"] == rid and e["route"] == "/healthz" for e in access)
    assert all("secret" not in json.dumps(e) for e in access)  # no query strings
    assert any(e["logger"].startswith("opmaat") and e["level"] == "error" for e in lines)
    assert "127.0.0.1:" not in log.read_text().replace(node.url, "")


def test_sighup_reloads_the_campaign_file_at_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    node = Node(config, "memory://", env={"OPMAAT_RELOAD_INTERVAL": "3600"})
    try:
        visitor = Browser()
        assert visitor.decide(node)["hero"]["html"] == "<h2>Found us?</h2>"
        config.write_text(CONFIG.format(hero="<h2>Reloaded</h2>"))
        node.proc.send_signal(signal.SIGHUP)
        started = time.monotonic()
        while visitor.decide(node)["hero"]["html"] != "<h2>Reloaded</h2>":
            assert time.monotonic() - started < 2, "SIGHUP did not reload the campaigns"
            time.sleep(0.05)
        assert node.proc.poll() is None  # and the edge is still running
    finally:
        node.stop()


def test_sigterm_lets_a_request_in_flight_finish(redis_server: RedisServer, tmp_path: Path) -> None:
    node = Node(write_config(tmp_path), redis_server.url)
    visitor = Browser()
    hero = visitor.decide(node)["hero"]
    cookie = "; ".join(f"{c.name}={c.value}" for c in visitor.jar)
    shown = {k: hero[k] for k in ("slot", "campaign", "variant", "token")}
    body = json.dumps({"type": "impression", **shown}).encode()
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: "
            + cookie.encode()
            + b"\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        time.sleep(0.2)
        node.proc.send_signal(signal.SIGTERM)  # the body has not been sent yet
        time.sleep(0.3)
        conn.sendall(body)
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    # uvicorn finishes the request, shuts down, then re-raises the signal it caught.
    assert node.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    counts = redis.Redis(port=redis_server.port).hgetall("opmaat:stats:{search-hero}")
    assert counts[b"a:impressions"] == b"1"
