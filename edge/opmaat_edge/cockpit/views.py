"""The cockpit's pages: login, the campaign list with live numbers, pause/resume, preview.

Every route but the login form answers only to a signed session cookie whose session the
profile store still keeps (``/cockpit`` sends the browser to the login form, anything else gets
a 401; a store that cannot be reached gets a 503); every form that changes something carries a
CSRF token bound to the session; wrong passwords are throttled per address and for the whole
site. With no password configured the cockpit is off (404).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from opmaat.campaigns.model import CHANNELS
from opmaat.campaigns.site_data import local_path
from opmaat.profile import RequestFacts
from opmaat.store import ProfileStore
from opmaat_edge import demo_traffic
from opmaat_edge.cockpit import live_sessions
from opmaat_edge.cockpit.auth import LoginThrottle, Passwords, Sessions
from opmaat_edge.cockpit.campaign_list import campaign_rows
from opmaat_edge.cockpit.preview import (
    DEVICES,
    PREVIEW_COOKIE,
    PREVIEW_SECONDS,
    PreviewError,
    PreviewVisitor,
    parse_preview,
    preview_cookie,
    preview_decisions,
)
from opmaat_edge.cockpit.report import (
    percent,
)
from opmaat_edge.demo_site import catalog
from opmaat_edge.http import ApiError, read_form
from opmaat_edge.resources import TEMPLATES
from opmaat_edge.state import EdgeState, edge_state

log = logging.getLogger("opmaat.cockpit")
templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters["percent"] = percent

SESSION_COOKIE = "opmaat_cockpit"
LOGIN_COOKIE = "opmaat_cockpit_login"
CHART_DAYS = 14
SESSION_SECONDS = 8 * 3600
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


@dataclass
class CockpitAccess:
    """Who may use the cockpit: the password(s), sessions and the failed-login throttle."""

    passwords: Passwords | None
    sessions: Sessions
    throttle: LoginThrottle
    secure: bool

    async def session(self, store: ProfileStore, cookie: str | None) -> str | None:
        """The live session the cookie names, or None; store errors propagate."""
        found = self.sessions.check(cookie)
        if found is None or not await live_sessions.is_live(store, found):
            return None
        return found

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


def _access(request: Request) -> CockpitAccess:
    access: CockpitAccess = request.app.state.cockpit
    return access


def _store(request: Request) -> ProfileStore:
    return edge_state(request).personalizer.store


def _address(request: Request) -> str:
    state = edge_state(request)
    client = request.client
    facts = RequestFacts(peer=client.host if client else None, headers=request.headers)
    return state.runtime.current.context.client_ip(facts) or "-"


def _page(
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


def _cookie(
    response: Response, access: CockpitAccess, name: str, value: str | None, max_age: int
) -> None:
    if value is None:
        response.delete_cookie(name, path="/cockpit", secure=access.secure, httponly=True)
        return
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/cockpit",
        secure=access.secure,
        httponly=True,
        samesite="strict",
    )


Handler = Callable[[Request, str], Awaitable[Response]]


def _guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A cockpit route that needs a login: the handler gets the session id."""

    async def route(request: Request) -> Response:
        access = _access(request)
        if access.passwords is None:
            return _off(request)
        try:
            session = await access.session(_store(request), request.cookies.get(SESSION_COOKIE))
        except Exception as exc:
            return _unavailable(request, "check a session", exc)
        if session is None:
            if request.method == "GET" and request.url.path == "/cockpit":
                return RedirectResponse("/cockpit/login", status_code=303)
            return _page(request, "denied.html", {}, status=401)
        if request.method == "POST":
            try:
                form = await read_form(request)
            except ApiError:
                form = {}  # not a form of ours: no token either
            token = (form.get("csrf") or [""])[0]
            if not access.sessions.check_csrf(session, token):
                return _page(request, "denied.html", {"csrf": True}, status=403)
        return await handler(request, session)

    return route


def _off(request: Request) -> Response:
    return _page(request, "off.html", {}, status=404)


def _unavailable(request: Request, doing: str, exc: Exception) -> Response:
    # Sessions live in the store: without it nobody is let in, and nothing is half done.
    log.error("cockpit: could not %s, the store failed: %s", doing, exc)
    return _page(
        request,
        "unavailable.html",
        {"retry": STORE_RETRY_SECONDS},
        status=503,
        headers={"Retry-After": str(STORE_RETRY_SECONDS)},
    )


