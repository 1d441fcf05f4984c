"""Which cockpit sessions are live, kept in the profile store.

The session cookie only carries a signed random id; a session is live while the store keeps it
(for the session's length, or until the logout deletes it). With Redis, a logout reaches every
node at once and outlives restarts; with the memory store, a restart ends every session. The
store keeps a hash of the id, so what it holds is no cookie. Store errors reach the caller,
which must refuse (a session that cannot be checked is not a session).
"""

from __future__ import annotations

import hashlib

from opmaat.store import ProfileStore

NAME = "cockpit-session:"


def _name(session_id: str) -> str:
    return NAME + hashlib.sha256(session_id.encode("ascii")).hexdigest()


async def begin(store: ProfileStore, session_id: str, seconds: int) -> None:
    await store.put_expiring(_name(session_id), "live", seconds)


async def is_live(store: ProfileStore, session_id: str) -> bool:
    return await store.get_expiring(_name(session_id)) is not None


async def end(store: ProfileStore, session_id: str) -> None:
    await store.delete_expiring(_name(session_id))
