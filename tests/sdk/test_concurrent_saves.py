"""Two requests of one visitor at once: neither loses the other's changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

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


def test_concurrent_requests_count_a_visitor_and_a_conversion_once(tmp_path: Path) -> None:
    # Both requests read the record before either wrote: the second replays its changes on
    # the first's, and counts only what the first did not (the arm, the converted visitor).
    config = tmp_path / "c.yaml"
    config.write_text(
        "site: {consent_default: full}\nslots: {hero: {default: x}}\ncampaigns:\n"
        "  - id: sale\n    slot: hero\n    goal: purchase\n"
        "    variants: [{key: a, html: <b>sale</b>}]\n"
    )
    store = MemoryStore()

    async def scenario() -> dict[str, int]:
        personalizer = Personalizer(config, secret_keys=[KEY], store=store)
        first = await personalizer.open(peer="198.51.100.1", headers=UA, cookies={})
        first.open_record()
        await first.save()
        cookie = next(c for c in first.cookie_changes() if c.name == "opmaat")
        cookies = {"opmaat": cookie.value or ""}

        async def visit() -> Visit:
            return await personalizer.open(peer="198.51.100.1", headers=UA, cookies=cookies)

        a, b = await visit(), await visit()
        await a.page_view(["hero"], url="https://shop.example/", referrer=None)
        await b.page_view(["hero"], url="https://shop.example/", referrer=None)
        c, d = await visit(), await visit()
        found_c, found_d = c.track("purchase"), d.track("purchase")
        await c.save()
        await c.tally(found_c)
        await d.save()
        await d.tally(found_d)
        return (await store.tallies(["sale"]))["sale"]["a"]

    row = asyncio.run(scenario())
    assert row["visitors"] == 1
    assert row["converted"] == 1
    assert row["conversions"] == 0  # never shown (no impression): no conversion for it
