"""The routes every page view calls, answered without Starlette's router.

A decide or an event passes through Starlette's exception layer, a walk of the route list with a
regular expression per route, the request-response wrapper and its exception handling: about a
sixth of a decide request's instructions for what is, for these routes, one dict lookup and one
``try``. ``DirectRoutes`` sits just inside the guard and answers the routes it is given (exact
path and method; a path under a ``root_path`` or any other method goes on to the router, which
answers it as before) with what the router would: the same endpoint, the same scope keys
(``route``, ``endpoint``, ``path_params``) and the app's own handler for an ``HTTPException``.
Anything else raised goes up to the guard, which answers 500 and logs it, as for every route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class DirectRoutes:
    """Answers ``routes`` (their methods but HEAD) itself; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, *, routes: Iterable[Route], http_error: ErrorHandler) -> None:
        self.app = app
        self.http_error = http_error
        self.routes: dict[tuple[str, str], Route] = {
            (method, route.path): route
            for route in routes
            for method in sorted(route.methods or ())
            if method != "HEAD"
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get((scope["method"], scope["path"]))
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except HTTPException as exc:
            response = await self.http_error(request, exc)
        await response(scope, receive, send)