async def login_form(request: Request) -> Response:
    access = _access(request)
    if access.passwords is None:
        return _off(request)
    return _login_page(request, access)


def _login_page(
    request: Request, access: CockpitAccess, error: str | None = None, status: int = 200
) -> Response:
    nonce = access.sessions.login_nonce()
    response = _page(
        request,
        "login.html",
        {"token": access.sessions.login_token(nonce), "error": error},
        status=status,
    )
    _cookie(response, access, LOGIN_COOKIE, nonce, 3600)
    return response


async def login(request: Request) -> Response:
    access = _access(request)
    if access.passwords is None:
        return _off(request)
    passwords = access.passwords
    form = await read_form(request)
    # Only a password typed into our form is an attempt: anything else is refused without
    # counting, so posts from nowhere cannot hold up the people who know the password.
    token = (form.get("token") or [""])[0]
    if not access.sessions.check_login_token(request.cookies.get(LOGIN_COOKIE), token):
        return _login_page(
            request, access, "This form has expired. Please log in again.", status=403
        )
    password = (form.get("password") or [""])[0]
    if not password:
        return _login_page(request, access, "Please type the password.", status=400)
    address = _address(request)
    # Nothing awaits between the check and counting the attempt as failed (cleared below
    # when it succeeds): many logins sent at once cannot all pass the throttle.
    wait = access.throttle.wait(address)
    if wait is not None:
        return _throttled(request, max(1, math.ceil(wait)))
    access.throttle.failed(address)
    # scrypt takes tens of milliseconds: not on the event loop that serves the visitors.
    if not await run_in_threadpool(passwords.check, password):
        log.warning("cockpit: failed login from %s", address)
        return _login_page(request, access, "Wrong password.", status=401)
    access.throttle.succeeded(address)
    session, cookie = access.sessions.issue()
    try:
        await live_sessions.begin(_store(request), session, access.sessions.max_age)
    except Exception as exc:
        return _unavailable(request, "keep a new session", exc)
    log.info("cockpit: login from %s", address)
    response = RedirectResponse("/cockpit", status_code=303)
    _cookie(response, access, SESSION_COOKIE, cookie, access.sessions.max_age)
    _cookie(response, access, LOGIN_COOKIE, None, 0)
    return response


def _throttled(request: Request, seconds: int) -> Response:
    return _page(
        request,
        "login.html",
        {
            "token": None,
            "error": f"Too many failed logins. Try again in {seconds} seconds.",
        },
        status=429,
        headers={"Retry-After": str(seconds)},
    )


async def _logout(request: Request, session: str) -> Response:
    try:
        await live_sessions.end(_store(request), session)
    except Exception as exc:
        # The cookie stays, so the logout can be tried again once the store is back.
        return _unavailable(request, "end a session", exc)
    response = RedirectResponse("/cockpit/login", status_code=303)
    _cookie(response, _access(request), SESSION_COOKIE, None, 0)
    return response


async def _campaigns(request: Request, session: str) -> Response:
    state = edge_state(request)
    try:
        rows = await campaign_rows(state.personalizer, CHART_DAYS)
        problem = None
    except Exception:
        log.exception("cockpit: could not read the numbers")
        rows, problem = [], "The numbers could not be read from the store; try again shortly."
    engine = state.runtime.current.engine
    return _page(
        request,
        "campaigns.html",
        {
            "rows": rows,
            # The demo's made-up numbers are marked as such wherever they are shown.
            "seeded": {demo_traffic.CAMPAIGN: demo_traffic.NOTE}
            if state.settings.demo and demo_traffic.seeded(engine)
            else {},
            "problem": problem,
            "csrf": _access(request).sessions.csrf_token(session),
            "done": _done(state, request.query_params),
            "version": state.runtime.current.campaigns.version,
            "store": "shared" if state.shared_store else "memory",
        },
        status=503 if problem else 200,
    )


def _done(state: EdgeState, query: Mapping[str, str]) -> str | None:
    # Only about a campaign of the file: a link cannot put other words on the page.
    engine = state.runtime.current.engine
    for verb in ("paused", "resumed"):
        campaign = engine.campaign(query.get(verb, ""))
        if campaign is not None:
            return f"{campaign.name or campaign.id} ({campaign.id}) {verb}"
    return None


