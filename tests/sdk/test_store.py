from __future__ import annotations

import asyncio

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
