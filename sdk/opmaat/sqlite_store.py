"""Profiles, tallies, the event stream and the shared campaign file in one SQLite file.

For one machine: the worker processes of ``opmaat serve --workers N`` and the ``opmaat``
commands share the file, in WAL mode (readers go on while one process writes). A call returns
once SQLite has committed to the write-ahead log, and there is no write-behind: a process
killed at any moment (``kill -9``) loses nothing it acknowledged and never leaves a damaged
file. With ``synchronous=normal`` (the default) the log is synced to disk at each checkpoint,
about every second, so a power cut may lose the last second; ``?synchronous=full`` syncs every
commit, in the worker's event loop (measured in-process: 567 decides/s instead of 2,046).

How it calls SQLite (measured on a 2-core VM): a profile read takes 10-20 µs and a write 30-60
µs on the calling thread; through a thread pool each call costs about 70 µs more (2,046 against
1,578 decides/s in ``bench.store``). So requests call it on the event loop, on a connection that
never waits for a lock (``busy_timeout`` 0): when another process holds the write lock, the
call is retried after an ``asyncio.sleep`` with back-off until ``timeout`` has passed, and the
loop never stalls. Statements are constant texts, so sqlite3's statement cache prepares each
once per connection (uncached, a read took 34 µs instead of 10). What can take long (opening
the file, checkpoints, the retention sweep) runs on a side thread with a connection of its own.

Faults: a full disk, a read-only or damaged file open the circuit breaker at once, a lock held
past ``timeout`` counts as a failure; each is logged once with what to do. Meanwhile visitors
get decisions from their request alone; after the cool-down the file is reopened and a trial
write made and, when it goes through, the store is back (see also ``opmaat restore``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson

from opmaat.breaker import CircuitBreaker, StoreUnavailable
from opmaat.sqlite_tables import (
    SWEEP_BUDGET,
    SchemaError,
    ensure_schema,
    expiry,
    sweep,
    trim_events,
)
from opmaat.store import (
    DAILY_DAYS,
    MAX_SCOPE_VISITORS,
    TALLY_FIELDS,
    Daily,
    Record,
    SharedConfig,
    StoredProfile,
    Tallies,
    decode_record,
    encode_record,
    tally_day,
)

T = TypeVar("T")
log = logging.getLogger("opmaat.store")

MAINTENANCE_SECONDS = 1.0  # checkpoint and trim the event stream this often (per process)
SWEEP_SECONDS = 60.0  # delete what expired this often (one process of those sharing the file)
LIST_BATCH = 500  # profiles read at a time by profiles()
MAX_PROFILES = 1_000_000  # kept at most (the sweep deletes the least recently written past it)
_FIRST_PAUSE = 0.0005  # seconds before retrying a call that found the write lock taken

# What the operator reads in the log for each kind of failure (SQLite's primary result codes),
# and whether it lasts: retrying at once cannot help (the breaker opens), and the file is opened
# afresh once it is fixed (made writable, or replaced by a restore).
_PROBLEMS: dict[int, tuple[str, bool]] = {
    sqlite3.SQLITE_FULL: ("the disk is full: free some space", True),
    sqlite3.SQLITE_READONLY: ("the file is read-only: give the edge's user write access", True),
    sqlite3.SQLITE_BUSY: ("the database is locked by another process", False),
    sqlite3.SQLITE_LOCKED: ("the database is locked by another process", False),
    sqlite3.SQLITE_CORRUPT: ("the file is damaged: restore a backup (opmaat restore)", True),
    sqlite3.SQLITE_NOTADB: (
        "the file is not a SQLite database: restore a backup (opmaat restore)",
        True,
    ),
    sqlite3.SQLITE_CANTOPEN: (
        "the file cannot be opened: check that its folder exists and the edge may write there",
        True,
    ),
    sqlite3.SQLITE_PERM: ("access to the file is denied", True),
    sqlite3.SQLITE_IOERR: ("a disk error", True),
}


class SQLiteStore:
    """A ProfileStore in a SQLite file that the processes of one machine share."""

    def __init__(
        self,
        path: str | Path,
        *,
        timeout: float = 1.0,
        breaker: CircuitBreaker | None = None,
        stream_maxlen: int = 100_000,
        synchronous: str = "normal",
        max_profiles: int = MAX_PROFILES,
    ) -> None:
        self.path = Path(path)
        self.max_profiles = max_profiles
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker()
        self.stream_maxlen = stream_maxlen
        self.synchronous = synchronous
        self.errors = 0
        self._db: sqlite3.Connection | None = None  # the event loop's
        self._side: sqlite3.Connection | None = None  # the side thread's
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._side_stale = False  # the side thread reopens the file before its next job
        self._problem = ""  # what was last logged as wrong ("" while all is well)
        self._next_maintenance = time.monotonic() + MAINTENANCE_SECONDS
        self._maintaining: asyncio.Future[None] | None = None

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///var/lib/opmaat/opmaat.db`` (absolute) or ``sqlite://data/opmaat.db``
        (relative to the working directory), with optional ``?timeout_ms=1000&breaker_failures=3
        &breaker_cooldown_s=5&stream_maxlen=100000&synchronous=normal&max_profiles=1000000``."""
        rest = url.split("://", 1)[1]
        path, _, options = rest.partition("?")
        query = {k: v[-1] for k, v in parse_qs(options, keep_blank_values=True).items()}
        if not path:
            raise ValueError(
                f"store URL {url!r}: name the file, e.g. sqlite:///var/lib/opmaat/opmaat.db"
            )
        try:
            timeout = int(query.pop("timeout_ms", "1000")) / 1000
            failures = int(query.pop("breaker_failures", "3"))
            cooldown = float(query.pop("breaker_cooldown_s", "5"))
            maxlen = int(query.pop("stream_maxlen", "100000"))
            most = int(query.pop("max_profiles", str(MAX_PROFILES)))
        except ValueError:
            raise ValueError(f"store URL {url!r}: options must be numbers") from None
        synchronous = query.pop("synchronous", "normal")
        if query:
            raise ValueError(f"store URL {url!r}: unknown option {sorted(query)[0]!r}")
        if synchronous not in ("normal", "full"):
            raise ValueError(f"store URL {url!r}: synchronous is normal or full")
        in_range = 0 < timeout <= 60 and failures >= 1 and cooldown >= 0 and maxlen >= 1
        if not in_range or not 100 <= most <= 100_000_000:
            raise ValueError(f"store URL {url!r}: an option is out of range")
        return cls(
            path,
            timeout=timeout,
            breaker=CircuitBreaker(failures, cooldown),
            stream_maxlen=maxlen,
            synchronous=synchronous,
            max_profiles=most,
        )

    @property
    def state(self) -> str:
        return self.breaker.state

    # -- calling SQLite ------------------------------------------------------------------------

    async def _call(self, op: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        if not self.breaker.allow():
            raise StoreUnavailable(f"sqlite: {self._problem or 'circuit open'}")
        trial = self.breaker.opened_at is not None
        db = self._db
        try:
            if db is None:
                db = await self._on_side(self._open)
            if trial:
                # Reads may work while writes cannot (a full disk, a read-only file): a
                # write decides whether the store is back.
                await self._attempt(db, _probe)
            result = await self._attempt(db, op)
        except sqlite3.ProgrammingError:
            if db is self._db:
                raise
            # The connection was closed under a call waiting for the lock: another call
            # failed for good meanwhile, and said why.
            self.breaker.trying = False
            raise StoreUnavailable(f"sqlite: {self._problem or 'closed'}") from None
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        except BaseException:
            self.breaker.trying = False  # cancelled: let the next call try
            raise
        if write or trial:
            # Only a write shows the store works: reads go on while a lock or a full disk
            # refuses every write, and must not keep the breaker closed.
            self.breaker.success()
            self._problem = ""
        if time.monotonic() >= self._next_maintenance:
            self._maintain_soon()
        return result

    async def _attempt(self, db: sqlite3.Connection, op: Callable[[sqlite3.Connection], T]) -> T:
        deadline = time.monotonic() + self.timeout
        pause = _FIRST_PAUSE
        while True:
            try:
                return op(db)
            except sqlite3.OperationalError as exc:
                code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
                if code not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                if time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _failed(self, exc: sqlite3.Error) -> StoreUnavailable:
        self.errors += 1
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if isinstance(exc, SchemaError):
            what, lasting = str(exc), True
        else:
            what, lasting = _PROBLEMS.get(code, (str(exc), False))
        if what != self._problem:
            log.error(
                "profile store %s: %s (%s); deciding from requests alone until it is fixed",
                self.path,
                what,
                exc,
                extra={"store_state": "degraded"},
            )
            self._problem = what
        if lasting and self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
            self._side_stale = True
        self.breaker.failure(lasting=lasting)
        return StoreUnavailable(f"sqlite: {what}")

    async def _on_side(self, job: Callable[[], T]) -> T:
        """Run ``job`` on the side thread (one per store: its jobs run one at a time)."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, "opmaat-sqlite")
        return await asyncio.get_running_loop().run_in_executor(self._pool, job)

    def _connect(self, busy_ms: int) -> sqlite3.Connection:
        # Profiles are personal data: the file (and SQLite's -wal and -shm files, which take
        # its mode) for the edge's user only. Where it cannot be made, SQLite says why.
        with contextlib.suppress(OSError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        db = sqlite3.connect(
            f"{self.path.absolute().as_uri()}?mode=rw",
            uri=True,
            timeout=busy_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            db.execute("PRAGMA journal_mode = WAL").fetchone()
            db.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            # Checkpoints are the side thread's work (they sync the disk).
            db.execute("PRAGMA wal_autocheckpoint = 0")
            db.execute("PRAGMA journal_size_limit = 67108864")
        except BaseException:
            db.close()
            raise
        return db

    def _side_db(self) -> sqlite3.Connection:
        if self._side_stale and self._side is not None:
            with contextlib.suppress(sqlite3.Error):
                self._side.close()
            self._side = None
        self._side_stale = False
        if self._side is None:
            side = self._connect(busy_ms=int(self.timeout * 2000))
            try:
                ensure_schema(side)
            except BaseException:
                side.close()
                raise
            self._side = side
        return self._side

    def _open(self) -> sqlite3.Connection:
        # On the side thread: the schema may have to wait for another process's lock.
        self._side_db()
        if self._db is None:
            self._db = self._connect(busy_ms=0)
        return self._db

    def _maintain_soon(self) -> None:
        self._next_maintenance = time.monotonic() + MAINTENANCE_SECONDS
        if self._pool is not None and (self._maintaining is None or self._maintaining.done()):
            loop = asyncio.get_running_loop()
            self._maintaining = loop.run_in_executor(self._pool, self._maintain)

    def _maintain(self) -> None:
        """Checkpoint the log, keep the event stream to its length and, once a minute on one
        of the processes, delete what expired. Never raises: requests report faults."""
        try:
            db = self._side_db()
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            trim_events(db, self.stream_maxlen, time.monotonic() + SWEEP_BUDGET)
            now = time.time()
            claimed = db.execute(
                "INSERT INTO meta (name, value) VALUES ('swept', ?1) ON CONFLICT (name) "
                "DO UPDATE SET value = ?1 WHERE CAST(value AS REAL) <= ?2",
                (str(now), now - SWEEP_SECONDS),
            ).rowcount
            if claimed:
                sweep(db, now, self.max_profiles)
        except sqlite3.Error as exc:
            log.debug("profile store maintenance failed: %s", exc)
        except Exception:
            log.exception("profile store maintenance failed")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)
        for db in (self._db, self._side):
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
        self._db = self._side = None

    # -- profiles ------------------------------------------------------------------------------

    async def get(self, visitor_id: str) -> Record | None:
        return (await self.load(visitor_id))[0]

    async def load(self, visitor_id: str) -> tuple[Record | None, bytes | None]:
        def read(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT data FROM profiles WHERE id = ? AND expires > ?", (visitor_id, time.time())
            ).fetchone()
            return None if row is None else bytes(row[0])

        data = await self._call(read)
        return decode_record(data), data

    async def store_if(
        self,
        visitor_id: str,
        record: Record,
        ttl_seconds: float,
        expected: bytes | None,
        encoded: bytes | None = None,
    ) -> bytes | None:
        data = encode_record(record) if encoded is None else encoded

        def write(db: sqlite3.Connection) -> bool:
            now = time.time()
            expires = expiry(now, ttl_seconds)
            if expected is None:  # absent, or expired (gone for every reader)
                cursor = db.execute(
                    "INSERT INTO profiles (id, data, expires) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (id) DO UPDATE SET data = ?2, expires = ?3 WHERE expires <= ?4",
                    (visitor_id, data, expires, now),
                )
            else:
                cursor = db.execute(
                    "UPDATE profiles SET data = ?2, expires = ?3 "
                    "WHERE id = ?1 AND data = ?4 AND expires > ?5",
                    (visitor_id, data, expires, expected, now),
                )
            return cursor.rowcount == 1

        return data if await self._call(write, write=True) else None

    async def delete(self, visitor_id: str) -> bool:
        """Forget the visitor: their profile, and their entries in the event stream."""

        def forget(db: sqlite3.Connection) -> bool:
            rows = db.execute(
                "DELETE FROM profiles WHERE id = ? RETURNING expires", (visitor_id,)
            ).fetchall()
            db.execute("DELETE FROM events WHERE visitor = ?", (visitor_id,))
            return bool(rows) and rows[0][0] > time.time()

        return await self._call(_transaction(forget), write=True)

    async def profiles(self) -> AsyncIterator[StoredProfile]:
        after = ""
        while True:

            def page(db: sqlite3.Connection, after: str = after) -> list[Any]:
                return db.execute(
                    "SELECT id, data, expires FROM profiles WHERE id > ? AND expires > ? "
                    "ORDER BY id LIMIT ?",
                    (after, time.time(), LIST_BATCH),
                ).fetchall()

            rows = await self._call(page)
            now = time.time()
            for visitor_id, data, expires in rows:
                record = decode_record(bytes(data))
                if record is not None:
                    yield visitor_id, record, expires - now
            if len(rows) < LIST_BATCH:
                return
            after = rows[-1][0]

    # -- tallies -------------------------------------------------------------------------------

    async def tally(self, campaign: str, variant: str | None, field: str) -> None:
        day = tally_day()

        def count(db: sqlite3.Connection) -> None:
            for when in ("", day):
                db.execute(
                    "INSERT INTO tallies (campaign, day, variant, field, count) "
                    "VALUES (?, ?, ?, ?, 1) ON CONFLICT DO UPDATE SET count = count + 1",
                    (campaign, when, variant or "-", field),
                )

        await self._call(_transaction(count), write=True)

    async def tallies(self, campaigns: Iterable[str]) -> Tallies:
        wanted = list(dict.fromkeys(campaigns))
        rows = await self._call(
            lambda db: db.execute(
                "SELECT campaign, day, variant, field, count FROM tallies "
                "WHERE campaign IN (SELECT value FROM json_each(?)) AND day = ''",
                (orjson.dumps(wanted).decode(),),
            ).fetchall()
        )
        out: Tallies = {c: {} for c in wanted}
        for campaign, _, variant, field, count in rows:
            if field in TALLY_FIELDS:
                out[campaign].setdefault(variant, dict.fromkeys(TALLY_FIELDS, 0))[field] = count
        return out

    async def daily_tallies(self, campaigns: Iterable[str], days: int = DAILY_DAYS) -> Daily:
        wanted = list(dict.fromkeys(campaigns))
        oldest = tally_day(time.time() - (min(days, DAILY_DAYS) - 1) * 86400)
        rows = await self._call(
            lambda db: db.execute(
                "SELECT campaign, day, variant, field, count FROM tallies "
                "WHERE campaign IN (SELECT value FROM json_each(?)) AND day >= ?",
                (orjson.dumps(wanted).decode(), oldest),
            ).fetchall()
        )
        out: Daily = {c: {} for c in wanted}
        for campaign, day, variant, field, count in rows:
            if field in TALLY_FIELDS:
                arms = out[campaign].setdefault(day, {})
                arms.setdefault(variant, dict.fromkeys(TALLY_FIELDS, 0))[field] = count
        return out

    # -- the event stream, the campaign file, pauses -------------------------------------------

    async def append_event(self, event: Mapping[str, str]) -> None:
        """Add ``event`` to the stream: table ``events``, read in order of ``seq`` (it only
        grows), trimmed to about ``stream_maxlen`` entries every second."""
        visitor, data = event.get("visitor"), orjson.dumps(dict(event)).decode()
        await self._call(
            lambda db: db.execute(
                "INSERT INTO events (visitor, data) VALUES (?, ?)", (visitor, data)
            ),
            write=True,
        )

    async def shared_config(self) -> SharedConfig | None:
        """The campaign file the processes share, or None when none is (or it is unreadable)."""
        row = await self._call(
            lambda db: db.execute("SELECT value FROM meta WHERE name = 'shared_config'").fetchone()
        )
        if row is None:
            return None
        try:
            data = orjson.loads(row[0])
            return SharedConfig(str(data["version"]), str(data["text"]), float(data["at"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    async def share_config(self, config: SharedConfig) -> None:
        value = orjson.dumps({"version": config.version, "text": config.text, "at": config.at})
        await self._call(
            lambda db: db.execute(
                "INSERT INTO meta (name, value) VALUES ('shared_config', ?1) "
                "ON CONFLICT (name) DO UPDATE SET value = ?1",
                (value.decode(),),
            ),
            write=True,
        )

    async def paused(self) -> set[str]:
        rows = await self._call(lambda db: db.execute("SELECT campaign FROM paused").fetchall())
        return {row[0] for row in rows}

    async def set_paused(self, campaign: str, paused: bool) -> None:
        sql = (
            "INSERT OR IGNORE INTO paused (campaign) VALUES (?)"
            if paused
            else "DELETE FROM paused WHERE campaign = ?"
        )
        await self._call(lambda db: db.execute(sql, (campaign,)), write=True)

    # -- PURL visitors, short-lived values, counters -------------------------------------------

    async def note_visitor(self, scope: str, visitor_id: str, ttl_seconds: float) -> int:
        def note(db: sqlite3.Connection) -> int:
            now = time.time()
            found = db.execute("SELECT expires FROM scopes WHERE scope = ?", (scope,)).fetchone()
            if found is not None and found[0] <= now:
                db.execute("DELETE FROM scope_visitors WHERE scope = ?", (scope,))
            count = _scope_size(db, scope)
            if count < MAX_SCOPE_VISITORS:
                db.execute(
                    "INSERT OR IGNORE INTO scope_visitors (scope, visitor) VALUES (?, ?)",
                    (scope, visitor_id),
                )
            db.execute(
                "INSERT INTO scopes (scope, expires) VALUES (?1, ?2) "
                "ON CONFLICT (scope) DO UPDATE SET expires = ?2",
                (scope, now + max(0.0, ttl_seconds)),
            )
            return _scope_size(db, scope)

        return await self._call(_transaction(note), write=True)

    async def forget_visitor(self, scope: str, visitor_id: str) -> None:
        await self._call(
            lambda db: db.execute(
                "DELETE FROM scope_visitors WHERE scope = ? AND visitor = ?", (scope, visitor_id)
            ),
            write=True,
        )

    async def put_expiring(self, name: str, value: str, ttl_seconds: float) -> None:
        expires = time.time() + max(0.0, ttl_seconds)
        await self._call(
            lambda db: db.execute(
                "INSERT INTO expiring (name, value, expires) VALUES (?1, ?2, ?3) "
                "ON CONFLICT (name) DO UPDATE SET value = ?2, expires = ?3",
                (name, value, expires),
            ),
            write=True,
        )

    async def get_expiring(self, name: str) -> str | None:
        row = await self._call(
            lambda db: db.execute(
                "SELECT value FROM expiring WHERE name = ? AND expires > ?", (name, time.time())
            ).fetchone()
        )
        return None if row is None else str(row[0])

    async def delete_expiring(self, name: str) -> bool:
        rows = await self._call(
            lambda db: db.execute(
                "DELETE FROM expiring WHERE name = ? RETURNING expires", (name,)
            ).fetchall(),
            write=True,
        )
        return bool(rows) and rows[0][0] > time.time()

    async def bump(self, name: str, ttl_seconds: float) -> int:
        def count(db: sqlite3.Connection) -> int:
            now = time.time()
            # An expired counter starts again at 1 (the sweep may not have deleted it yet).
            row = db.execute(
                "INSERT INTO counters (name, count, expires) VALUES (?1, 1, ?2) "
                "ON CONFLICT (name) DO UPDATE SET "
                "count = CASE WHEN expires <= ?3 THEN 1 ELSE count + 1 END, "
                "expires = CASE WHEN expires <= ?3 THEN ?2 ELSE expires END "
                "RETURNING count",
                (name, now + max(0.0, ttl_seconds), now),
            ).fetchall()
            return int(row[0][0])

        return await self._call(count, write=True)

    # -- operations ----------------------------------------------------------------------------

    async def file_stats(self) -> tuple[int, int]:
        """The database's size in bytes and its free pages (reused before the file grows;
        ``VACUUM`` gives them back to the file system)."""

        def stats(db: sqlite3.Connection) -> tuple[int, int]:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            size = db.execute("PRAGMA page_size").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            return int(pages) * int(size), int(free)

        return await self._call(stats)


def _transaction(op: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    """``op`` in one write transaction: all of it or nothing."""

    def run(db: sqlite3.Connection) -> T:
        db.execute("BEGIN IMMEDIATE")
        try:
            result = op(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        return result

    return run


def _probe(db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO meta (name, value) VALUES ('probe', ?1) "
        "ON CONFLICT (name) DO UPDATE SET value = ?1",
        (str(time.time()),),
    )


def _scope_size(db: sqlite3.Connection, scope: str) -> int:
    row = db.execute("SELECT count(*) FROM scope_visitors WHERE scope = ?", (scope,)).fetchone()
    return int(row[0])
