"""The memory store's hot tier: the most recently used records stay plain JSON (no unpacking or
packing on a returning visitor's requests), the rest are packed, and whichever tier a record is
in, reads, compare-and-set writes, listing, dumps and expiry give the same answers."""

from __future__ import annotations

import asyncio

import pytest

from opmaat.store import MemoryStore, _is_json, decode_record, encode_record


def tier(store: MemoryStore, visitor_id: str) -> str:
    found = store._data.get(visitor_id)
    assert found is not None
    return "hot" if _is_json(found[0]) else "packed"


async def put(
    store: MemoryStore, visitor_id: str, record: dict[str, object], ttl: float = 60
) -> bytes:
    _, token = await store.load(visitor_id)
    written = await store.store_if(visitor_id, record, ttl, token)
    assert written is not None
    return written


def test_the_least_recently_used_leave_the_hot_tier_packed_and_come_back_when_read() -> None:
    async def scenario() -> None:
        store = MemoryStore(max_hot=2)
        for n in range(3):
            await put(store, f"v{n}", {"visits": n, "pages": ["/"] * 20})
        assert [tier(store, f"v{n}") for n in range(3)] == ["packed", "hot", "hot"]
        record, token = await store.load("v0")  # read: back in the hot tier, v1 leaves
        assert record == {"visits": 0, "pages": ["/"] * 20}
        assert token == encode_record(record)
        assert [tier(store, f"v{n}") for n in range(3)] == ["hot", "packed", "hot"]
        assert await store.get("v1") == {"visits": 1, "pages": ["/"] * 20}
        assert tier(store, "v1") == "packed"  # get() alone does not move it
        assert {k: decode_record(v) for k, v in store.dump().items()} == {
            f"v{n}": {"visits": n, "pages": ["/"] * 20} for n in range(3)
        }
        listed = {vid: record async for vid, record, _ in store.profiles()}
        assert listed == {f"v{n}": {"visits": n, "pages": ["/"] * 20} for n in range(3)}
        assert store.hot_bytes() > 0

    asyncio.run(scenario())


def test_compare_and_set_holds_across_the_tiers() -> None:
    async def scenario() -> None:
        store = MemoryStore(max_hot=1)
        _, nothing = await store.load("a")
        first = await store.store_if("a", {"n": 1}, 60, nothing)
        assert first is not None
        assert await store.store_if("a", {"n": 9}, 60, None) is None  # not "absent" any more
        await put(store, "b", {"n": 1})  # "a" leaves the hot tier: packed
        assert tier(store, "a") == "packed"
        # A token read before the record was packed still matches what is stored.
        assert await store.store_if("a", {"n": 2}, 60, first) is not None
        assert await store.store_if("a", {"n": 3}, 60, first) is None  # stale now
        assert await store.get("a") == {"n": 2}
        # An equal token made elsewhere (another request's read) matches too.
        assert await store.store_if("a", {"n": 4}, 60, encode_record({"n": 2})) is not None
        assert await store.store_if("gone", {"n": 1}, 60, encode_record({"n": 2})) is None

    asyncio.run(scenario())


def test_the_caller_s_encoding_is_stored_as_it_is() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        encoded = encode_record({"visits": 3})
        written = await store.store_if("v", {"visits": 3}, 60, None, encoded)
        assert written is encoded
        assert await store.get("v") == {"visits": 3}

    asyncio.run(scenario())


@pytest.mark.parametrize("hot", [0, 10])
def test_expiry_delete_and_close_forget_hot_and_packed_records_alike(hot: int) -> None:
    async def scenario() -> None:
        store = MemoryStore(max_hot=hot)
        await put(store, "v", {"n": 1}, ttl=0.05)
        assert len(store) == 1
        await asyncio.sleep(0.1)
        assert await store.load("v") == (None, None)
        await put(store, "w", {"n": 1})
        assert await store.delete("w")
        assert await store.get("w") is None
        await put(store, "x", {"n": 1})
        await store.close()
        assert len(store) == 0
        assert store.hot_bytes() == 0

    asyncio.run(scenario())
