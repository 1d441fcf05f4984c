"""The memory and SQLite stores keep the same promises (tests/sdk/store_contract.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from opmaat.sqlite_store import SQLiteStore
from opmaat.store import MemoryStore, ProfileStore
from tests.sdk import store_contract

Scenario = Callable[[ProfileStore, float], Awaitable[None]]


def run(store: ProfileStore, scenario: Scenario) -> None:
    async def go() -> None:
        try:
            await scenario(store, 0.05)
        finally:
            await store.close()

    asyncio.run(go())


@pytest.mark.parametrize("scenario", store_contract.GENERIC, ids=lambda s: s.__name__)
def test_memory_store(scenario: Scenario) -> None:
    run(MemoryStore(), scenario)


@pytest.mark.parametrize("scenario", store_contract.SHARED, ids=lambda s: s.__name__)
def test_sqlite_store(scenario: Scenario, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "opmaat.db")
    run(store, scenario)
    assert store.errors == 0
