"""Short-lived named values in the store (what keeps cockpit sessions), on the memory store;
tests/redis runs the same scenario against Redis."""

from __future__ import annotations

import asyncio

from opmaat.store import MAX_EXPIRING, MemoryStore, ProfileStore


async def expiring_values(store: ProfileStore, brief: float) -> None:
    """Put, read, replace and delete; apart from visitor records; gone after ``brief``
    seconds (the shortest time the store keeps a value)."""
    assert await store.get_expiring("session-1") is None
    await store.put_expiring("session-1", "live", 60)
    assert await store.get_expiring("session-1") == "live"
    await store.put_expiring("session-1", "wachtwoord-ĳs 🔑", 60)
    assert await store.get_expiring("session-1") == "wachtwoord-ĳs 🔑"
    # A visitor record of the same name is another thing.
    assert await store.get("session-1") is None
    await store.store_if("session-1", {"visits": 1}, 60, None)
    assert await store.delete_expiring("session-1")
    assert await store.get_expiring("session-1") is None
    assert not await store.delete_expiring("session-1")
    assert await store.get("session-1") == {"visits": 1}
    await store.put_expiring("brief", "x", brief)
    await store.put_expiring("long", "y", 60)
    await asyncio.sleep(brief + 0.1)
    assert await store.get_expiring("brief") is None
    assert await store.get_expiring("long") == "y"


def test_memory_store_keeps_expiring_values() -> None:
    asyncio.run(expiring_values(MemoryStore(), 0.05))


def test_memory_store_keeps_a_bounded_number_and_forgets_them_on_close() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        for n in range(MAX_EXPIRING + 5):
            await store.put_expiring(f"s{n}", "live", 60)
        assert await store.get_expiring("s0") is None  # the oldest went first
        assert await store.get_expiring(f"s{MAX_EXPIRING + 4}") == "live"
        await store.put_expiring("now-gone", "x", 0)
        assert await store.get_expiring("now-gone") is None
        await store.close()
        assert await store.get_expiring("s10") is None

    asyncio.run(scenario())
