"""One request's visit on the edge: the SDK's Visit, opened from and answered over Starlette."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from opmaat.personalizer import Visit
from opmaat_edge import guard
from opmaat_edge.http import NO_STORE, ApiError, JSONAnswer, header_dict
from opmaat_edge.state import edge_state

NO_COOKIES: Mapping[str, str] = MappingProxyType({})


def refuse_cross_site(request: Request) -> None:
    """Changes to a visitor's data must come from the site itself, not from another site:
    ``Sec-Fetch-Site: cross-site`` is refused, and so is an ``Origin`` that is neither this
    host nor one of ``site.allowed_origins`` (browsers without Sec-Fetch-* still send it)."""
    headers = header_dict(request)
    if headers.get("sec-fetch-site") == "cross-site":
        raise ApiError(403, "this request must come from the site itself")
    origin = headers.get("origin")
    if origin is None:
        return
    site = edge_state(request).runtime.current.campaigns.site
    host = headers.get("host", "").lower()
    parsed = origin.lower().rstrip("/")
    if parsed.split("://", 1)[-1] != host and parsed not in site.allowed_origins:
        raise ApiError(403, "this request must come from the site itself")


async def open_visit(request: Request, page_default: Any = None) -> Visit:
    """The visit for ``request``: consent resolved, identity read, record loaded if allowed."""
    client = request.scope.get("client")  # request.client builds a named tuple
    return await edge_state(request).personalizer.open(
        peer=client[0] if client else None,
        headers=header_dict(request),
        cookies=NO_COOKIES,  # they are read from the headers' Cookie
        page_default=page_default,
    )


def finish(visit: Visit, response: Response) -> Response:
    """Set or clear the cookies this visit calls for on ``response``."""
    for change in visit.cookie_changes():
        response.raw_headers.append((b"set-cookie", change.header().encode("latin-1")))
    return response


def respond(
    visit: Visit, payload: Any, headers: Mapping[str, str] | None = None, status: int = 200
) -> Response:
    merged = {**NO_STORE, **headers} if headers else NO_STORE
    response = JSONAnswer(payload, status_code=status, headers=merged)
    return finish(visit, response)


def address_key(visit: Visit) -> str:
    """The client's address as a rate-limit key (guard.address_key)."""
    return guard.address_key(visit.runtime.context.client_ip(visit.facts(None, None, None)) or "-")


STORE_DOWN = "the profile store cannot be reached right now; nothing was changed there, try again"


def store_down(visit: Visit) -> Response:
    """503 for a change the store must make; the cookies (a new consent choice, a cleared
    identity) still go, so the visitor's choice holds in their browser meanwhile."""
    return respond(visit, {"error": STORE_DOWN}, status=503)
