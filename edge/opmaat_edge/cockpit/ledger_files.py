"""The cockpit's ledger in files beside the campaign file, for the stores of one machine
(memory, SQLite): ``campaigns.cockpit/`` holds ``drafts/ID.json``, ``versions/000001.json``,
``archived.json`` and ``audit.jsonl``; ``campaigns.users.json`` the users (mode 0600).

Every change is made under a lock file (``fcntl.flock``), so the worker processes of one edge
and the ``opmaat user`` command never lose each other's writes; files are replaced whole
(temporary file + rename), the audit log is appended to. File work runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson

from opmaat.files import write_atomic
from opmaat_edge.cockpit.ledger import (
    AuditEntry,
    Draft,
    LedgerBusy,
    LedgerUnavailable,
    UserRecord,
    Version,
)

T = TypeVar("T")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_VERSION_FILE = re.compile(r"([0-9]{6,})\.json")
LOCK_WAIT_SECONDS = 10.0
_CHUNK = 64 * 1024


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n"


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError:
        raise LedgerUnavailable(f"{path} is not JSON: fix or remove it") from None


class FileLedger:
    def __init__(self, folder: Path, users_path: Path) -> None:
        self.folder = folder
        self.users_path = users_path
        self.where = f"files beside the campaign file: {folder.name}/ and {users_path.name}"
        self._publish = asyncio.Lock()

    # --- plumbing ------------------------------------------------------------------------

    async def _run(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(work)
        except OSError as exc:
            raise LedgerUnavailable(f"{self.folder}: {exc.strerror or exc}") from None

    def _made(self, sub: str = "") -> Path:
        path = self.folder / sub if sub else self.folder
        path.mkdir(mode=0o750, parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def _locked(self, name: str = ".lock", wait: float | None = None) -> Iterator[None]:
        held = os.open(self._made() / name, os.O_RDONLY | os.O_CREAT, 0o660)
        try:
            if wait is None:
                fcntl.flock(held, fcntl.LOCK_EX)
            else:
                deadline = time.monotonic() + wait
                while True:
                    try:
                        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise LedgerBusy("another publish is running") from None
                        time.sleep(0.05)
            yield
        finally:
            os.close(held)

    # --- versions ------------------------------------------------------------------------

    def _numbers(self) -> list[int]:
        try:
            names = os.listdir(self.folder / "versions")
        except FileNotFoundError:
            return []
        found = (_VERSION_FILE.fullmatch(name) for name in names)
        return sorted(int(m.group(1)) for m in found if m)

    def _version_path(self, number: int) -> Path:
        return self.folder / "versions" / f"{number:06d}.json"

    def _read_version(self, number: int) -> Version | None:
        return Version.of(_read_json(self._version_path(number)))

    async def head(self) -> tuple[int, str] | None:
        def read() -> tuple[int, str] | None:
            numbers = self._numbers()
            if not numbers:
                return None
            newest = self._read_version(numbers[-1])
            return (newest.number, newest.hash) if newest is not None else None

        return await self._run(read)

    async def add_version(self, version: Version) -> bool:
        def add() -> bool:
            with self._locked():
                numbers = self._numbers()
                if version.number != (numbers[-1] if numbers else 0) + 1:
                    return False
                self._made("versions")
                write_atomic(self._version_path(version.number), _dumps(version.record()))
                return True

        return await self._run(add)

    async def version(self, number: int) -> Version | None:
        if number < 1:
            return None
        return await self._run(lambda: self._read_version(number))

    async def versions(self, newest: int, count: int) -> list[Version]:
        def read() -> list[Version]:
            wanted = [n for n in self._numbers() if n <= newest][-count:]
            found = (self._read_version(n) for n in reversed(wanted))
            return [v for v in found if v is not None]

        return await self._run(read)

    # --- drafts --------------------------------------------------------------------------

    def _draft_path(self, campaign: str) -> Path:
        if not _NAME.fullmatch(campaign):
            raise ValueError(f"not a campaign id: {campaign[:40]!r}")
        return self.folder / "drafts" / f"{campaign}.json"

    async def draft(self, campaign: str) -> Draft | None:
        if not _NAME.fullmatch(campaign):
            return None
        return await self._run(lambda: Draft.of(_read_json(self._draft_path(campaign))))

    async def drafts(self) -> list[Draft]:
        def read() -> list[Draft]:
            try:
                names = sorted(os.listdir(self.folder / "drafts"))
            except FileNotFoundError:
                return []
            found = (
                Draft.of(_read_json(self.folder / "drafts" / name))
                for name in names
                if name.endswith(".json") and _NAME.fullmatch(name[:-5])
            )
            return [d for d in found if d is not None]

        return await self._run(read)

    async def save_draft(self, draft: Draft, expected: int) -> bool:
        path = self._draft_path(draft.campaign)

        def save() -> bool:
            with self._locked():
                kept = Draft.of(_read_json(path))
                if (kept.revision if kept is not None else 0) != expected:
                    return False
                self._made("drafts")
                write_atomic(path, _dumps(draft.record()))
                return True

        return await self._run(save)

    async def drop_draft(self, campaign: str) -> bool:
        path = self._draft_path(campaign)

        def drop() -> bool:
            with self._locked():
                try:
                    path.unlink()
                except FileNotFoundError:
                    return False
                return True

        return await self._run(drop)

    # --- archived campaigns --------------------------------------------------------------

    async def archived(self) -> dict[str, dict[str, Any]]:
        def read() -> dict[str, dict[str, Any]]:
            data = _read_json(self.folder / "archived.json")
            if not isinstance(data, dict):
                return {}
            return {k: v for k, v in data.items() if isinstance(v, dict)}

        return await self._run(read)

    async def _change_archived(self, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.folder / "archived.json"

        def write() -> None:
            with self._locked():
                data = _read_json(path)
                data = data if isinstance(data, dict) else {}
                change(data)
                write_atomic(path, _dumps(data))

        await self._run(write)

    async def put_archived(self, campaign: str, record: dict[str, Any]) -> None:
        await self._change_archived(lambda data: data.__setitem__(campaign, record))

    async def drop_archived(self, campaign: str) -> None:
        await self._change_archived(lambda data: data.pop(campaign, None))

    # --- the audit log -------------------------------------------------------------------

    @property
    def _audit_path(self) -> Path:
        return self.folder / "audit.jsonl"

    def _reversed_lines(self) -> Iterator[bytes]:
        """The log's lines, newest first, read from the end in chunks."""
        try:
            handle = self._audit_path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            end = handle.seek(0, os.SEEK_END)
            rest = b""
            while end > 0:
                start = max(0, end - _CHUNK)
                handle.seek(start)
                block = handle.read(end - start) + rest
                end = start
                lines = block.split(b"\n")
                rest = lines.pop(0)
                for line in reversed(lines):
                    if line.strip():
                        yield line
            if rest.strip():
                yield rest

    def _entries(self) -> Iterator[AuditEntry]:
        for line in self._reversed_lines():
            try:
                entry = AuditEntry.of(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
            if entry is not None:
                yield entry

    async def audit(self, entry: AuditEntry) -> int:
        def append() -> int:
            with self._locked():
                newest = next(self._entries(), None)
                number = (newest.id if newest is not None else 0) + 1
                line = orjson.dumps({**entry.record(), "id": number}) + b"\n"
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
                held = os.open(self._audit_path, flags, 0o640)
                try:
                    os.write(held, line)
                    os.fsync(held)
                finally:
                    os.close(held)
                return number

        return await self._run(append)

    async def audit_entries(self, before: int | None, count: int) -> list[AuditEntry]:
        def read() -> list[AuditEntry]:
            out: list[AuditEntry] = []
            for entry in self._entries():
                if before is not None and entry.id >= before:
                    continue
                out.append(entry)
                if len(out) == count:
                    break
            return out

        return await self._run(read)

    async def audit_entry(self, entry_id: int) -> AuditEntry | None:
        def find() -> AuditEntry | None:
            for entry in self._entries():
                if entry.id == entry_id:
                    return entry
                if entry.id < entry_id:
                    return None
            return None

        return await self._run(find)

    async def audit_lines(self) -> AsyncIterator[str]:
        def read() -> list[bytes]:
            try:
                return self._audit_path.read_bytes().splitlines()
            except FileNotFoundError:
                return []

        for line in await self._run(read):
            if line.strip():
                yield line.decode("utf-8", "replace") + "\n"

    # --- users ---------------------------------------------------------------------------

    def _read_users(self) -> dict[str, UserRecord]:
        data = _read_json(self.users_path)
        items = data.get("users", []) if isinstance(data, dict) else []
        found = (UserRecord.of(item) for item in items if isinstance(item, dict))
        return {user.name: user for user in found if user is not None}

    def _write_users(self, users: dict[str, UserRecord]) -> None:
        with contextlib.suppress(FileExistsError):
            # Made private before anything is in it: it holds the password hashes.
            os.close(os.open(self.users_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        records = [u.record() for u in sorted(users.values(), key=lambda u: u.name)]
        write_atomic(self.users_path, _dumps({"users": records}))

    async def users(self) -> dict[str, UserRecord]:
        return await self._run(self._read_users)

    async def put_user(self, user: UserRecord) -> None:
        def put() -> None:
            with self._locked():
                users = self._read_users()
                users[user.name] = user
                self._write_users(users)

        await self._run(put)

    async def drop_user(self, name: str) -> bool:
        def drop() -> bool:
            with self._locked():
                users = self._read_users()
                if users.pop(name, None) is None:
                    return False
                self._write_users(users)
                return True

        return await self._run(drop)

    # --- publishing ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def publishing(self) -> AsyncIterator[None]:
        async with self._publish:
            lock = self._locked(".publish.lock", wait=LOCK_WAIT_SECONDS)
            await self._run(lock.__enter__)
            try:
                yield
            finally:
                await self._run(lambda: lock.__exit__(None, None, None))
