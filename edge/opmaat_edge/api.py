"""The JSON API the snippet and other callers use: decide, events, me."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from opmaat.campaigns.schema import MAX_FREQUENCY
from opmaat.engine import Engine
from opmaat.identity import Identity
from opmaat.profile import RequestFacts, build_profile
from opmaat.store import Record
from opmaat.visits import as_count, record_pageview
from opmaat_edge.http import NO_STORE, ApiError, read_json_object
from opmaat_edge.state import EdgeState, edge_state
from opmaat_edge.visitor import read_identity, write_cookie

log = logging.getLogger("opmaat.edge")

MAX_SLOTS = 20
_SLOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
EVENT_TYPES = ("impression", "click", "goal")
_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _text(value: Any, limit: int = 2048) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _slots(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise ApiError(400, "slots must be a list of slot names")
    if len(value) > MAX_SLOTS:
        raise ApiError(400, f"at most {MAX_SLOTS} slots per request")
    names = []
    for name in value:
        if not isinstance(name, str) or not _SLOT_NAME.fullmatch(name):
            raise ApiError(400, "slot names are 1-64 letters, digits, '-' or '_'")
        if name not in names:
            names.append(name)
    return names


async def _request_body(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        q = request.query_params
        return {"slots": q.get("slots", ""), "url": q.get("url"), "referrer": q.get("referrer")}
    return await read_json_object(request)


class Visit:
    """One request's visitor: identity, stored record and the profile the engine reads."""

    def __init__(self, state: EdgeState, request: Request, ident: Identity) -> None:
        self.state = state
        self.request = request
        self.ident = ident
        self.record: Record = {}

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
        if not self.ident.fresh:
            self.record = await self.state.store.get(self.ident.visitor_id) or {}

    async def save(self) -> None:
        await self.state.store.put(self.ident.visitor_id, self.record)

    def session_id(self) -> str:
        session = self.record.get("session")
        sid = session.get("id") if isinstance(session, dict) else None
        return sid if isinstance(sid, str) else self.ident.session_id

    def profile(self, context: dict[str, Any]) -> dict[str, Any]:
        session = self.record.get("session")
        if isinstance(session, dict):
            # referrer.* and utm.* describe how the visitor arrived in this session.
            for key in ("referrer", "utm"):
                if isinstance(session.get(key), dict):
                    context = {**context, key: session[key]}
        visitor_id = self.ident.visitor_id if self.record else None
        return build_profile(context, self.record, visitor_id=visitor_id, consent_tier="full")

    def respond(self, payload: Any) -> Response:
        response = JSONResponse(payload, headers=NO_STORE)
        write_cookie(
            response,
            self.state.codec,
            self.ident.visitor_id,
            self.session_id(),
            secure=not self.state.settings.dev,
        )
        return response


async def _visit(request: Request) -> Visit:
    state = edge_state(request)
    ident = read_identity(request, state.codec)
    if ident.rejected:
        state.counters.rejected_cookies += 1
    visit = Visit(state, request, ident)
    await visit.load()
    return visit


async def decide(request: Request) -> Response:
    body = await _request_body(request)
    slots = _slots(body.get("slots", []))
    url, referrer = _text(body.get("url")), _text(body.get("referrer"))
    visit = await _visit(request)
    state = visit.state
    runtime = state.runtime.current
    site = runtime.campaigns.site
    facts = visit.facts(url, referrer, body.get("page"))
    context = runtime.context.build(facts)
    visit.record, new_session = record_pageview(
        visit.record,
        now=facts.now.timestamp(),
        page_url=url,
        page_path=context["page"].get("path"),
        utm_campaign=context["utm"].get("campaign"),
        timeout_seconds=site.session_timeout_minutes * 60,
    )
    if new_session:
        visit.record["session"]["referrer"] = context["referrer"]
        visit.record["session"]["utm"] = context["utm"]
    profile = visit.profile(context)
    try:
        decisions = runtime.engine.decide(profile, slots, now=facts.now)
    except Exception:
        # The visitor still gets the page: every slot keeps its default content.
        state.counters.decide_errors += 1
        log.exception("decide failed; answering with default content")
        decisions = {}
    state.counters.decisions += 1
    await visit.save()
    return visit.respond(
        {"slots": {name: decision.as_dict() for name, decision in decisions.items()}}
    )


def _response_entry(record: Record, campaign: str) -> dict[str, Any]:
    responses = record.get("response")
    if not isinstance(responses, dict):
        responses = record["response"] = {}
    entry = responses.get(campaign)
    if not isinstance(entry, dict):
        entry = responses[campaign] = {"impressions": 0, "clicks": 0, "conversions": 0}
    return entry


def _record_goal(record: Record, engine: Engine, name: Any) -> None:
    if not isinstance(name, str) or not _EVENT_NAME.fullmatch(name):
        raise ApiError(400, "goal name must be 1-64 lower-case letters, digits or '_'")
    responses = record.get("response")
    if not isinstance(responses, dict):
        return
    for campaign in engine.campaigns.campaigns:
        if campaign.goal == name and isinstance(responses.get(campaign.id), dict):
            entry = _response_entry(record, campaign.id)
            entry["conversions"] = as_count(entry.get("conversions")) + 1


def _record_response(record: Record, engine: Engine, kind: str, campaign_id: Any) -> None:
    campaign = engine.campaign(campaign_id) if isinstance(campaign_id, str) else None
    if campaign is None:
        raise ApiError(400, "unknown campaign")
    entry = _response_entry(record, campaign.id)
    if kind == "impression":
        entry["impressions"] = as_count(entry.get("impressions")) + 1
        seen = entry.get("seen")
        entry["seen"] = [*(seen if isinstance(seen, list) else []), int(time.time())][
            -MAX_FREQUENCY:
        ]
    else:
        entry["clicks"] = as_count(entry.get("clicks")) + 1
        if campaign.goal == "click":
            entry["conversions"] = as_count(entry.get("conversions")) + 1


async def events(request: Request) -> Response:
    body = await read_json_object(request)
    kind = body.get("type")
    if kind not in EVENT_TYPES:
        raise ApiError(400, f"event type must be one of {', '.join(EVENT_TYPES)}")
    visit = await _visit(request)
    if visit.ident.fresh:
        # A goal on a page without slots can be a visitor's first request: open the visit.
        visit.record, _ = record_pageview(
            None,
            now=time.time(),
            page_url=_text(body.get("url")),
            page_path=None,
            utm_campaign=None,
            count=False,
        )
    engine = visit.state.runtime.current.engine
    if kind == "goal":
        _record_goal(visit.record, engine, body.get("name"))
    else:
        _record_response(visit.record, engine, kind, body.get("campaign"))
    visit.state.counters.events += 1
    await visit.save()
    return visit.respond({"ok": True})


async def me(request: Request) -> Response:
    visit = await _visit(request)
    runtime = visit.state.runtime.current
    context = runtime.context.build(visit.facts(None, None, None))
    if visit.ident.fresh:
        return JSONResponse(visit.profile(context), headers=NO_STORE)
    return visit.respond(visit.profile(context))
