"""Which cockpit sessions are live, and whose they are, kept in the profile store.

The session cookie only carries a signed random id; a session is live while the store keeps it
(for the session's length, or until the logout deletes it). With Redis, a logout reaches every
node at once and outlives restarts; with the memory store, a restart ends every session. The
store keeps a hash of the id, so what it holds is no cookie, and with it who logged in: a user's
name and the stamp of their password (a new password ends the sessions begun before), or the
shared password. Store errors reach the caller, which must refuse (a session that cannot be
checked is not a session).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from opmaat.store import ProfileStore

NAME = "cockpit-session:"
# What sessions begun before there were users hold: the shared password's.
_SHARED = "live"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who a session is for: ``user`` with their password's ``stamp``, or the shared
    password (``user`` None)."""

    user: str | None = None
    stamp: str = ""


def _name(session_id: str) -> str:
    return NAME + hashlib.sha256(session_id.encode("ascii")).hexdigest()


async def begin(store: ProfileStore, session_id: str, seconds: int, holder: Holder) -> None:
    value = _SHARED
    if holder.user is not None:
        value = orjson.dumps({"user": holder.user, "stamp": holder.stamp}).decode()
    await store.put_expiring(_name(session_id), value, seconds)


async def holder(store: ProfileStore, session_id: str) -> Holder | None:
    """Whose the live session is; None when it is not live (or what is kept is not ours)."""
    value = await store.get_expiring(_name(session_id))
    if value is None:
        return None
    if value == _SHARED:
        return Holder()
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    user, stamp = data.get("user"), data.get("stamp")
    if not isinstance(user, str) or not isinstance(stamp, str):
        return None
    return Holder(user, stamp)


async def end(store: ProfileStore, session_id: str) -> None:
    await store.delete_expiring(_name(session_id))