def _pauser(paused: bool) -> Handler:
    async def change(request: Request, session: str) -> Response:
        state = edge_state(request)
        campaign_id = request.path_params["campaign_id"]
        if state.runtime.current.engine.campaign(campaign_id) is None:
            raise ApiError(404, "no such campaign")
        personalizer = state.personalizer
        try:
            await personalizer.store.set_paused(campaign_id, paused)
            # At once on this node; the others follow within their reload interval.
            personalizer.paused = frozenset(await personalizer.store.paused())
        except Exception as exc:
            log.error(
                "cockpit: could not %s %s: %s", "pause" if paused else "resume", campaign_id, exc
            )
            return _page(
                request,
                "denied.html",
                {"problem": f"Nothing changed: the pause could not be kept ({exc})."},
                status=503,
            )
        log.info("cockpit: %s %s", "paused" if paused else "resumed", campaign_id)
        done = urlencode({"paused" if paused else "resumed": campaign_id})
        return RedirectResponse(f"/cockpit?{done}#c-{campaign_id}", status_code=303)

    return change


async def _preview(request: Request, session: str) -> Response:
    state = edge_state(request)
    query = dict(request.query_params)
    channel = query.pop("channel", "web") or "web"
    page = query.pop("page", "/") or "/"
    error = None
    results = None
    visitor = PreviewVisitor()
    if channel not in CHANNELS:
        error = f"channel: one of {', '.join(CHANNELS)}"
    elif not local_path(page):
        error = "page: a path on this site, such as /"
    elif query:
        try:
            visitor = parse_preview(query)
        except PreviewError as exc:
            error = str(exc)
        else:
            if state.settings.demo and visitor.cart_items and not visitor.cart_products:
                # The demo's own products, as its pages would have put in the cart.
                products = [p["name"] for p in catalog().products.values()]
                visitor = replace(visitor, cart_products=", ".join(products[: visitor.cart_items]))
            page_url = str(request.base_url).rstrip("/") + page
            results = preview_decisions(
                state.runtime.current, state.personalizer.paused, visitor, channel, page_url
            )
    return _page(
        request,
        "preview.html",
        {
            "visitor": visitor,
            "channel": channel,
            "channels": CHANNELS,
            "devices": DEVICES,
            "page": page,
            "error": error,
            "results": results,
            "open_query": urlencode({"page": page}) + "&" + visitor.query()
            if results is not None
            else None,
            "demo": state.settings.demo,
            "locations": [place.name for place in state.runtime.current.campaigns.site.locations],
            "csrf": _access(request).sessions.csrf_token(session),
        },
        status=400 if error else 200,
    )


async def _open_preview(request: Request, session: str) -> Response:
    """Set the preview cookie for the visitor in the query and open the page as them."""
    state = edge_state(request)
    query = dict(request.query_params)
    page = query.pop("page", "/") or "/"
    if not local_path(page):
        raise ApiError(400, "page must be a path on this site, such as /")
    try:
        visitor = parse_preview(query)
    except PreviewError as exc:
        raise ApiError(400, str(exc)) from None
    response = RedirectResponse(page, status_code=303)
    response.set_cookie(
        PREVIEW_COOKIE,
        preview_cookie(state.settings.secret_keys, visitor),
        max_age=PREVIEW_SECONDS,
        path="/",
        secure=not state.settings.dev,
        httponly=True,
        samesite="lax",
    )
    return response


async def _stop_preview(request: Request, session: str) -> Response:
    response = RedirectResponse("/cockpit/preview", status_code=303)
    response.delete_cookie(PREVIEW_COOKIE, path="/", secure=not edge_state(request).settings.dev)
    return response


async def _unknown(request: Request, session: str) -> Response:
    return _page(request, "denied.html", {"missing": True}, status=404)


routes: list[BaseRoute] = [
    Route("/cockpit", _guarded(_campaigns), methods=["GET"]),
    Route("/cockpit/login", login_form, methods=["GET"]),
    Route("/cockpit/login", login, methods=["POST"]),
    Route("/cockpit/logout", _guarded(_logout), methods=["POST"]),
    Route("/cockpit/campaigns/{campaign_id}/pause", _guarded(_pauser(True)), methods=["POST"]),
    Route("/cockpit/campaigns/{campaign_id}/resume", _guarded(_pauser(False)), methods=["POST"]),
    Route("/cockpit/preview", _guarded(_preview), methods=["GET"]),
    Route("/cockpit/preview/open", _guarded(_open_preview), methods=["GET"]),
    Route("/cockpit/preview/stop", _guarded(_stop_preview), methods=["GET"]),
    Route("/cockpit/{rest:path}", _guarded(_unknown), methods=["GET", "POST"]),
]
