"""The per-address budget of new profiles counted in the store: two workers (or nodes) on one
store hold to one budget, not one each."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opmaat.limits import Limits
from opmaat.sqlite_store import SQLiteStore
from opmaat.store import MemoryStore, ProfileStore


def test_two_workers_on_one_file_share_the_budget(tmp_path: Path) -> None:
    async def scenario() -> list[bool]:
        stores = [SQLiteStore(tmp_path / "opmaat.db") for _ in range(2)]
        workers = [Limits(new_profiles_per_minute=10) for _ in range(2)]
        admitted = [
            await workers[n % 2].admit_new_profile_in(stores[n % 2], "198.51.100.7")
            for n in range(30)
        ]
        # Another address, and a /64 counted as one address, have budgets of their own.
        assert await workers[0].admit_new_profile_in(stores[0], "198.51.100.8")
        assert await workers[1].admit_new_profile_in(stores[1], "2001:db8::1")
        assert await workers[0].admit_new_profile_in(stores[0], "2001:db8::2")
        for store in stores:
            await store.close()
        return admitted

    admitted = asyncio.run(scenario())
    assert admitted.count(True) == 10  # per process, each worker would have let 10 in
    assert admitted[:10] == [True] * 10


class Broken(MemoryStore):
    async def bump(self, name: str, ttl_seconds: float) -> int:
        raise ConnectionError("store down")


def test_when_the_store_cannot_count_this_process_does() -> None:
    async def scenario(store: ProfileStore, limits: Limits) -> list[bool]:
        return [await limits.admit_new_profile_in(store, None) for _ in range(8)]

    assert asyncio.run(scenario(Broken(), Limits(new_profiles_per_minute=5))).count(True) == 5
    # No limit: the store is not even asked.
    assert all(asyncio.run(scenario(Broken(), Limits(new_profiles_per_minute=0))))
