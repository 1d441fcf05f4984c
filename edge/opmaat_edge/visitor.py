"""Reading and writing the visitor cookie on the edge's HTTP responses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from opmaat.identity import COOKIE_NAME, CookieCodec, Identity


def read_identity(request: Request, codec: CookieCodec) -> Identity:
    return codec.loads(request.cookies.get(COOKIE_NAME))


def write_cookie(
    response: Response,
    codec: CookieCodec,
    visitor_id: str,
    session_id: str,
    *,
    secure: bool,
    persistent: bool = True,
    domain: str | None = None,
) -> None:
    """The signed visitor cookie; not ``persistent``: a session cookie (session-only consent)."""
    response.set_cookie(
        COOKIE_NAME,
        codec.dumps(visitor_id, session_id),
        max_age=codec.max_age if persistent else None,
        path="/",
        domain=domain,
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, *, secure: bool, domain: str | None = None) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", domain=domain, secure=secure, httponly=True, samesite="lax"
    )
