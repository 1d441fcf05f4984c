"""How every cockpit page is answered: the templates, the security headers and the pages
that say no (off, not logged in, not allowed, the store is away)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from opmaat_edge.cockpit.report import percent
from opmaat_edge.resources import TEMPLATES

log = logging.getLogger("opmaat.cockpit")
templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters["percent"] = percent
templates.env.filters["when"] = lambda at: (
    datetime.fromtimestamp(float(at), UTC).strftime("%d %b %Y %H:%M UTC") if at else ""
)
STORE_RETRY_SECONDS = 30
PAGE_SECURITY = {
    "Cache-Control": "private, no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _policy(nonce: str) -> str:
    # Its own script only (the numbers refresh), inline styles, SVG drawn inline.
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "img-src data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


def page(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    nonce = getattr(request.state, "csp_nonce", "")
    return templates.TemplateResponse(
        request,
        f"cockpit/{name}",
        {"nonce": nonce, **context},
        status_code=status,
        headers={**PAGE_SECURITY, "Content-Security-Policy": _policy(nonce), **(headers or {})},
    )


def off(request: Request) -> Response:
    return page(request, "off.html", {}, status=404)


def unavailable(request: Request, doing: str, exc: Exception) -> Response:
    # Sessions live in the store: without it nobody is let in, and nothing is half done.
    log.error("cockpit: could not %s, the store failed: %s", doing, exc)
    return page(
        request,
        "unavailable.html",
        {"retry": STORE_RETRY_SECONDS},
        status=503,
        headers={"Retry-After": str(STORE_RETRY_SECONDS)},
    )


def refused(request: Request, context: Mapping[str, Any], status: int) -> Response:
    """The page that says why not: log in, a form from elsewhere, a role that may not, a
    page that is not there, a change that could not be kept."""
    return page(request, "denied.html", context, status=status)
