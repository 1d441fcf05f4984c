"""The SQLite store beyond what every store does (tests/sdk/store_contract.py): what survives
a restart, several processes on one file, the event stream's cap, the retention sweep, a lock
that never stalls the event loop, and the faults a file can have."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from opmaat import sqlite_store
from opmaat.breaker import CircuitBreaker, StoreUnavailable
from opmaat.sqlite_store import SQLiteStore, sweep
from opmaat.store import DAILY_DAYS, SharedConfig, open_store, tally_day


def events(path: Path) -> list[dict[str, str]]:
    with sqlite3.connect(path) as db:
        return [orjson.loads(row[0]) for row in db.execute("SELECT data FROM events ORDER BY seq")]


def test_everything_is_there_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "opmaat.db"

    async def first() -> None:
        store = SQLiteStore(path)
        await store.store_if("v1", {"visits": 3}, 3600, None)
        await store.tally("sale", "a", "impressions")
        await store.set_paused("sale", True)
        await store.append_event({"type": "click", "visitor": "v1"})
        await store.share_config(SharedConfig("abc", "campaigns: []\n", 1.5))
        await store.put_expiring("session-1", "live", 60)
        await store.close()

    async def again() -> None:
        store = open_store(f"sqlite://{path}")
        assert await store.get("v1") == {"visits": 3}
        assert (await store.tallies(["sale"]))["sale"]["a"]["impressions"] == 1
        assert await store.paused() == {"sale"}
        assert await store.shared_config() == SharedConfig("abc", "campaigns: []\n", 1.5)
        assert await store.get_expiring("session-1") == "live"
        await store.close()

    asyncio.run(first())
    asyncio.run(again())
    assert events(path) == [{"type": "click", "visitor": "v1"}]
    # Profiles are personal data: the file is the edge's user's alone.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _count_visits(path: str, visitor: str, times: int) -> None:
    async def work() -> None:
        store = SQLiteStore(path, timeout=5)
        for _ in range(times):
            while True:  # what Visit.save does: replay on the newer record
                record, token = await store.load(visitor)
                fresh = dict(record or {})
                fresh["visits"] = int(fresh.get("visits", 0)) + 1
                if await store.store_if(visitor, fresh, 3600, token) is not None:
                    break
            await store.tally("sale", "a", "impressions")
            await store.bump("new-profiles:198.51.100.7", 60)
        await store.close()

    asyncio.run(work())


def test_processes_sharing_the_file_lose_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "opmaat.db")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_count_visits, args=(path, "v", 150)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0

    async def check() -> None:
        store = SQLiteStore(path)
        assert await store.get("v") == {"visits": 600}
        assert (await store.tallies(["sale"]))["sale"]["a"]["impressions"] == 600
        assert await store.bump("new-profiles:198.51.100.7", 60) == 601
        await store.close()

    asyncio.run(check())


def test_the_event_stream_is_capped_and_forgets_a_visitor(tmp_path: Path) -> None:
    path = tmp_path / "opmaat.db"

    async def scenario() -> None:
        store = SQLiteStore(path, stream_maxlen=100)
        for n in range(1000):
            who = "gone" if n % 3 == 0 else "stays"
            await store.append_event({"type": "impression", "visitor": who, "n": str(n)})
        await asyncio.sleep(sqlite_store.MAINTENANCE_SECONDS)
        await store.append_event({"type": "impression", "visitor": "stays", "n": "1000"})
        assert store._maintaining is not None
        await store._maintaining  # the trim, on the side thread
        await store.store_if("gone", {"a": 1}, 60, None)
        assert await store.delete("gone")
        await store.close()

    asyncio.run(scenario())
    left = events(path)
    assert 60 <= len(left) <= 100  # the newest hundred, less the forgotten visitor's
    assert {e["visitor"] for e in left} == {"stays"}
    assert left[-1]["n"] == "1000"


def test_the_sweep_deletes_what_expired_in_small_batches(tmp_path: Path) -> None:
    path = tmp_path / "opmaat.db"

    async def fill() -> None:
        store = SQLiteStore(path)
        for n in range(1200):
            await store.store_if(f"old-{n}", {"n": n}, 0.01, None)
            await store.bump(f"old-{n}", 0.01)
        await store.store_if("kept", {"n": 1}, 3600, None)
        await store.put_expiring("brief", "x", 0.01)
        await store.note_visitor("purl:old", "v1", 0.01)
        await store.tally("sale", "a", "impressions")
        await store.close()

    asyncio.run(fill())
    old_day = tally_day(time.time() - (DAILY_DAYS + 2) * 86400)
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("INSERT INTO tallies VALUES ('sale', ?, 'a', 'impressions', 7)", (old_day,))
        time.sleep(0.02)
        assert sweep(db, time.time(), 100) == 1200 + 1200 + 1 + 2 + 1
        assert db.execute("SELECT id FROM profiles").fetchall() == [("kept",)]
        days = {row[0] for row in db.execute("SELECT day FROM tallies")}
        assert days == {"", tally_day()}
        for table in ("counters", "expiring", "scopes", "scope_visitors"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_past_max_profiles_the_least_recently_written_go_first(tmp_path: Path) -> None:
    path = tmp_path / "opmaat.db"

    async def fill() -> None:
        store = SQLiteStore.from_url(f"sqlite://{path}?max_profiles=1000")
        for n in range(1600):
            await store.store_if(f"v{n:04}", {"n": n}, 86400 + n * 60, None)
        await store.close()

    asyncio.run(fill())
    with sqlite3.connect(path, isolation_level=None) as db:
        assert sweep(db, time.time(), 1000) == 600
        left = sorted(row[0] for row in db.execute("SELECT id FROM profiles"))
    assert left == [f"v{n:04}" for n in range(600, 1600)]


def test_a_lock_held_elsewhere_never_stalls_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "opmaat.db"

    async def scenario() -> None:
        store = SQLiteStore(path, timeout=0.3, breaker=CircuitBreaker(failures=2, cooldown=0.2))
        await store.store_if("v", {"a": 1}, 60, None)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process writing, for a long time
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.store_if("v", {"a": 2}, 60, (await store.load("v"))[1])
        assert 0.25 < time.monotonic() - started < 1.0  # waited for the lock, then gave up
        assert await store.get("v") == {"a": 1}  # reads go on in WAL mode
        assert max(gaps) < 0.1  # other requests were served all along
        with pytest.raises(StoreUnavailable):
            await store.tally("sale", "a", "impressions")
        assert store.state == "degraded"  # two writes failed: the breaker is open
        other.execute("COMMIT")
        other.close()
        await asyncio.sleep(0.25)
        assert await store.get("v") == {"a": 1}  # the trial write goes through
        assert store.state == "ok"
        ticker.cancel()
        await store.close()

    asyncio.run(scenario())


def _full_at(pages: int) -> Any:
    """sqlite3.connect, with the database limited to ``pages`` pages: a full disk."""
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = real(*args, **kwargs)
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    return connect


def _read_only() -> Any:
    """sqlite3.connect as for a file the edge's user may not write (even as root)."""
    real = sqlite3.connect

    def connect(database: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real(database.replace("mode=rw", "mode=ro"), *args, **kwargs)

    return connect


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("full", "the disk is full"),
        ("read-only", "the file is read-only"),
        ("damaged", "not a SQLite database"),
    ],
)
def test_a_fault_opens_the_breaker_and_nothing_stored_is_lost_when_it_clears(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    message: str,
) -> None:
    path = tmp_path / "opmaat.db"
    kept = tmp_path / "kept.db"

    async def scenario() -> None:
        store = SQLiteStore(path, breaker=CircuitBreaker(failures=3, cooldown=0.2))
        await store.store_if("v", {"visits": 1}, 3600, None)
        await store.close()
        if fault == "full":
            pages = os.path.getsize(path) // 4096
            monkeypatch.setattr(sqlite3, "connect", _full_at(pages))
        elif fault == "read-only":
            monkeypatch.setattr(sqlite3, "connect", _read_only())
        else:
            os.replace(path, kept)
            path.write_bytes(b"not a database at all, " * 200)
        if fault == "full":
            for n in range(200):  # until the pages run out
                try:
                    await store.store_if(f"new-{n}", {"pad": "x" * 3000}, 3600, None)
                except StoreUnavailable:
                    break
        else:
            with pytest.raises(StoreUnavailable):
                await store.store_if("v", {"visits": 2}, 3600, (await store.load("v"))[1])
        assert store.state == "degraded"  # at once: retrying cannot help
        with pytest.raises(StoreUnavailable, match=message):
            await store.get("v")
        assert message in caplog.text
        monkeypatch.undo()
        if fault == "damaged":
            os.replace(kept, path)  # what `opmaat restore` does, in short
        await asyncio.sleep(0.25)
        record, token = await store.load("v")
        assert record == {"visits": 1}
        assert await store.store_if("v", {"visits": 2}, 3600, token) is not None
        assert store.state == "ok"
        await store.close()

    asyncio.run(scenario())


def test_a_file_of_another_program_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER)")

    async def scenario() -> None:
        store = SQLiteStore(path)
        with pytest.raises(StoreUnavailable, match="other tables"):
            await store.get("v")
        await store.close()

    asyncio.run(scenario())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_schema").fetchall() == [("orders",)]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "name the file"),
        ("sqlite:///x.db?timeout_ms=soon", "must be numbers"),
        ("sqlite:///x.db?colour=red", "unknown option"),
        ("sqlite:///x.db?synchronous=off", "normal or full"),
        ("sqlite:///x.db?stream_maxlen=0", "out of range"),
        ("sqlite:///x.db?max_profiles=10", "out of range"),
    ],
)
def test_bad_sqlite_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_sqlite_urls_name_absolute_and_relative_files() -> None:
    absolute = SQLiteStore.from_url("sqlite:///var/lib/opmaat/opmaat.db?synchronous=full")
    assert absolute.path == Path("/var/lib/opmaat/opmaat.db")
    assert absolute.synchronous == "full"
    assert SQLiteStore.from_url("sqlite://data/opmaat.db").path == Path("data/opmaat.db")
