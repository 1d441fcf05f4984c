"""What every answer of the edge carries against abuse: security headers on HTML, CORS for the
site's own origins only, answers only for its own host names, and a per-visitor limit on events.

``Guard`` gives each request a CSP nonce (``request.state.csp_nonce``) that the
edge's own pages put on their inline scripts; an HTML answer without its own
Content-Security-Policy gets the default one, which allows no other inline script. The nonce
is drawn when first asked for, so a JSON answer costs no random bytes.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opmaat.limits import RateLimit as RateLimit
from opmaat.limits import address_key as address_key
from opmaat_edge import logs

CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_PREFIX = "/v1/"
CORS_METHODS = b"GET, POST, PATCH, DELETE"
CORS_MAX_AGE = b"600"


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


def host_name(header: str) -> str:
    """The name of a ``Host`` header without its port, lower-case (``[::1]`` keeps brackets)."""
    host = header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """The edge's one middleware, so a request pays for one layer and one pass over its
    headers each way. Outermost first, as it acts:

    - the host allow-list: answers only requests whose ``Host`` is one of ``hosts``
      (OPMAAT_ALLOWED_HOSTS; empty: any). A page on another site that points its own name at
      127.0.0.1 (DNS rebinding) then cannot read a local edge, its demo cockpit or its
      visitors' data: it gets a 421;
    - CORS for the JSON API (``/v1/``), only for ``allowed()`` origins (the campaign file's
      ``site.allowed_origins``, read per request so a reload takes effect), with credentials:
      the site's pages on another origin may call the edge with the visitor's cookie; no other
      site may read an answer. A preflight from another origin is refused with 403;
    - the request id (``X-Request-Id``, logs.new_request_id) for the request's log lines, one
      access log line per request when ``opmaat.access`` is enabled, and a JSON 500 that keeps
      the id for an unhandled error;
    - ``X-Content-Type-Options: nosniff`` on every answer; on HTML ones, unless the route set
      its own, a Content-Security-Policy with this request's nonce, ``frame-ancestors 'none'``
      and a Referrer-Policy.
    """

    def __init__(
        self, app: ASGIApp, *, hosts: tuple[str, ...], allowed: Callable[[], tuple[str, ...]]
    ) -> None:
        self.app = app
        self.hosts = frozenset(hosts)
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        host = origin = incoming_id = None
        # Names as the server hands them: lower-case (uvicorn, and what Starlette's header
        # look-ups take for granted too).
        for key, value in scope["headers"]:
            if key == b"host":
                host = value if host is None else host
            elif key == b"origin":
                origin = value if origin is None else origin
            elif key == b"x-request-id":
                incoming_id = value if incoming_id is None else incoming_id
        if self.hosts and not self._answers(host):
            await _misdirected(send)
            return
        cors: list[tuple[bytes, bytes]] = []
        if scope["path"].startswith(API_PREFIX):
            cors.append(_VARY_ORIGIN)
            if origin is not None:
                permitted = origin.decode("latin-1").lower().rstrip("/") in self.allowed()
                if scope["method"] == "OPTIONS":
                    await _preflight(send, origin if permitted else None)
                    return
                if permitted:
                    cors += [(b"access-control-allow-origin", origin), _CREDENTIALS]
        rid = logs.new_request_id(incoming_id)
        id_header = (b"x-request-id", rid.encode())
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 0
        state = scope["state"] = _State(scope.get("state") or ())

        async def send_guarded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                names = {key.lower(): value for key, value in headers[::-1]}  # first wins
                if b"x-content-type-options" not in names:
                    headers.append(_NOSNIFF)
                if names.get(b"content-type", b"").lower().startswith(b"text/html"):
                    if b"content-security-policy" not in names:
                        policy = CSP.format(nonce=state[NONCE]).encode("latin-1")
                        headers.append((b"content-security-policy", policy))
                    if b"referrer-policy" not in names:
                        headers.append(_REFERRER_POLICY)
                headers.append(id_header)
                headers += cors
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_guarded)
        except Exception:
            # Here, not in Starlette's outer handler, so the line and the answer keep the id.
            logs.log_unhandled(scope)
            if status == 0:
                await send_guarded(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"cache-control", b"private, no-store"),
                            (b"x-content-type-options", b"nosniff"),
                        ],
                    }
                )
                await send_guarded(
                    {"type": "http.response.body", "body": b'{"error": "internal error"}'}
                )
        finally:
            if logs.access_log.isEnabledFor(logging.INFO):  # no line's makings otherwise
                logs.log_access(scope, status, started)
            logs.request_id.reset(token)

    def _answers(self, host: bytes | None) -> bool:
        return host_name(host.decode("latin-1") if host is not None else "") in self.hosts

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A websocket meets the host allow-list too; lifespan passes straight through.
        if scope["type"] == "websocket" and self.hosts:
            host = next((v for k, v in scope["headers"] if k.lower() == b"host"), None)
            if not self._answers(host):
                await send({"type": "websocket.close", "code": 1008})
                return
        await self.app(scope, receive, send)


_VARY_ORIGIN = (b"vary", b"Origin")
_CREDENTIALS = (b"access-control-allow-credentials", b"true")


async def _preflight(send: Send, origin: bytes | None) -> None:
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
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-allow-methods", CORS_METHODS),
        (b"access-control-allow-headers", b"content-type"),
        (b"access-control-max-age", CORS_MAX_AGE),
        (b"vary", b"Origin"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _misdirected(send: Send) -> None:
    body = b'{"error": "this edge does not answer for that host name (OPMAAT_ALLOWED_HOSTS)"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 421, "headers": headers})
    await send({"type": "http.response.body", "body": body})
