"""`opmaat backup`, `restore`, `export profiles` and `import profiles`: a store's data kept
safe, and moved between stores.

A backup is SQLite's online backup of the whole file (profiles, tallies, events, pauses) in one
read transaction: the edge goes on serving meanwhile. A restore checks the backup first and
then copies it into the live file, which the running workers see at their next request; a
damaged live file is moved aside. An export is JSON lines, a profile (with the time it has left)
or a paused campaign a line, which `import profiles` writes into any store: so a site moves
from Redis to SQLite, or back, without losing a visitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sqlite3
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from opmaat.limits import MAX_RECORD_BYTES
from opmaat.sqlite_tables import SCHEMA_VERSION
from opmaat.store import MemoryStore, ProfileStore, encode_record, open_store
from opmaat_edge.data_dir import sqlite_path

T = TypeVar("T")
PARTIAL = 4  # exit status: imported, but some lines were left out
DAMAGED = (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)
HEADER = {"opmaat_export": 1}
MAX_VISITOR_ID = 256
MAX_TTL_SECONDS = 10 * 366 * 86400


def _say(*lines: object) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _sqlite_file(url: str, verb: str) -> Path | None:
    path = sqlite_path(url)
    if path is None:
        _say(
            f"opmaat: {verb} works on the SQLite store (--store sqlite:///…); a Redis keeps "
            "its own snapshots (RDB or AOF), and `opmaat export profiles` works on any store"
        )
    return path


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    return sqlite3.connect(
        f"{path.absolute().as_uri()}?mode={mode}", uri=True, timeout=5, isolation_level=None
    )


def _profile_count(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT count(*) FROM profiles WHERE expires > ?", (time.time(),)).fetchone()
    return int(row[0])


def backup(url: str, target: str) -> int:
    """Copy the live SQLite file to ``target`` (written whole, then renamed into place)."""
    path = _sqlite_file(url, "backup")
    if path is None:
        return 2
    if not path.is_file():
        _say(f"opmaat: there is no database at {path}")
        return 2
    out = Path(target)
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.unlink(missing_ok=True)  # left by a backup that was stopped
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # personal data
        source = _connect(path, "rw")  # a read-only open could not join the write-ahead log
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(copy)  # all pages in one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            problem = copy.execute("PRAGMA quick_check").fetchone()[0]
            profiles = _profile_count(copy)
        finally:
            copy.close()
            source.close()
        if problem != "ok":
            raise sqlite3.DatabaseError(f"the copy does not check out: {problem}")
        os.replace(partial, out)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        _say(f"opmaat: backup of {path} failed: {exc}")
        return 1
    print(f"{out}: backup of {path}, {profiles} profile(s), {out.stat().st_size} bytes")
    return 0


def _check_backup(source: Path) -> str | None:
    """What makes ``source`` no backup of opmaat's, or None."""
    if not source.is_file():
        return f"{source} is not a file"
    try:
        db = _connect(source, "ro")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if not 1 <= version <= SCHEMA_VERSION:
                return f"{source} is not a backup of opmaat's store (schema {version})"
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                return f"{source} is damaged: {problem}"
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"{source} cannot be read as a database: {exc}"
    return None


def restore(url: str, source_name: str) -> int:
    """Replace what the live SQLite file holds with the backup ``source_name``."""
    path = _sqlite_file(url, "restore")
    if path is None:
        return 2
    source = Path(source_name)
    problem = _check_backup(source)
    if problem is not None:
        _say(f"opmaat: {problem}; nothing restored")
        return 1
    aside = None
    try:
        with contextlib.closing(_connect(source, "ro")) as backup_db:
            try:
                _copy_into(backup_db, path)
            except sqlite3.DatabaseError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in DAMAGED:
                    raise
                # The live file is damaged: keep it for a look, and restore into a new one.
                aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{path}{suffix}", f"{aside}{suffix}")
                _copy_into(backup_db, path)
            profiles = _profile_count(backup_db)
    except (sqlite3.Error, OSError) as exc:
        _say(f"opmaat: restoring {path} failed: {exc}")
        return 1
    if aside is not None:
        _say(f"opmaat: {path} was damaged; it is kept as {aside}")
    print(
        f"{path}: restored from {source} ({profiles} profile(s)); "
        "what changed since that backup is gone"
    )
    return 0


