"""The cockpit's pages: login, the campaign list with live numbers, pause/resume, preview; the
routes of the other rooms (editing, drafts and publishing, versions, audit, users, PURLs)
are gathered here.

Wrong passwords are throttled per address and for the whole site (opmaat_edge.cockpit.auth);
every other page stands behind opmaat_edge.cockpit.access (a session, the CSRF token on every
POST, a role).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from opmaat.campaigns.model import CHANNELS
from opmaat.campaigns.site_data import local_path
from opmaat.profile import RequestFacts
from opmaat_edge import demo_recommendations, demo_traffic
from opmaat_edge.cockpit import (
    draft_views,
    editor_views,
    history_views,
    live_sessions,
    pages,
    purl_views,
    users_views,
)
from opmaat_edge.cockpit.access import (
    DEMO_STAMP,
    SESSION_COOKIE,
    Caller,
    CockpitAccess,
    Handler,
    cockpit_access,
    guarded,
)
from opmaat_edge.cockpit.audit import record_or_log
from opmaat_edge.cockpit.auth import check_password
from opmaat_edge.cockpit.campaign_list import campaign_rows, held_back_counts
from opmaat_edge.cockpit.ledger import LedgerUnavailable, UserRecord
from opmaat_edge.cockpit.preview import (
    DEVICES,
    PREVIEW_COOKIE,
    PREVIEW_SECONDS,
    PreviewError,
    PreviewVisitor,
    live_recommend_for,
    parse_preview,
    preview_cookie,
    preview_decisions,
    preview_profile,
    preview_recommendations,
    unknown_viewed,
)
from opmaat_edge.cockpit.users import SHARED_NAME
from opmaat_edge.demo_site import catalog
from opmaat_edge.http import ApiError, read_form
from opmaat_edge.state import EdgeState, edge_state

__all__ = ["CockpitAccess", "routes"]

log = logging.getLogger("opmaat.cockpit")

LOGIN_COOKIE = "opmaat_cockpit_login"
CHART_DAYS = 14
# Checked when a name has no user, so a wrong name takes as long as a wrong password.
_NOBODY = "scrypt$16384$8$1$b3BtYWF0LW5vLXN1Y2gtdXNlcg$1LRORLxVn5XoCr22E_0hzhj0AfilZHXFvh4ITo_IjAw"


def _address(request: Request) -> str:
    state = edge_state(request)
    client = request.client
    facts = RequestFacts(peer=client.host if client else None, headers=request.headers)
    return state.runtime.current.context.client_ip(facts) or "-"


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


async def login_form(request: Request) -> Response:
    access = cockpit_access(request)
    if not await access.on(request):
        return pages.off(request)
    return _login_page(request, access)


def _login_page(
    request: Request, access: CockpitAccess, error: str | None = None, status: int = 200
) -> Response:
    nonce = access.sessions.login_nonce()
    response = pages.page(
        request,
        "login.html",
        {
            "token": access.sessions.login_token(nonce),
            "error": error,
            "shared": access.passwords is not None,
        },
        status=status,
    )
    _cookie(response, access, LOGIN_COOKIE, nonce, 3600)
    return response


def _check(
    access: CockpitAccess,
    users: Mapping[str, UserRecord],
    name: str,
    password: str,
    demo_user: bool,
) -> live_sessions.Holder | None:
    """Who ``name`` and ``password`` are (scrypt: in a worker thread, not on the event loop)."""
    if name in ("", SHARED_NAME) and access.passwords is not None:
        return live_sessions.Holder() if access.passwords.check(password) else None
    user = users.get(name)
    if user is None and demo_user and access.passwords is not None:
        return live_sessions.Holder(name, DEMO_STAMP) if access.passwords.check(password) else None
    if user is None:
        check_password(password, _NOBODY)
        return None
    return (
        live_sessions.Holder(user.name, user.stamp) if check_password(password, user.hash) else None
    )


async def login(request: Request) -> Response:
    access = cockpit_access(request)
    if not await access.on(request):
        return pages.off(request)
    form = await read_form(request)
    # Only a password typed into our form is an attempt: anything else is refused without
    # counting, so posts from nowhere cannot hold up the people who know the password.
    token = (form.get("token") or [""])[0]
    if not access.sessions.check_login_token(request.cookies.get(LOGIN_COOKIE), token):
        return _login_page(
            request, access, "This form has expired. Please log in again.", status=403
        )
    password = (form.get("password") or [""])[0]
    name = (form.get("user") or [""])[0].strip().lower()[:200]
    if not password:
        return _login_page(request, access, "Please type the password.", status=400)
    if not name and access.passwords is None:
        return _login_page(request, access, "Please type your user name.", status=400)
    try:
        users = await access.users(request) if name not in ("", SHARED_NAME) else {}
    except LedgerUnavailable as exc:
        return pages.unavailable(request, "read the users", exc)
    address = _address(request)
    # Nothing awaits between the check and counting the attempt as failed (cleared below
    # when it succeeds): many logins sent at once cannot all pass the throttle.
    wait = access.throttle.wait(address)
    if wait is not None:
        return _throttled(request, max(1, math.ceil(wait)))
    access.throttle.failed(address)
    demo_user = access.demo_user(request, name)
    holder = await run_in_threadpool(_check, access, users, name, password, demo_user)
    if holder is None:
        log.warning("cockpit: failed login from %s", address)
        wrong = "Wrong user name or password." if name else "Wrong password."
        return _login_page(request, access, wrong, status=401)
    access.throttle.succeeded(address)
    session, cookie = access.sessions.issue()
    try:
        await live_sessions.begin(
            edge_state(request).personalizer.store, session, access.sessions.max_age, holder
        )
    except Exception as exc:
        return pages.unavailable(request, "keep a new session", exc)
    who = holder.user or f"{SHARED_NAME} (shared password)"
    log.info("cockpit: login of %s from %s", who, address)
    await record_or_log(
        access.ledger(request),
        who,
        "login",
        holder.user or SHARED_NAME,
        f"logged in from {address}",
    )
    response = RedirectResponse("/cockpit", status_code=303)
    _cookie(response, access, SESSION_COOKIE, cookie, access.sessions.max_age)
    _cookie(response, access, LOGIN_COOKIE, None, 0)
    return response


def _throttled(request: Request, seconds: int) -> Response:
    return pages.page(
        request,
        "login.html",
        {
            "token": None,
            "error": f"Too many failed logins. Try again in {seconds} seconds.",
        },
        status=429,
        headers={"Retry-After": str(seconds)},
    )


async def _logout(request: Request, caller: Caller) -> Response:
    try:
        await live_sessions.end(edge_state(request).personalizer.store, caller.session)
    except Exception as exc:
        # The cookie stays, so the logout can be tried again once the store is back.
        return pages.unavailable(request, "end a session", exc)
    await record_or_log(caller.ledger, caller.who.shown, "logout", caller.who.name, "logged out")
    response = RedirectResponse("/cockpit/login", status_code=303)
    _cookie(response, cockpit_access(request), SESSION_COOKIE, None, 0)
    return response


async def _campaigns(request: Request, caller: Caller) -> Response:
    state = edge_state(request)
    try:
        rows = await campaign_rows(state.personalizer, CHART_DAYS)
        held_back = await held_back_counts(state.personalizer.store)
        problem = None
    except Exception:
        log.exception("cockpit: could not read the numbers")
        rows, held_back = [], {}
        problem = "The numbers could not be read from the store; try again shortly."
    drafts = {d.campaign: d for d in await caller.ledger.drafts()}
    engine = state.runtime.current.engine
    return pages.page(
        request,
        "campaigns.html",
        {
            "rows": rows,
            # The demo's made-up numbers are marked as such wherever they are shown.
            "seeded": {demo_traffic.CAMPAIGN: demo_traffic.NOTE}
            if state.settings.demo and demo_traffic.seeded(engine)
            else {},
            "problem": problem,
            "csrf": caller.csrf,
            "who": caller.who,
            "drafts": drafts,
            "new_drafts": [d for d in drafts.values() if d.kind == "new"],
            "done": _done(state, request.query_params),
            "version": state.runtime.current.campaigns.version,
            "store": "shared" if state.shared_store else "memory",
            # Crawlers given the standard content since this process started, and decisions
            # the visitors' own channel choices held back (per channel, on every node).
            "left_out": {"bots": state.personalizer.stats.bots, "held_back": held_back},
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
    verb = "pause" if paused else "resume"

    async def change(request: Request, caller: Caller) -> Response:
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
            log.error("cockpit: could not %s %s: %s", verb, campaign_id, exc)
            return pages.refused(
                request, {"problem": f"Nothing changed: the pause could not be kept ({exc})."}, 503
            )
        done = "paused" if paused else "resumed"
        log.info("cockpit: %s %s", done, campaign_id)
        await record_or_log(
            caller.ledger, caller.who.shown, verb, campaign_id, f"{done} {campaign_id}"
        )
        query = urlencode({done: campaign_id})
        return RedirectResponse(f"/cockpit?{query}#c-{campaign_id}", status_code=303)

    return change


async def _preview(request: Request, caller: Caller) -> Response:
    state = edge_state(request)
    query = dict(request.query_params)
    channel = query.pop("channel", "web") or "web"
    page = query.pop("page", "/") or "/"
    error = None
    results = None
    recommended: list[dict[str, Any]] = []
    visitor = PreviewVisitor()
    if state.settings.demo:  # the shop's made-up history, as its pages would have seeded it
        await demo_recommendations.seed_once(state.personalizer)
    runtime = state.runtime.current
    live = state.personalizer.recommender
    recommender = live.current(runtime.campaigns)
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
            error = unknown_viewed(visitor, recommender)
        if error is None:
            if state.settings.demo and visitor.cart_items and not visitor.cart_products:
                # The demo's own products, as its pages would have put in the cart.
                products = [p["name"] for p in catalog().products.values()]
                visitor = replace(visitor, cart_products=", ".join(products[: visitor.cart_items]))
            page_url = str(request.base_url).rstrip("/") + page
            profile = preview_profile(runtime, visitor, page_url)
            results = preview_decisions(
                runtime,
                state.personalizer.paused,
                visitor,
                channel,
                page_url,
                live_recommend_for(live, runtime.campaigns),
                profile,
            )
            recommended = preview_recommendations(recommender, profile)
    return pages.page(
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
            "recommended": recommended,
            "open_query": urlencode({"page": page}) + "&" + visitor.query()
            if results is not None
            else None,
            "demo": state.settings.demo,
            "locations": [place.name for place in state.runtime.current.campaigns.site.locations],
            "csrf": caller.csrf,
            "who": caller.who,
        },
        status=400 if error else 200,
    )


async def _open_preview(request: Request, caller: Caller) -> Response:
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


async def _stop_preview(request: Request, caller: Caller) -> Response:
    response = RedirectResponse("/cockpit/preview", status_code=303)
    response.delete_cookie(PREVIEW_COOKIE, path="/", secure=not edge_state(request).settings.dev)
    return response


async def _unknown(request: Request, caller: Caller) -> Response:
    return pages.refused(request, {"missing": True}, 404)


routes: list[BaseRoute] = [
    Route("/cockpit", guarded(_campaigns), methods=["GET"]),
    Route("/cockpit/login", login_form, methods=["GET"]),
    Route("/cockpit/login", login, methods=["POST"]),
    Route("/cockpit/logout", guarded(_logout), methods=["POST"]),
    Route(
        "/cockpit/campaigns/{campaign_id}/pause",
        guarded(_pauser(True), "publisher"),
        methods=["POST"],
    ),
    Route(
        "/cockpit/campaigns/{campaign_id}/resume",
        guarded(_pauser(False), "publisher"),
        methods=["POST"],
    ),
    Route("/cockpit/preview", guarded(_preview), methods=["GET"]),
    Route("/cockpit/preview/open", guarded(_open_preview), methods=["GET"]),
    Route("/cockpit/preview/stop", guarded(_stop_preview), methods=["GET"]),
    *editor_views.routes,
    *draft_views.routes,
    *history_views.routes,
    *users_views.routes,
    *purl_views.routes,
    Route("/cockpit/{rest:path}", guarded(_unknown), methods=["GET", "POST"]),
]
