"""Logs of the edge: one JSON object a line, each with the id of the request it belongs to.

The request id comes from a sane ``X-Request-Id`` header (so a proxy's id carries through) or is
made here, and is sent back in ``X-Request-Id``. Log lines carry no personal data: no IP, no
cookie, no query string, no visitor id; messages name files, campaigns and counts.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

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


def new_request_id(incoming: bytes | None) -> str:
    """The id of a request: its sane ``X-Request-Id`` (a proxy's id carries through), else 64
    random bits in hex. The random module's generator, not a system call per request: it is
    seeded from the system's randomness and seeded again in each forked worker."""
    if incoming is not None:
        text = incoming.decode("latin-1")
        if _SANE_ID.fullmatch(text):
            return text
    return f"{random.getrandbits(64):016x}"


def log_unhandled(scope: Scope) -> None:
    """The log line of an error no route handled (with its traceback)."""
    log.exception("unhandled error on %s %s", scope["method"], _route(scope))


def log_access(scope: Scope, status: int, started: float) -> None:
    """The access log line of an answered request (method, route template, status, time)."""
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


def _route(scope: Scope) -> str:
    # The route's template (/product/{product}), never the path a client made up.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(no route)"
