"""Two requests of one visitor at once: neither loses the other's changes."""

from __future__ import annotations

import asyncio

from opmaat.personalizer import Personalizer, Visit
from opmaat.store import MemoryStore, ProfileStore
from opmaat_edge.resources import DEMO_CAMPAIGNS

KEY = "concurrent-test-key-0123456789"
UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}


async def two_at_once(store: ProfileStore) -> dict[str, object]:
    personalizer = Personalizer(DEMO_CAMPAIGNS, secret_keys=[KEY], store=store)
    first = await personalizer.open(peer="198.51.100.1", headers=UA, cookies={})
    await first.page_view(["hero"], url="https://shop.example/", referrer=None)
    cookie = next(c for c in first.cookie_changes() if c.name == "opmaat")
    cookies = {"opmaat": cookie.value or ""}

    async def visit() -> Visit:
        return await personalizer.open(peer="198.51.100.1", headers=UA, cookies=cookies)

    a, b = await visit(), await visit()  # both read the same stored record
    await a.page_view(
        ["hero"], url="https://shop.example/c/running", referrer=None, page={"category": "running"}
    )
    await b.page_view(
        ["hero"], url="https://shop.example/c/cycling", referrer=None, page={"category": "cycling"}
    )
    final = await visit()
    return final.record


def test_memory_store_keeps_both_page_views() -> None:
    record = asyncio.run(two_at_once(MemoryStore()))
    session = record["session"]
    assert isinstance(session, dict)
    assert session["pageviews"] == 3
    assert session["pages"] == ["/", "/c/running", "/c/cycling"]
    interests = record["interests"]
    assert isinstance(interests, dict)
    assert set(interests) == {"running", "cycling"}


def test_store_if_writes_only_over_what_was_read() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        assert await store.store_if("v", {"a": 1}, 60, None) is not None
        assert await store.store_if("v", {"a": 2}, 60, None) is None  # someone wrote first
        record, token = await store.load("v")
        assert record == {"a": 1}
        assert await store.store_if("v", {"a": 3}, 60, token) is not None
        assert await store.store_if("v", {"a": 4}, 60, token) is None  # token is stale now
        assert await store.get("v") == {"a": 3}

    asyncio.run(scenario())
