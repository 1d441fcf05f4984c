"""The edge on a SQLite file that fails under it: a full disk, a read-only file, a database
locked by another process and a damaged file. Each is logged with what to do, `/readyz`
answers 503, visitors get decisions from their request alone (never a 5xx), and once the
fault is fixed every profile stored before is served again."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from opmaat.sqlite_store import SQLiteStore
from opmaat_edge.app import create_app
from opmaat_edge.cli import main
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings
from tests.sdk.test_sqlite_store import _full_at, _read_only

GOOGLE = "https://www.google.com/search?q=tents"
COOLDOWN = 0.3


def edge(url: str) -> TestClient:
    settings = EdgeSettings(
        config=str(DEMO_CAMPAIGNS),
        secret_keys=("sqlite-faults-test-key-0123456789",),
        dev=True,
        store=f"{url}?timeout_ms=100&breaker_cooldown_s={COOLDOWN}",
        new_visitors_per_minute=0,  # the full disk's test fills it with new visitors
    )
    return TestClient(create_app(settings), client=("127.0.0.1", 5000))


def decide(client: TestClient, category: str = "running") -> Any:
    body = {"slots": ["hero"], "url": "http://127.0.0.1/", "referrer": GOOGLE}
    r = client.post("/v1/decide", content=json.dumps({**body, "page": {"category": category}}))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'opmaat.db'}"


@pytest.fixture
def cookies(url: str) -> Iterator[dict[str, str]]:
    """The cookie of a visitor with three page views stored (by an edge since stopped)."""
    with edge(url) as client:
        for _ in range(3):
            decide(client)
        assert client.get("/readyz").status_code == 200
        assert client.get("/healthz").json()["store"]["kind"] == "sqlite"
        yield dict(client.cookies)


def degraded(client: TestClient) -> None:
    """What the visitor and the load balancer see while the store fails."""
    for _ in range(4):  # past the failures that open the breaker
        assert decide(client, "cycling")["slots"]["hero"]["campaign"] == "search-hero"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["profile store unreachable (StoreUnavailable)"]
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["store"]["state"] == "degraded"


def recovered(client: TestClient) -> None:
    time.sleep(COOLDOWN + 0.1)
    decide(client)
    assert client.get("/readyz").status_code == 200
    me = client.get("/v1/me").json()
    assert me["session"]["pageviews"] >= 4  # the three from before, and this one
    assert "running" in me["interests"]


def test_a_full_disk(
    url: str, cookies: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    path = Path(url.removeprefix("sqlite://"))
    monkeypatch.setattr(sqlite3, "connect", _full_at(os.path.getsize(path) // 4096))
    with edge(url) as client:
        client.cookies.update(cookies)
        for _ in range(100):  # new visitors until a page cannot be had
            stranger = TestClient(client.app, client=("127.0.0.1", 5000))
            r = stranger.post("/v1/decide", content=json.dumps({"slots": ["hero"]}))
            assert r.status_code == 200
        degraded(client)
        assert "the disk is full: free some space" in caplog.text
        monkeypatch.undo()
        recovered(client)


def test_a_read_only_file(
    url: str, cookies: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setattr(sqlite3, "connect", _read_only())
    with edge(url) as client:
        client.cookies.update(cookies)
        degraded(client)
        assert "the file is read-only: give the edge's user write access" in caplog.text
        monkeypatch.undo()
        recovered(client)


def test_a_database_locked_by_another_process(
    url: str, cookies: dict[str, str], caplog: Any
) -> None:
    other = sqlite3.connect(url.removeprefix("sqlite://"), isolation_level=None)
    with edge(url) as client:
        client.cookies.update(cookies)
        other.execute("BEGIN EXCLUSIVE")
        degraded(client)
        assert "the database is locked by another process" in caplog.text
        other.execute("COMMIT")
        other.close()
        recovered(client)


def test_a_damaged_file_until_a_backup_is_restored(
    url: str, cookies: dict[str, str], tmp_path: Path, caplog: Any
) -> None:
    path = Path(url.removeprefix("sqlite://"))
    backup = tmp_path / "backup.db"
    assert main(["backup", str(backup), "--store", url]) == 0
    path.write_bytes(os.urandom(64 * 1024))
    for stale in ("-wal", "-shm"):
        Path(f"{path}{stale}").unlink(missing_ok=True)
    with edge(url) as client:
        client.cookies.update(cookies)
        degraded(client)
        assert "not a SQLite database: restore a backup (opmaat restore)" in caplog.text
        assert main(["restore", str(backup), "--store", url]) == 0
        recovered(client)
    assert list(tmp_path.glob("opmaat.db.damaged-*"))  # kept for a look


def test_sqlite_figures_in_metrics(url: str, cookies: dict[str, str]) -> None:
    with edge(url) as client:
        text = client.get("/metrics").text
    size = next(line for line in text.splitlines() if line.startswith("opmaat_store_file_bytes"))
    assert float(size.split()[-1]) >= 4096
    assert "opmaat_store_free_pages " in text
    assert isinstance(client.app.state.edge.personalizer.store, SQLiteStore)  # type: ignore[attr-defined]
