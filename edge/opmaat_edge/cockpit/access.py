"""Who may use the cockpit, and the guard every page but the login form stands behind.

A route answers only to a signed session cookie whose session the profile store still keeps
(``/cockpit`` sends the browser to the login form, anything else gets a 401; a store that
cannot be reached gets a 503). Every POST carries the session's CSRF token (403 without), and
every route names the role it needs (403 for a role below it). The cockpit is off (404) until
a shared password is set or a user exists.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from opmaat.store import ProfileStore
from opmaat_edge.cockpit import live_sessions
from opmaat_edge.cockpit.auth import LoginThrottle, Passwords, Sessions
from opmaat_edge.cockpit.ledger import Ledger, LedgerUnavailable, UserRecord, open_ledger
from opmaat_edge.cockpit.pages import off, refused, unavailable
from opmaat_edge.cockpit.reach import Sampler
from opmaat_edge.cockpit.users import ROLES, SHARED_ADMIN, Identity
from opmaat_edge.http import ApiError, read_body
from opmaat_edge.state import edge_state

SESSION_COOKIE = "opmaat_cockpit"
SESSION_SECONDS = 8 * 3600
USERS_SECONDS = 2.0  # how long a node goes on with the users it read (roles, removals)
FORM_BYTES = 1024 * 1024
MAX_FIELDS = 2000
# In the demo (OPMAAT_DEMO), these log in with the shared password too, to show the roles.
DEMO_USERS = {"editor": "editor", "publisher": "publisher", "viewer": "viewer"}
DEMO_STAMP = "demo"
ROLE_WORDS = {
    "editor": "make or change drafts",
    "publisher": "publish, pause, resume or restore",
    "admin": "manage users",
    "viewer": "read",
}


@dataclass
class CockpitAccess:
    """The shared password(s), sessions, the failed-login throttle, and (made on first use)
    the ledger with the users it keeps."""

    passwords: Passwords | None
    sessions: Sessions
    throttle: LoginThrottle
    secure: bool
    sampler: Sampler = field(default_factory=Sampler)  # recent visitors, for the builder
    _ledger: Ledger | None = None
    _users: tuple[float, dict[str, UserRecord]] | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        plain: str | None,
        hashed: str | None,
        secret_keys: tuple[str, ...],
        *,
        secure: bool,
    ) -> CockpitAccess:
        passwords = Passwords(plain, hashed) if plain or hashed else None
        return cls(passwords, Sessions(secret_keys, SESSION_SECONDS), LoginThrottle(), secure)

    def ledger(self, request: Request) -> Ledger:
        if self._ledger is None:
            state = edge_state(request)
            self._ledger = open_ledger(state.personalizer.store, Path(state.settings.config))
        return self._ledger

    async def users(self, request: Request) -> dict[str, UserRecord]:
        """The users, as read at most ``USERS_SECONDS`` ago; LedgerUnavailable propagates."""
        now = time.monotonic()
        if self._users is None or now - self._users[0] > USERS_SECONDS:
            self._users = (now, await self.ledger(request).users())
        return self._users[1]

    def forget_users(self) -> None:
        """Read the users again next time (this node just changed them)."""
        self._users = None

    async def on(self, request: Request) -> bool:
        """Whether anyone can log in: a shared password, or at least one user."""
        if self.passwords is not None:
            return True
        try:
            return bool(await self.users(request))
        except LedgerUnavailable:
            return False

    async def identity(
        self, request: Request, store: ProfileStore, cookie: str | None
    ) -> Identity | None:
        """Who the cookie's live session is for, or None; store errors propagate."""
        session = self.sessions.check(cookie)
        if session is None:
            return None
        holder = await live_sessions.holder(store, session)
        if holder is None:
            return None
        if holder.user is None:
            return SHARED_ADMIN if self.passwords is not None else None
        user = (await self.users(request)).get(holder.user)
        if user is None and holder.stamp == DEMO_STAMP and self.demo_user(request, holder.user):
            return Identity(holder.user, DEMO_USERS[holder.user])
        if user is None or user.stamp != holder.stamp or user.role not in ROLES:
            return None  # removed, a new password since, or a role the file cannot have
        return Identity(user.name, user.role)

    def demo_user(self, request: Request, name: str) -> bool:
        """Whether ``name`` is one of the demo's users (who log in with the shared password)."""
        return (
            name in DEMO_USERS and self.passwords is not None and edge_state(request).settings.demo
        )


def cockpit_access(request: Request) -> CockpitAccess:
    access: CockpitAccess = request.app.state.cockpit
    return access


@dataclass(frozen=True)
class Caller:
    """A logged-in request: the session, who it is, the form (for a POST), the CSRF token
    the next forms carry, and the ledger."""

    session: str
    who: Identity
    form: dict[str, list[str]]
    csrf: str
    ledger: Ledger

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default


Handler = Callable[[Request, Caller], Awaitable[Response]]


async def _read_form(request: Request, limit: int) -> dict[str, list[str]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}  # not a form of ours: no token either
    body = await read_body(request, limit)
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the form could not be read") from None


def guarded(
    handler: Handler, role: str = "viewer", *, form_bytes: int = FORM_BYTES
) -> Callable[[Request], Awaitable[Response]]:
    """A cockpit route for ``role`` and above; forms up to ``form_bytes``."""

    async def route(request: Request) -> Response:
        access = cockpit_access(request)
        if not await access.on(request):
            return off(request)
        store = edge_state(request).personalizer.store
        cookie = request.cookies.get(SESSION_COOKIE)
        try:
            who = await access.identity(request, store, cookie)
        except Exception as exc:  # the store, or the ledger's users
            return unavailable(request, "check a session", exc)
        session = access.sessions.check(cookie)
        if who is None or session is None:
            if request.method == "GET" and request.url.path == "/cockpit":
                return RedirectResponse("/cockpit/login", status_code=303)
            return refused(request, {}, 401)
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            form = await _read_form(request, form_bytes)
            token = (form.get("csrf") or [""])[0]
            if not access.sessions.check_csrf(session, token):
                return refused(request, {"csrf": True}, 403)
        csrf = access.sessions.csrf_token(session)
        if not who.may(role):
            words = ROLE_WORDS[role]
            return refused(request, {"role": who.role, "needs": role, "words": words}, 403)
        caller = Caller(session, who, form, csrf, access.ledger(request))
        try:
            return await handler(request, caller)
        except (LedgerUnavailable, ConnectionError) as exc:  # the store went away midway
            return unavailable(request, "read or write the cockpit's records", exc)

    return route
