"""The cockpit's users and what their roles allow.

Roles, each allowing what the one before allows: ``viewer`` reads everything; ``editor`` makes,
saves and discards drafts; ``publisher`` publishes drafts, pauses and resumes campaigns,
restores versions and hands out personal links (PURLs); ``admin`` manages users. The shared
password (``OPMAAT_COCKPIT_PASSWORD`` / ``_HASH``) logs in as the admin named ``admin``.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from opmaat_edge.cockpit.auth import MAX_PASSWORD, MIN_PASSWORD, hash_password
from opmaat_edge.cockpit.ledger import Ledger, UserRecord

ROLES = ("viewer", "editor", "publisher", "admin")
SHARED_NAME = "admin"
USER_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MAX_USERS = 1000


class UserError(ValueError):
    """A user change that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a cockpit session belongs to. ``shared``: logged in with the shared password."""

    name: str
    role: str
    shared: bool = False

    def may(self, role: str) -> bool:
        """Whether this identity's role allows what ``role`` may do."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def shown(self) -> str:
        return f"{self.name} (shared password)" if self.shared else self.name


SHARED_ADMIN = Identity(SHARED_NAME, "admin", shared=True)


def user_name(text: str) -> str:
    """A user name as kept (lower case), or UserError saying what one looks like."""
    name = text.strip().lower()
    if not USER_NAME.fullmatch(name):
        raise UserError(
            "a user name is 1 to 64 of a-z, 0-9, '.', '_', '@' and '-', starting with a "
            "letter or digit"
        )
    if name == SHARED_NAME:
        raise UserError(f"'{SHARED_NAME}' is the shared password's name; choose another")
    return name


def role_name(text: str) -> str:
    if text not in ROLES:
        raise UserError(f"a role is one of {', '.join(ROLES)}")
    return text


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def new_user(name: str, role: str, password: str, by: str) -> UserRecord:
    """A user record with a fresh scrypt hash (tens of milliseconds: not on the event loop)."""
    return UserRecord(
        name=user_name(name),
        role=role_name(role),
        hash=hash_password(check_password(password)),
        stamp=secrets.token_urlsafe(12),
        at=time.time(),
        by=by,
    )


async def add_user(ledger: Ledger, user: UserRecord) -> None:
    users = await ledger.users()
    if user.name in users:
        raise UserError(f"there is already a user named {user.name}")
    if len(users) >= MAX_USERS:
        raise UserError(f"at most {MAX_USERS} users")
    await ledger.put_user(user)


async def change_role(ledger: Ledger, name: str, role: str, by: str) -> UserRecord:
    users = await ledger.users()
    user = users.get(name)
    if user is None:
        raise UserError(f"there is no user named {name}")
    changed = UserRecord(user.name, role_name(role), user.hash, user.stamp, time.time(), by)
    await ledger.put_user(changed)
    return changed


async def change_password(ledger: Ledger, name: str, hashed: str, by: str) -> None:
    """Give ``name`` the password hash ``hashed``: their other sessions end."""
    users = await ledger.users()
    user = users.get(name)
    if user is None:
        raise UserError(f"there is no user named {name}")
    stamp = secrets.token_urlsafe(12)
    await ledger.put_user(UserRecord(user.name, user.role, hashed, stamp, time.time(), by))


async def remove_user(ledger: Ledger, name: str) -> None:
    if not await ledger.drop_user(name):
        raise UserError(f"there is no user named {name}")
