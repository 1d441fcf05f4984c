"""The edge as a Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from opmaat import compiled
from opmaat.redis_store import RedisStore
from opmaat.sqlite_store import SQLiteStore
from opmaat_edge import (
    api,
    demo_site,
    demo_traffic,
    edge_home,
    logs,
    me,
    privacy_page,
    purl_landing,
    server_api,
)
from opmaat_edge.cockpit import views as cockpit_views
from opmaat_edge.cockpit.views import CockpitAccess
from opmaat_edge.direct import DirectRoutes
from opmaat_edge.guard import Guard
from opmaat_edge.http import error_response
from opmaat_edge.settings import EdgeSettings
from opmaat_edge.state import EdgeState, edge_state

log = logging.getLogger("opmaat.edge")


async def snippet(request: Request) -> Response:
    return edge_state(request).snippet.response(request)


HIDDEN_RELOAD_ERROR = (
    "the campaign file did not load: its message is in the edge's log, and in this answer "
    "from the networks in OPMAAT_METRICS_NETWORKS"
)


async def healthz(request: Request) -> Response:
    state = edge_state(request)
    runtime = state.runtime
    campaigns = runtime.current.campaigns
    store = state.personalizer.store
    client = request.client
    error = runtime.last_error
    if error is not None and not state.metrics.allows(client.host if client else None):
        # The file's text (a template's, a path) is for operators: OPMAAT_METRICS_NETWORKS.
        error = HIDDEN_RELOAD_ERROR
    return JSONResponse(
        {
            "status": "ok" if store.state == "ok" else "degraded",
            "store": {
                "kind": _store_kind(store),
                "state": store.state,
                "errors": store.errors,
            },
            "campaigns": len(campaigns.campaigns),
            "campaigns_version": campaigns.version,
            "build": compiled.build,  # "compiled" (scripts/compile) or "pure"
            "last_reload_error": error,
            "counters": {
                **dataclasses.asdict(state.personalizer.stats),
                **dataclasses.asdict(state.counters),
                "render_errors": runtime.current.engine.render_errors,
                "reloads_ok": runtime.reloads_ok,
                "reloads_failed": runtime.reloads_failed,
            },
        },
        headers={"Cache-Control": "no-store"},
    )


async def metrics(request: Request) -> Response:
    state = edge_state(request)
    client = request.client
    if not state.metrics.allows(client.host if client else None):
        return error_response(
            403, "metrics are only served to the networks in OPMAAT_METRICS_NETWORKS"
        )
    store = state.personalizer.store
    if isinstance(store, SQLiteStore):
        with contextlib.suppress(ConnectionError):  # a store fault: the last figures stay
            state.metrics.store_file(*await store.file_stats())
    body = state.metrics.exposition(store.state)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _store_kind(store: object) -> str:
    if isinstance(store, RedisStore):
        return "redis"
    return "sqlite" if isinstance(store, SQLiteStore) else "memory"


async def readyz(request: Request) -> Response:
    """200 when this node can serve personalized answers: campaigns loaded and the store
    answering (or OPMAAT_READY_WHEN_DEGRADED=1 says a degraded store is fine); else 503."""
    state = edge_state(request)
    store = state.personalizer.store
    problems = []
    try:
        await store.get("readyz-probe")
    except Exception as exc:
        problems.append(f"profile store unreachable ({type(exc).__name__})")
    ready = not problems or state.settings.ready_when_degraded
    return JSONResponse(
        {
            "ready": ready,
            "campaigns": len(state.runtime.current.campaigns.campaigns),
            "campaigns_version": state.runtime.current.campaigns.version,
            "store": store.state if not problems else "unreachable",
            "problems": problems,
        },
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), exc.headers)


class EdgeApp(Starlette):
    """The edge's Starlette app without Starlette's outermost error layer: the guard inside
    it answers every error a route raises (a JSON 500, logged with the request's id), so the
    layer only cost each request two Python calls and a wrapped ``send``. An error in the guard
    itself reaches the server, which answers a plain 500 and logs it."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack.app if isinstance(stack, ServerErrorMiddleware) else stack


def _reload_on_sighup(state: EdgeState) -> None:
    # `kill -HUP` reloads the campaign file at once (it is also watched). Only the main
    # thread of a process can take signals; elsewhere (tests) the file watcher is enough.
    def reload() -> None:
        asyncio.get_running_loop().run_in_executor(None, state.runtime.reload)

    with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


Endpoint = Callable[[Request], Awaitable[Response]]


def _endpoint(handler: Endpoint) -> Endpoint:
    """``handler``, in a Python function when it is not one: Starlette passes a route's
    endpoint a request only when it is a Python function, and a module compiled by
    scripts/compile (opmaat/compiled.py) has builtin functions, which Starlette would call as
    ASGI apps."""
    if inspect.isfunction(handler):
        return handler  # no extra call on the way

    async def endpoint(request: Request) -> Response:
        return await handler(request)

    return endpoint


def create_app(settings: EdgeSettings) -> Starlette:
    """An edge for ``settings``; raises SettingsError or ConfigError when they cannot work."""
    state = EdgeState.create(settings)
    page_view_routes = [
        Route("/v1/decide", _endpoint(server_api.decide_route), methods=["GET", "POST"]),
        Route("/v1/events", _endpoint(server_api.events_route), methods=["POST"]),
    ]
    routes: list[BaseRoute] = [
        Route("/opmaat.js", snippet, methods=["GET", "HEAD"]),
        *page_view_routes,
        Route("/v1/identify", _endpoint(api.identify), methods=["POST"]),
        Route("/p/{token:path}", purl_landing.land, methods=["GET", "HEAD"]),
        Route("/v1/consent", me.post_consent, methods=["POST"]),
        Route("/v1/me", me.get_me, methods=["GET"]),
        Route("/v1/me", me.patch_me, methods=["PATCH"]),
        Route("/v1/me", me.delete_me, methods=["DELETE"]),
        Route("/me", privacy_page.page, methods=["GET"]),
        Route("/me", privacy_page.submit, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    routes += cockpit_views.routes
    if settings.demo:
        routes += demo_site.routes
        routes.append(Route("/ssr", demo_site.to_server_side))
        routes.append(Mount("/ssr", app=demo_site.server_side_app(state.personalizer)))
    else:
        routes.append(Route("/", edge_home.page, methods=["GET", "HEAD"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _reload_on_sighup(state)
        store = state.personalizer.store
        if isinstance(store, RedisStore) and (warning := await store.memory_warning()):
            log.warning("%s", warning)
        if settings.demo:
            await demo_traffic.seed(store, state.runtime.current.engine)
        interval = settings.reload_interval
        tasks = [asyncio.create_task(state.personalizer.maintain(interval))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state.personalizer.store.close()

    app = EdgeApp(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(
                Guard,
                hosts=settings.allowed_hosts,
                allowed=lambda: state.runtime.current.campaigns.site.allowed_origins,
            ),
            Middleware(DirectRoutes, routes=page_view_routes, http_error=_http_error),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    # No trailing-slash redirects: Starlette would build them from the Host header, an
    # absolute Location anyone can point at another site.
    app.router.redirect_slashes = False
    app.state.edge = state
    app.state.cockpit = CockpitAccess.create(
        settings.cockpit_password,
        settings.cockpit_password_hash,
        settings.secret_keys,
        secure=not settings.dev,
    )
    return app


def app_from_env() -> Starlette:
    """The uvicorn factory (``opmaat_edge.app:app_from_env``): settings from OPMAAT_* variables,
    logs as OPMAAT_LOG_FORMAT (json, the default, or text) says."""
    logs.configure(
        os.environ.get("OPMAAT_LOG_FORMAT", "json"),
        access=os.environ.get("OPMAAT_ACCESS_LOG", "") == "1",
    )
    return create_app(EdgeSettings.from_env())
