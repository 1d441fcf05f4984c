"""The memory store's decoded records: a request hands its record back when it is done
(``Visit.release`` -> ``MemoryStore.adopt``) and the visitor's next request gets that dict
instead of decoding the stored JSON, only while that JSON is still what is stored, and only
once. Through the edge app, every record handed out this way equals the stored JSON."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bench import request as bench_request

from opmaat.store import MemoryStore, Record, decode_record


async def written(store: MemoryStore, visitor_id: str, record: Record) -> bytes:
    _, token = await store.load(visitor_id)
    data = await store.store_if(visitor_id, record, 60, token)
    assert data is not None
    return data


def test_an_adopted_record_is_handed_to_the_next_load_once() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        record = {"visits": 1, "pages": ["/a"]}
        token = await written(store, "v", record)
        store.adopt("v", token, record)
        got, got_token = await store.load("v")
        assert got is record  # not decoded again
        assert got_token is token
        again, _ = await store.load("v")  # the first load took it: this one decodes
        assert again == record
        assert again is not record

    asyncio.run(scenario())


def test_a_record_adopted_for_an_old_write_is_never_handed_out() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        old = {"n": 1}
        token = await written(store, "v", old)
        newer = await store.store_if("v", {"n": 2}, 60, token)  # another request wrote
        assert newer is not None
        store.adopt("v", token, old)  # too late: not kept
        assert (await store.load("v"))[0] == {"n": 2}
        # Kept, then written over: the next load decodes what is stored.
        record = {"n": 3}
        token = await written(store, "v", record)
        store.adopt("v", token, record)
        assert await store.store_if("v", {"n": 4}, 60, token) is not None
        got, _ = await store.load("v")
        assert got == {"n": 4}
        assert got is not record

    asyncio.run(scenario())


def test_delete_expiry_close_and_the_packed_tier_drop_a_kept_record() -> None:
    async def scenario() -> None:
        store = MemoryStore(max_hot=1)
        for name in ("a", "b"):
            record = {"name": name}
            store.adopt(name, await written(store, name, record), record)
        # "a" left the hot tier (packed) when "b" came: its decoded copy went with it.
        assert "a" not in store._decoded
        assert (await store.load("a"))[0] == {"name": "a"}
        record = {"name": "c"}
        store.adopt("c", await written(store, "c", record), record)
        assert await store.delete("c")
        assert "c" not in store._decoded
        assert await store.load("c") == (None, None)
        record = {"name": "d"}
        _, token = await store.load("d")
        token = await store.store_if("d", record, 0.05, token)
        assert token is not None
        store.adopt("d", token, record)
        await asyncio.sleep(0.1)
        assert await store.load("d") == (None, None)
        assert "d" not in store._decoded
        record = {"name": "e"}
        store.adopt("e", await written(store, "e", record), record)
        await store.close()
        assert not store._decoded

    asyncio.run(scenario())


def test_the_decoded_records_are_bounded_and_can_be_turned_off() -> None:
    async def scenario() -> None:
        store = MemoryStore(max_decoded=2)
        for n in range(5):
            record = {"n": n}
            store.adopt(f"v{n}", await written(store, f"v{n}", record), record)
        assert list(store._decoded) == ["v3", "v4"]
        off = MemoryStore(max_decoded=0)
        record = {"n": 1}
        off.adopt("v", await written(off, "v", record), record)
        assert not off._decoded

    asyncio.run(scenario())


class CheckingStore(MemoryStore):
    """Counts the records ``load`` hands out without decoding, and every one of those that
    differs from the JSON stored for it."""

    def __init__(self) -> None:
        super().__init__()
        self.reused = 0
        self.differing: list[str] = []

    async def load(self, visitor_id: str) -> tuple[Record | None, bytes | None]:
        kept = self._decoded.get(visitor_id)
        record, token = await super().load(visitor_id)
        if kept is not None and record is kept[1]:
            self.reused += 1
            if record != decode_record(token):
                self.differing.append(visitor_id)
        return record, token


@pytest.mark.parametrize("visitors", [1, 5])
def test_through_the_edge_every_record_handed_on_is_what_is_stored(visitors: int) -> None:
    """Decides and events of returning visitors, some of them at once: a record a request
    gets without decoding always equals the stored JSON, and the edge's answers are those of
    a store that decodes every time."""

    async def answers(store: MemoryStore) -> list[Any]:
        out: list[Any] = []
        async with bench_request.edge_app(visitors) as (app, people):
            app.state.edge.personalizer.store = store
            fresh = []
            for i in range(visitors):  # the visitors again, on this store
                address = people[i].address
                start = (await bench_request.call(app, None, address=address))[0]
                cookie = [v.split(b";")[0] for k, v in start["headers"] if k == b"set-cookie"]
                fresh.append(bench_request.Visitor(cookie[0], address))
            for round_ in range(6):
                calls = [
                    bench_request.call(app, cookie, address=address)
                    for cookie, address in fresh
                    for _ in range(1 + round_ % 2)  # two at once every other round
                ]
                for sent in await asyncio.gather(*calls):
                    out.append((sent[0]["status"], len(sent[1]["body"]) > 0))
            out.append(sorted(decode_record(v) is not None for v in store.dump().values()))
        return out

    checking = CheckingStore()
    plain = MemoryStore(max_decoded=0)
    assert asyncio.run(answers(checking)) == asyncio.run(answers(plain))
    assert checking.reused > 0
    assert checking.differing == []
