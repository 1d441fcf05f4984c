"""Logs of the edge: one JSON object a line, each with the id of the request it belongs to.

The request id comes from a sane ``X-Request-Id`` header (so a proxy's id carries through) or is
made here, and is sent back in ``X-Request-Id``. Log lines carry no personal data: no IP, no
cookie, no query string, no visitor id; messages name files, campaigns and counts.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "opmaat_request_id", default=None
)
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("opmaat.access")
log = logging.getLogger("opmaat.edge")
# uvicorn adds color_message (its message with ANSI colour codes) for its own formatter.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            line["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(fmt: str = "json", level: int = logging.INFO, access: bool = False) -> None:
    """Send opmaat's logs (and uvicorn's errors) to stderr, as JSON lines or plain text."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("opmaat", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    access_log.disabled = not access


class RequestIdMiddleware:
    """Gives every request an id (``X-Request-Id``) for its log lines; writes one access log
    line per request when ``opmaat.access`` is enabled (method, route template, status, time);
    answers an unhandled error with a JSON 500 that keeps the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"x-request-id"),
            "",
        )
        rid = incoming if _SANE_ID.fullmatch(incoming) else secrets.token_hex(8)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", rid.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Here, not in Starlette's outer handler, so the line and the answer keep the id.
            log.exception("unhandled error on %s %s", scope["method"], _route(scope))
            if status == 0:
                await send_with_id(
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
                await send_with_id(
                    {"type": "http.response.body", "body": b'{"error": "internal error"}'}
                )
        finally:
            if not access_log.disabled:
                route = _route(scope)
                access_log.info(
                    "%s %s %s",
                    scope["method"],
                    route,
                    status,
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id.reset(token)


def _route(scope: Scope) -> str:
    # The route's template (/product/{product}), never the path a client made up.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(no route)"
