"""What every answer of the edge carries against abuse: security headers on HTML, CORS for the
site's own origins only, and a per-visitor limit on events.

``SecurityHeaders`` gives each request a CSP nonce (``request.state.csp_nonce``) that the
edge's own pages put on their inline scripts; an HTML answer without its own
Content-Security-Policy gets the default one, which allows no other inline script. The nonce
is drawn when first asked for, so a JSON answer costs no random bytes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opmaat.limits import RateLimit as RateLimit
from opmaat.limits import address_key as address_key

CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_PREFIX = "/v1/"
CORS_METHODS = b"GET, POST, PATCH, DELETE"
CORS_MAX_AGE = b"600"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class _State(dict[str, Any]):
    # A request's state (scope["state"]) whose CSP nonce is drawn when first read.
    def __missing__(self, key: str) -> Any:
        if key != NONCE:
            raise KeyError(key)
        nonce = self[key] = secrets.token_urlsafe(16)
        return nonce


NONCE = "csp_nonce"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_REFERRER_POLICY = (b"referrer-policy", b"strict-origin-when-cross-origin")


class SecurityHeaders:
    """``X-Content-Type-Options: nosniff`` on every answer; on HTML ones, unless the route set
    its own, a Content-Security-Policy with this request's nonce, ``frame-ancestors 'none'``
    and a Referrer-Policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["state"] = _State(scope.get("state") or ())

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {key.lower(): value for key, value in reversed(headers)}  # first wins
                if b"x-content-type-options" not in names:
                    headers.append(_NOSNIFF)
                if names.get(b"content-type", b"").lower().startswith(b"text/html"):
                    if b"content-security-policy" not in names:
                        policy = CSP.format(nonce=state[NONCE]).encode("latin-1")
                        headers.append((b"content-security-policy", policy))
                    if b"referrer-policy" not in names:
                        headers.append(_REFERRER_POLICY)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_guarded)


class Cors:
    """CORS for the JSON API (``/v1/``), only for ``allowed()`` origins (the campaign file's
    ``site.allowed_origins``, read per request so a reload takes effect), with credentials:
    the site's pages on another origin may call the edge with the visitor's cookie; no other
    site may read an answer. A preflight from another origin is refused with 403."""

    def __init__(self, app: ASGIApp, allowed: Callable[[], tuple[str, ...]]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        permitted = origin is not None and origin.lower().rstrip("/") in self.allowed()
        if scope["method"] == "OPTIONS" and origin is not None:
            await self._preflight(send, origin if permitted else None)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"vary", b"Origin")]
                if permitted and origin is not None:
                    headers += [
                        (b"access-control-allow-origin", origin.encode("latin-1")),
                        (b"access-control-allow-credentials", b"true"),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(send: Send, origin: str | None) -> None:
        if origin is None:
            body = b'{"error": "this origin may not call the API"}'
            headers = [
                (b"content-type", b"application/json"),
                (b"vary", b"Origin"),
                (b"x-content-type-options", b"nosniff"),
            ]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", CORS_METHODS),
            (b"access-control-allow-headers", b"content-type"),
            (b"access-control-max-age", CORS_MAX_AGE),
            (b"vary", b"Origin"),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def host_name(header: str) -> str:
    """The name of a ``Host`` header without its port, lower-case (``[::1]`` keeps brackets)."""
    host = header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostAllowList:
    """Answers only requests whose ``Host`` is one of ``hosts`` (OPMAAT_ALLOWED_HOSTS; empty:
    any). A page on another site that points its own name at 127.0.0.1 (DNS rebinding) then
    cannot read a local edge, its demo cockpit or its visitors' data: it gets a 421."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...]) -> None:
        self.app = app
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.hosts:
            await self.app(scope, receive, send)
            return
        if host_name(_header(scope, b"host") or "") in self.hosts:
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b'{"error": "this edge does not answer for that host name (OPMAAT_ALLOWED_HOSTS)"}'
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": 421, "headers": headers})
        await send({"type": "http.response.body", "body": body})
