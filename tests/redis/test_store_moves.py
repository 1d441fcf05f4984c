"""A site moves from Redis to the SQLite file and back without losing a visitor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from opmaat.redis_store import RedisStore
from opmaat.sqlite_store import SQLiteStore
from opmaat.store import ProfileStore
from opmaat_edge.cli import main
from tests.edge.test_store_commands import fill, run
from tests.redis.conftest import RedisServer


def test_redis_to_sqlite_and_back(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite_url = f"sqlite://{tmp_path / 'opmaat.db'}"
    out, back = tmp_path / "from-redis.jsonl", tmp_path / "from-sqlite.jsonl"
    asyncio.run(_on_redis(redis_server.url, fill))
    assert main(["export", "profiles", "--store", redis_server.url, "--out", str(out)]) == 0
    assert main(["import", "profiles", str(out), "--store", sqlite_url]) == 0
    assert "imported 2 profile(s), 0 already in the store" in capsys.readouterr().out

    async def check(store: ProfileStore) -> None:
        assert await store.get("anna") == {"visits": 3, "name": "Ånna"}
        assert await store.get("bob") == {"visits": 1}
        assert await store.paused() == {"sale"}

    run(SQLiteStore(tmp_path / "opmaat.db"), check)
    asyncio.run(_on_redis(redis_server.url, lambda s: s.client.flushall()))
    assert main(["export", "profiles", "--store", sqlite_url, "--out", str(back)]) == 0
    assert main(["import", "profiles", str(back), "--store", redis_server.url]) == 0
    asyncio.run(_on_redis(redis_server.url, check))


async def _on_redis(url: str, work: object) -> None:
    store = RedisStore.from_url(url)
    try:
        await work(store)  # type: ignore[operator]
    finally:
        await store.close()