def _copy_into(backup_db: sqlite3.Connection, path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    live = _connect(path, "rw")
    try:
        live.execute("PRAGMA journal_mode = WAL").fetchone()  # also: is this a database?
        backup_db.backup(live)  # one transaction: running workers see the old or the new
    finally:
        live.close()


def export_profiles(url: str, out_name: str | None) -> int:
    """Write every live profile of the store, and its paused campaigns, as JSON lines."""
    store = _open(url, "export")
    if store is None:
        return 2

    async def write(out: IO[bytes]) -> int:
        count = 0
        out.write(orjson.dumps(HEADER) + b"\n")
        async for visitor, record, ttl in store.profiles():
            line = {"visitor": visitor, "ttl": round(ttl, 3), "profile": record}
            out.write(orjson.dumps(line, option=orjson.OPT_NON_STR_KEYS) + b"\n")
            count += 1
        for campaign in sorted(await store.paused()):
            out.write(orjson.dumps({"paused": campaign}) + b"\n")
        return count

    try:
        if out_name in (None, "-"):
            count = asyncio.run(_closing(store, write(sys.stdout.buffer)))
            sys.stdout.buffer.flush()
        else:
            # Personal data: for the user who exports only.
            fd = os.open(out_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                count = asyncio.run(_closing(store, write(out)))
    except (ConnectionError, OSError) as exc:
        _say(f"opmaat: export failed: {exc}")
        return 1
    _say(f"exported {count} profile(s)")
    return 0


def _open(url: str, verb: str) -> ProfileStore | None:
    try:
        store = open_store(url)
    except ValueError as exc:
        _say(f"opmaat: {exc}")
        return None
    if isinstance(store, MemoryStore):
        _say(
            f"opmaat: the memory store lives inside the edge's process: nothing to {verb} here "
            "(move to SQLite or Redis first, and the data stays across restarts)"
        )
        return None
    return store


async def _closing(store: ProfileStore, work: Awaitable[T]) -> T:
    try:
        return await work
    finally:
        await store.close()


def _profile(value: Any) -> tuple[str, dict[str, Any], float] | str:
    """The (visitor, profile, ttl) of an export line, or what is wrong with it."""
    if not isinstance(value, dict):
        return "not an object"
    visitor, record, ttl = value.get("visitor"), value.get("profile"), value.get("ttl")
    if not isinstance(visitor, str) or not 0 < len(visitor) <= MAX_VISITOR_ID:
        return f"visitor: not an id of 1 to {MAX_VISITOR_ID} characters"
    if not isinstance(record, dict):
        return "profile: not an object"
    if not isinstance(ttl, int | float) or math.isnan(ttl) or not 0 < ttl <= MAX_TTL_SECONDS:
        return "ttl: not a number of seconds above 0"
    if len(encode_record(record)) > MAX_RECORD_BYTES:
        return f"profile: over {MAX_RECORD_BYTES // 1024} KB"
    return visitor, record, float(ttl)


def import_profiles(url: str, path: str) -> int:
    """Write the profiles (and pauses) of an export into the store; a visitor it already has
    keeps what it has, so an import stopped half-way can simply be run again. Exit status 0:
    all imported; 4: some lines left out; 1: stopped."""
    store = _open(url, "import")
    if store is None:
        return 2
    problems: list[str] = []

    async def load(lines: IO[bytes]) -> tuple[int, int]:
        written = kept = 0
        try:
            header = orjson.loads(lines.readline())
        except orjson.JSONDecodeError:
            header = None
        if header != HEADER:
            raise ValueError(f"{path}:1: not a file of `opmaat export profiles`")
        for number, line in enumerate(lines, 2):
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                problems.append(f"{path}:{number}: not a line of JSON")
                continue
            if isinstance(value, dict) and isinstance(value.get("paused"), str):
                await store.set_paused(value["paused"], True)
                continue
            found = _profile(value)
            if isinstance(found, str):
                problems.append(f"{path}:{number}: {found}")
                continue
            visitor, record, ttl = found
            if await store.store_if(visitor, record, ttl, None) is None:
                kept += 1
            else:
                written += 1
        return written, kept

    try:
        with open(path, "rb") as lines:
            written, kept = asyncio.run(_closing(store, load(lines)))
    except (ConnectionError, OSError, ValueError) as exc:
        _say(f"opmaat: {exc}; import stopped (running it again keeps what was imported)")
        return 1
    _say(*problems)
    left = f", {len(problems)} line(s) left out" if problems else ""
    print(f"imported {written} profile(s), {kept} already in the store{left}")
    return PARTIAL if problems else 0
