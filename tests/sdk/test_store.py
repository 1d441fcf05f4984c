from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from opmaat.store import MemoryStore


def test_memory_store_round_trip_and_isolation() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        record = {"visits": 1, "session": {"pages": ["/"]}}
        await store.store_if("v1", record, 60, None)
        record["visits"] = 99
        got = await store.get("v1")
        assert got == {"visits": 1, "session": {"pages": ["/"]}}
        assert got is not None
        got["visits"] = 5
        assert (await store.get("v1")) == {"visits": 1, "session": {"pages": ["/"]}}
        assert await store.delete("v1")
        assert await store.get("v1") is None
        assert not await store.delete("v1")

    asyncio.run(scenario())


def test_memory_store_is_bounded_by_count() -> None:
    async def scenario() -> None:
        store = MemoryStore(max_profiles=100)
        for i in range(1000):
            await store.store_if(f"v{i}", {"i": i}, 60, None)
        assert len(store) == 100
        assert await store.get("v999") == {"i": 999}

    asyncio.run(scenario())


def test_memory_store_expires() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.store_if("v", {"a": 1}, 0.05, None)
        await asyncio.sleep(0.1)
        assert await store.get("v") is None

    asyncio.run(scenario())


def test_memory_store_keeps_each_record_for_its_own_time() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.store_if("session-only", {"a": 1}, 0.05, None)
        await store.store_if("kept", {"b": 2}, 60, None)
        await asyncio.sleep(0.1)
        assert await store.get("session-only") is None
        assert await store.get("kept") == {"b": 2}
        assert set(store.dump()) == {"kept"}

    asyncio.run(scenario())


def test_memory_store_forgets_a_visitors_events() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.store_if("gone", {"a": 1}, 60, None)
        await store.append_event({"type": "click", "visitor": "gone"})
        await store.append_event({"type": "click", "visitor": "stays"})
        await store.delete("gone")
        assert [e["visitor"] for e in store.events] == ["stays"]

    asyncio.run(scenario())


def test_paused_campaigns_are_kept_in_a_file_and_followed(tmp_path: Path) -> None:
    path = tmp_path / "paused.json"

    async def scenario() -> None:
        store = MemoryStore(paused_file=path)
        await store.set_paused("sale", True)
        await store.set_paused("promo", True)
        await store.set_paused("sale", False)
        assert json.loads(path.read_text()) == ["promo"]
        again = MemoryStore(paused_file=path)  # a restart
        assert await again.paused() == {"promo"}
        # Another process (opmaat pause) writes the file: both follow it.
        other = MemoryStore(paused_file=path)
        await other.set_paused("winter", True)
        assert await store.paused() == {"promo", "winter"}

    asyncio.run(scenario())


def test_a_broken_paused_file_keeps_the_pauses_and_is_not_overwritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "paused.json"

    async def scenario() -> None:
        store = MemoryStore(paused_file=path)
        await store.set_paused("sale", True)
        path.write_text('["sale", "vip"')  # cut short by hand
        assert await store.paused() == {"sale"}
        with pytest.raises(ValueError, match="not a JSON list"):
            await store.set_paused("other", True)
        assert path.read_text() == '["sale", "vip"'
        assert "not a JSON list" in caplog.text

    asyncio.run(scenario())


def test_concurrent_pauses_from_two_processes_are_all_kept(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "paused.json"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_pause_many, args=(path, n)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert set(json.loads(path.read_text())) == {f"c{n}-{i}" for n in range(2) for i in range(20)}


def _pause_many(path: Path, worker: int) -> None:
    store = MemoryStore(paused_file=path)
    for i in range(20):
        asyncio.run(store.set_paused(f"c{worker}-{i}", True))


def test_a_deleted_paused_file_means_nothing_is_paused(tmp_path: Path) -> None:
    path = tmp_path / "paused.json"

    async def scenario() -> None:
        store = MemoryStore(paused_file=path)
        await store.set_paused("sale", True)
        await store.set_paused("promo", True)
        path.unlink()
        assert await store.paused() == set()
        await store.set_paused("winter", True)  # does not bring the others back
        assert json.loads(path.read_text()) == ["winter"]

    asyncio.run(scenario())


def test_an_unwritable_place_for_the_paused_file_raises_and_changes_nothing() -> None:
    store = MemoryStore(paused_file="/proc/opmaat-not-here/paused.json")  # not even root writes
    with pytest.raises(FileNotFoundError):
        asyncio.run(store.set_paused("sale", True))
    assert asyncio.run(store.paused()) == set()
