"""The SQLite store's tables (opmaat.sqlite_store), and their upkeep: the schema, when a
profile expires, and the deletions that keep the file to what it should hold."""

from __future__ import annotations

import math
import sqlite3
import time
from typing import Any

from opmaat.store import DAILY_DAYS, tally_day

SCHEMA_VERSION = 1
# Profiles are a rowid table, ``expires`` before the record: a row of 1-16 KB makes a poor
# WITHOUT ROWID table (measured: a read took twice as long), and the sweep reads ``expires``
# alone. Every day's counts sit beside the totals; the totals' day is "".
_SCHEMA = """
CREATE TABLE profiles (id TEXT PRIMARY KEY, expires REAL NOT NULL, data BLOB NOT NULL);
CREATE INDEX profiles_expires ON profiles (expires);
CREATE TABLE tallies (
  campaign TEXT NOT NULL, day TEXT NOT NULL, variant TEXT NOT NULL, field TEXT NOT NULL,
  count INTEGER NOT NULL, PRIMARY KEY (campaign, day, variant, field)) WITHOUT ROWID;
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, visitor TEXT, data TEXT NOT NULL);
CREATE INDEX events_visitor ON events (visitor) WHERE visitor IS NOT NULL;
CREATE TABLE paused (campaign TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE scopes (scope TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE scope_visitors (
  scope TEXT NOT NULL, visitor TEXT NOT NULL, PRIMARY KEY (scope, visitor)) WITHOUT ROWID;
CREATE TABLE expiring (
  name TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE counters (
  name TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX counters_expires ON counters (expires);
"""

SWEEP_BATCH = 500  # rows deleted in one transaction: the write lock is never held for long
SWEEP_BUDGET = 1.0  # seconds one sweep may delete for (closing the store waits for it)


class SchemaError(sqlite3.DatabaseError):
    """The file holds another program's tables, or those of a newer opmaat."""


def expiry(now: float, ttl: float) -> float:
    """When a profile written ``now`` for ``ttl`` seconds expires: rounded up to a sixteenth
    of its lifetime (at most an hour), so that most writes leave the expiry, and with it the
    index the sweep reads, unchanged (measured: a third of the bytes written per save)."""
    step = min(3600.0, max(0.0, ttl) / 16)
    return now + ttl if step <= 0 else math.ceil((now + ttl) / step) * step


def ensure_schema(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return  # nothing to write: a read-only file still opens (and is reported on writes)
    if version > SCHEMA_VERSION:
        raise SchemaError(f"the file was made by a newer opmaat (schema {version})")
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # another process was first?
        if version == 0:
            if db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
                raise SchemaError("the file holds other tables than opmaat's")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def trim_events(db: sqlite3.Connection, maxlen: int, deadline: float) -> None:
    newest = db.execute("SELECT max(seq) FROM events").fetchone()[0]
    if newest is not None:
        sql = "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ?1 LIMIT ?2)"
        _in_batches(db, sql, newest - maxlen, deadline)


def sweep(
    db: sqlite3.Connection, now: float, max_profiles: int, budget: float = SWEEP_BUDGET
) -> int:
    """Delete what expired (profiles past their retention, PURL visitor lists, short-lived
    values, counters, daily counts older than ``DAILY_DAYS``), then the profiles that expire
    soonest (the least recently written) past ``max_profiles``: ``SWEEP_BATCH`` rows a
    transaction with a pause between, so requests never wait long for the write lock, for
    ``budget`` seconds at most (the next sweep goes on; reads never return what expired
    meanwhile). Returns the rows deleted."""
    deadline = time.monotonic() + budget
    oldest_day = tally_day(now - DAILY_DAYS * 86400)
    jobs = (
        ("profiles", "rowid", "expires <= ?1", now),
        ("counters", "name", "expires <= ?1", now),
        ("expiring", "name", "expires <= ?1", now),
        ("scope_visitors", "scope", "scope IN (SELECT scope FROM scopes WHERE expires <= ?1)", now),
        ("scopes", "scope", "expires <= ?1", now),
        ("tallies", "(campaign, day, variant, field)", "day != '' AND day < ?1", oldest_day),
    )
    total = 0
    for table, key, expired, bound in jobs:
        sql = (
            f"DELETE FROM {table} WHERE {key} IN "
            f"(SELECT {key.strip('()')} FROM {table} WHERE {expired} LIMIT ?2)"
        )
        total += _in_batches(db, sql, bound, deadline)
    # A flood of new visitors fills the disk no further than this (as the memory store's
    # bound and Redis's maxmemory do).
    excess = db.execute("SELECT count(*) FROM profiles").fetchone()[0] - max_profiles
    while excess > 0 and time.monotonic() < deadline:
        deleted = db.execute(
            "DELETE FROM profiles WHERE rowid IN "
            "(SELECT rowid FROM profiles ORDER BY expires LIMIT ?)",
            (min(excess, SWEEP_BATCH),),
        ).rowcount
        total, excess = total + deleted, excess - deleted
        time.sleep(0.002)
    return total


def _in_batches(db: sqlite3.Connection, sql: str, bound: Any, deadline: float) -> int:
    total = 0
    while time.monotonic() < deadline:
        deleted = db.execute(sql, (bound, SWEEP_BATCH)).rowcount
        total += deleted
        if deleted < SWEEP_BATCH:
            break
        time.sleep(0.002)  # let the requests' writes in
    return total
