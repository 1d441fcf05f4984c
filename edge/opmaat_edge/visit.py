"""One request's visitor on the edge: consent, identity, stored record and profile."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from opmaat.campaigns.model import SiteSettings
from opmaat.consent import CONSENT_COOKIE, Consent, resolve_consent
from opmaat.identity import COOKIE_NAME, Identity
from opmaat.profile import RequestFacts, build_profile
from opmaat.store import Record
from opmaat.visits import record_pageview
from opmaat_edge.http import NO_STORE, ApiError
from opmaat_edge.state import EdgeState, edge_state
from opmaat_edge.visitor import clear_cookie, read_identity, write_cookie

CONSENT_COOKIE_SECONDS = 395 * 86400


class Visit:
    """Who sent this request, what they allow, and what is stored about them.

    With tier ``none`` nothing is read or written: the record stays empty and no identity
    cookie is set. With ``session`` the cookie lives for the browser session and the record
    for the session timeout; with ``full`` both last for the site's retention period.
    """

    def __init__(
        self, state: EdgeState, request: Request, ident: Identity, consent: Consent
    ) -> None:
        self.state = state
        self.request = request
        self.ident = ident
        self.consent = consent
        self.record: Record = {}
        self.forget_cookie = False
        self.consent_choice: str | None = None  # set when this request changes the choice

    @property
    def site(self) -> SiteSettings:
        return self.state.runtime.current.campaigns.site

    @property
    def has_cookie(self) -> bool:
        return COOKIE_NAME in self.request.cookies

    def facts(self, url: str | None, referrer: str | None, page: Any) -> RequestFacts:
        client = self.request.client
        return RequestFacts(
            peer=client.host if client else None,
            headers=self.request.headers,
            page_url=url,
            referrer=referrer,
            page_meta=page if isinstance(page, Mapping) else {},
            now=datetime.now(UTC),
        )

    async def load(self) -> None:
        if self.consent.stores and not self.ident.fresh:
            self.record = await self.state.store.get(self.ident.visitor_id) or {}

    def ttl_seconds(self) -> float:
        site = self.site
        if self.consent.persistent:
            return site.retention_days * 86400.0
        return site.session_timeout_minutes * 60.0

    def open_record(self, page_url: str | None = None) -> None:
        """Start a record for a visitor who has none yet (a request that is not a page view)."""
        if not self.record:
            self.record, _ = record_pageview(
                None,
                now=time.time(),
                page_url=page_url,
                page_path=None,
                utm_campaign=None,
                count=False,
            )

    async def save(self) -> None:
        if self.consent.stores and self.record:
            await self.state.store.put(self.ident.visitor_id, self.record, self.ttl_seconds())

    async def forget(self) -> bool:
        """Delete everything stored about this visitor and drop their cookie."""
        self.record = {}
        self.forget_cookie = True
        if self.ident.fresh:
            return False
        return await self.state.store.delete(self.ident.visitor_id)

    def session_id(self) -> str:
        session = self.record.get("session")
        sid = session.get("id") if isinstance(session, dict) else None
        return sid if isinstance(sid, str) else self.ident.session_id

    def profile(self, context: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        session = self.record.get("session")
        if isinstance(session, dict):
            # referrer.* and utm.* describe how the visitor arrived in this session.
            for key in ("referrer", "utm"):
                if isinstance(session.get(key), dict):
                    context = {**context, key: session[key]}
        visitor_id = self.ident.visitor_id if self.record else None
        return build_profile(
            context,
            self.record,
            visitor_id=visitor_id,
            consent=self.consent,
            now=now,
            interest_half_life_days=self.site.interest_half_life_days,
        )

    def finish(self, response: Response) -> Response:
        """Set or clear the cookies this visit calls for on ``response``."""
        secure = not self.state.settings.dev
        if self.consent_choice is not None:
            response.set_cookie(
                CONSENT_COOKIE,
                self.consent_choice,
                max_age=CONSENT_COOKIE_SECONDS,
                path="/",
                secure=secure,
                httponly=True,
                samesite="lax",
            )
        if self.forget_cookie or (not self.consent.stores and self.has_cookie and not self.capped):
            clear_cookie(response, secure=secure)
        elif self.consent.stores and self.record:
            write_cookie(
                response,
                self.state.codec,
                self.ident.visitor_id,
                self.session_id(),
                secure=secure,
                persistent=self.consent.persistent,
            )
        return response

    @property
    def capped(self) -> bool:
        # A page whose consent banner is not answered yet says "none"; a cookie set on other
        # pages of the site stays.
        return self.consent.source == "page"

    def respond(self, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        return self.finish(JSONResponse(payload, headers={**NO_STORE, **(headers or {})}))


def refuse_cross_site(request: Request) -> None:
    """Changes to a visitor's data must come from the site itself, not from another site."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise ApiError(403, "this request must come from the site itself")


async def open_visit(request: Request, page_default: Any = None) -> Visit:
    """The visit for ``request``: consent resolved, identity read, record loaded if allowed."""
    state = edge_state(request)
    site = state.runtime.current.campaigns.site
    consent = resolve_consent(
        site.consent_default, request.cookies.get(CONSENT_COOKIE), request.headers, page_default
    )
    ident = read_identity(request, state.codec)
    if ident.rejected:
        state.counters.rejected_cookies += 1
    visit = Visit(state, request, ident, consent)
    await visit.load()
    return visit
