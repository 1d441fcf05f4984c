"""What the cockpit keeps besides sessions: drafts, published versions of the campaign file,
archived campaigns, the audit log and the cockpit's users.

Every node on one store sees the same records. With Redis they are keys of their own
(`opmaat_edge.cockpit.ledger_redis`); with the memory and SQLite stores (one machine) they are
files beside the campaign file (`opmaat_edge.cockpit.ledger_files`): ``campaigns.users.json``
and the folder ``campaigns.cockpit/`` (drafts, versions, ``audit.jsonl``), written atomically.

Records are plain JSON. Writes that others may race with are compare-and-set: a version is
added only as the next number, a draft only over the revision its editor started from.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from opmaat.store import ProfileStore


class LedgerUnavailable(Exception):
    """The ledger's store could not be reached or written; nothing was changed."""


class LedgerBusy(Exception):
    """Another publish holds the lock; nothing was changed."""


def text_hash(text: str) -> str:
    """What identifies a campaign file's content in drafts and versions."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Version:
    """One state of the campaign file: published from the cockpit, restored from an earlier
    version, or found changed outside the cockpit. ``changes`` are the field-level changes
    against the version before (opmaat_edge.cockpit.changes)."""

    number: int
    at: float
    author: str
    action: str  # "publish", "archive", "restore", "outside", "start"
    summary: str
    text: str
    hash: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    restored: int | None = None

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: Any) -> Version | None:
        try:
            return cls(
                number=int(data["number"]),
                at=float(data["at"]),
                author=str(data["author"]),
                action=str(data["action"]),
                summary=str(data["summary"]),
                text=str(data["text"]),
                hash=str(data["hash"]),
                changes=[c for c in data.get("changes", []) if isinstance(c, dict)],
                restored=int(data["restored"]) if data.get("restored") is not None else None,
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Draft:
    """A change to one campaign that is not published yet. ``spec`` is the campaign as it
    will be written (None: archive it); ``base_spec`` the campaign in the file the draft
    started from (None: a new campaign) and ``base_hash`` that file's hash, so publishing
    can tell what changed meanwhile. ``revision`` counts saves: a save names the revision
    it started from, so two editors never overwrite each other unseen."""

    campaign: str
    spec: dict[str, Any] | None
    base_spec: dict[str, Any] | None
    base_hash: str
    author: str
    at: float
    revision: int = 1
    after: str | None = None  # a new campaign goes after this one (a duplicate: its original)

    @property
    def kind(self) -> str:
        if self.spec is None:
            return "archive"
        return "new" if self.base_spec is None else "edit"

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: Any) -> Draft | None:
        try:
            spec, base = data["spec"], data["base_spec"]
            if not (spec is None or isinstance(spec, dict)):
                return None
            if not (base is None or isinstance(base, dict)):
                return None
            return cls(
                campaign=str(data["campaign"]),
                spec=spec,
                base_spec=base,
                base_hash=str(data["base_hash"]),
                author=str(data["author"]),
                at=float(data["at"]),
                revision=int(data["revision"]),
                after=str(data["after"]) if data.get("after") is not None else None,
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change anyone made: who, when, what (``action`` on ``target``), in a line
    (``summary``) and in detail (``details``: field changes, a diff). ``id`` is given when it
    is kept: 1, 2, 3, ... for the life of the log."""

    at: float
    user: str
    action: str
    target: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    id: int = 0

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: Any) -> AuditEntry | None:
        try:
            details = data.get("details", {})
            return cls(
                at=float(data["at"]),
                user=str(data["user"]),
                action=str(data["action"]),
                target=str(data["target"]),
                summary=str(data["summary"]),
                details=details if isinstance(details, dict) else {},
                id=int(data["id"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A cockpit user: a name, a role and a scrypt hash of the password. ``stamp`` changes
    with the password, which ends the sessions that began before."""

    name: str
    role: str
    hash: str
    stamp: str
    at: float
    by: str

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: Any) -> UserRecord | None:
        try:
            return cls(
                name=str(data["name"]),
                role=str(data["role"]),
                hash=str(data["hash"]),
                stamp=str(data["stamp"]),
                at=float(data["at"]),
                by=str(data["by"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class Ledger(Protocol):
    """Where the cockpit keeps its records (see the module's docstring)."""

    where: str  # said in the cockpit and the docs: which files or keys

    async def head(self) -> tuple[int, str] | None:
        """The newest version's number and hash, or None before the first."""
        ...

    async def add_version(self, version: Version) -> bool:
        """Keep ``version`` if it is the next number; False when another came first."""
        ...

    async def version(self, number: int) -> Version | None: ...

    async def versions(self, newest: int, count: int) -> list[Version]:
        """Up to ``count`` versions from ``newest`` down."""
        ...

    async def draft(self, campaign: str) -> Draft | None: ...

    async def drafts(self) -> list[Draft]: ...

    async def save_draft(self, draft: Draft, expected: int) -> bool:
        """Keep ``draft`` if the kept one has revision ``expected`` (0: none is kept)."""
        ...

    async def drop_draft(self, campaign: str) -> bool: ...

    async def archived(self) -> dict[str, dict[str, Any]]:
        """Campaigns taken out of the file: id -> {spec, at, by, version}."""
        ...

    async def put_archived(self, campaign: str, record: dict[str, Any]) -> None: ...

    async def drop_archived(self, campaign: str) -> None: ...

    async def audit(self, entry: AuditEntry) -> int:
        """Keep ``entry``; its id."""
        ...

    async def audit_entries(self, before: int | None, count: int) -> list[AuditEntry]:
        """Up to ``count`` entries, newest first, older than id ``before`` (None: the newest)."""
        ...

    async def audit_entry(self, entry_id: int) -> AuditEntry | None: ...

    def audit_lines(self) -> AsyncIterator[str]:
        """The whole log as JSON lines, oldest first (what the cockpit lets you download)."""
        ...

    async def users(self) -> dict[str, UserRecord]: ...

    async def put_user(self, user: UserRecord) -> None: ...

    async def drop_user(self, name: str) -> bool: ...

    def publishing(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while one publish runs, on every node; raises LedgerBusy after a while."""
        ...


def cockpit_folder(config: Path) -> Path:
    """``campaigns.yaml`` -> ``campaigns.cockpit/`` beside it."""
    return config.with_name(f"{config.stem}.cockpit")


def users_file(config: Path) -> Path:
    """``campaigns.yaml`` -> ``campaigns.users.json`` beside it."""
    return config.with_name(f"{config.stem}.users.json")


def open_ledger(store: ProfileStore, config: Path) -> Ledger:
    """Redis keys for a Redis store; files beside the campaign file for any other."""
    from opmaat.redis_store import RedisStore

    if isinstance(store, RedisStore):
        from opmaat_edge.cockpit.ledger_redis import RedisLedger

        return RedisLedger(store.client, store.prefix)
    from opmaat_edge.cockpit.ledger_files import FileLedger

    return FileLedger(cockpit_folder(config), users_file(config))
