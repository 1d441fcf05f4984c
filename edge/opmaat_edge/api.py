"""The JSON API the snippet and other callers use: decide, events, identify."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from opmaat.decision_tokens import DecisionTokenError, token_visitor
from opmaat.engine import Decision, Engine
from opmaat.history import note_conversion, response_entry
from opmaat.identity import first_cookie
from opmaat.personalizer import Visit, customer_text
from opmaat.store import Record
from opmaat.tracking import EventError, Tally
from opmaat.visits import as_count
from opmaat_edge.cockpit.preview import (
    PREVIEW_COOKIE,
    PreviewVisitor,
    preview_attributes,
    read_preview_cookie,
)
from opmaat_edge.http import NO_STORE, ApiError, JSONAnswer, header_dict, read_json_object
from opmaat_edge.state import EdgeState, edge_state
from opmaat_edge.visit import (
    address_key,
    open_visit,
    refuse_cross_site,
    respond,
)

log = logging.getLogger("opmaat.edge")

MAX_SLOTS = 20
_SLOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
EVENT_TYPES = ("impression", "click", "goal")


def _text(value: Any, limit: int = 2048) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def slot_names(value: Any, most: int = MAX_SLOTS) -> list[str]:
    if isinstance(value, str):
        value = value.split(",", most + 1)
    if not isinstance(value, list):
        raise ApiError(400, "slots must be a list of slot names")
    if len(value) > most:
        raise ApiError(400, f"at most {most} slots per request")
    names = []
    for name in value:
        if not isinstance(name, str) or not _SLOT_NAME.fullmatch(name):
            raise ApiError(400, "slot names are 1-64 letters, digits, '-' or '_'")
        if name not in names:
            names.append(name)
    return names


async def request_body(request: Request) -> dict[str, Any]:
    if request.scope["method"] == "GET":  # request.method is a Python property
        q = request.query_params
        return {
            "slots": q.get("slots", ""),
            "url": q.get("url"),
            "referrer": q.get("referrer"),
            "consent": q.get("consent"),
        }
    return await read_json_object(request)


async def decide(request: Request, body: dict[str, Any]) -> Response:
    slots = slot_names(body.get("slots", []), edge_state(request).settings.max_slots)
    visit = await open_visit(request, body.get("consent"))
    previewed = _preview(request, visit, _text(body.get("url")))
    decisions = await visit.page_view(
        slots,
        url=_text(body.get("url")),
        referrer=_text(body.get("referrer")),
        page=body.get("page"),
    )
    tokens = visit.personalizer.decision_tokens.make(decisions, token_visitor(visit))
    response = respond(
        visit,
        {
            "consent": visit.consent.tier,
            "slots": {name: _answer(d, tokens.get(name)) for name, d in decisions.items()},
            **({"preview": previewed.words()} if previewed is not None else {}),
        },
    )
    visit.release()
    return response


def _answer(decision: Decision, token: str | None) -> dict[str, Any]:
    out = decision.as_dict()
    out["token"] = token
    return out


def _preview(request: Request, visit: Visit, url: str | None) -> PreviewVisitor | None:
    """A cockpit user previewing as a visitor (a signed cookie): decide as that visitor,
    keeping and counting nothing, and leaving the browser's own cookie alone."""
    state = edge_state(request)
    sent = first_cookie(header_dict(request).get("cookie"), PREVIEW_COOKIE)
    if not sent:
        return None  # a visitor's page view: no call into the cockpit's (plain Python) code
    found = read_preview_cookie(state.settings.secret_keys, sent)
    if found is None:
        return None
    runtime = visit.runtime
    visit.record = {}
    visit.consent = dataclasses.replace(visit.consent, tier="none")
    visit.keep_cookie = True
    visit.preview = preview_attributes(
        found, page_url=url, site_hosts=runtime.context.site_hosts, nearby=runtime.context.nearby
    )
    return found


def _record_response(
    record: Record, engine: Engine, kind: str, campaign_id: Any, variant: Any
) -> list[Tally]:
    campaign = engine.campaign(campaign_id) if isinstance(campaign_id, str) else None
    if campaign is None:
        raise ApiError(400, "unknown campaign")
    keys = [v.key for v in campaign.variants]
    if variant is not None and variant not in keys:
        raise ApiError(400, f"campaign {campaign.id!r} has no variant {str(variant)[:40]!r}")
    entry = response_entry(record, campaign.id)
    if variant is not None:
        entry["variant"] = variant  # what a later goal is counted for
    tallies: list[Tally] = []
    if kind == "impression":
        entry["impressions"] = as_count(entry.get("impressions")) + 1
        if campaign.frequency is not None:
            # Only a capped campaign needs the times, and only its last `max` of them.
            seen = entry.get("seen")
            seen = seen if isinstance(seen, list) else []
            entry["seen"] = [*seen, int(time.time())][-campaign.frequency.max :]
        else:
            entry.pop("seen", None)
        tallies.append((campaign.id, variant, "impressions"))
    else:
        entry["clicks"] = as_count(entry.get("clicks")) + 1
        tallies.append((campaign.id, variant, "clicks"))
        if campaign.goal == "click":
            tallies.extend(note_conversion(entry, campaign.id))
    return tallies


def event_tallies(
    visit: Visit,
    kind: str,
    campaign: Any,
    variant: Any,
    *,
    stores: bool,
    kinds: tuple[str, ...] | None = None,
) -> list[Tally]:
    """Note an impression or click (or ``kinds``, the responses it counts: a first click may
    count its impression too) in the visit's record (when it ``stores``); the tallies to count.
    Raises ApiError for an unknown campaign or variant, changing nothing."""
    engine = visit.runtime.engine
    tallies: list[Tally] = []

    def record_event(record: Record) -> Record:
        # The tallies of the application that is written last (count them after saving):
        # a replay after a concurrent write finds what the other request already counted.
        tallies[:] = [
            tally
            for each in kinds or (kind,)
            for tally in _record_response(record, engine, each, campaign, variant)
        ]
        return record

    if stores:
        visit.change(record_event)
    else:
        record_event({})
    return tallies


async def events(request: Request, body: dict[str, Any]) -> Response:
    kind = body.get("type")
    if kind not in EVENT_TYPES:
        raise ApiError(400, f"event type must be one of {', '.join(EVENT_TYPES)}")
    if read_preview_cookie(
        edge_state(request).settings.secret_keys, request.cookies.get(PREVIEW_COOKIE)
    ):
        # A cockpit preview: what the marketer does on the page is not a visitor's response.
        return JSONAnswer({"ok": True, "stored": False, "preview": True}, headers=NO_STORE)
    visit = await open_visit(request, body.get("consent"))
    _limit(request, visit)
    kinds = None if kind == "goal" else _claim(visit, kind, body)
    if kinds == ():
        # This decision's impression (or click) counted already: a repeat, or a replay.
        return respond(visit, {"ok": True, "stored": False, "repeat": True})
    counters = edge_state(request).counters
    stores = visit.consent.stores
    if stores:
        # A goal on a page without slots can be a visitor's first request: open the visit.
        visit.open_record(_text(body.get("url")))
    # Without consent to keep anything the event is still checked (a page learns of its
    # mistakes) and counted in the campaign's totals, which hold nothing about the visitor.
    tallies: list[Tally] = []
    if kind == "goal":
        try:
            tallies = visit.track(body.get("name"), body.get("props"))
        except EventError as exc:
            raise ApiError(400, str(exc)) from None
    else:
        tallies = event_tallies(
            visit, kind, body.get("campaign"), body.get("variant"), stores=stores, kinds=kinds
        )
    counters.events += 1
    _measure(edge_state(request), visit.runtime.sources.known_events, kind, body)
    # Counted once what they stand for is stored (a failed write would count them twice).
    if await visit.save():
        await _count(visit, kind, body, tallies)
    # Past the new-profile budget (Visit.save) nothing was kept either.
    response = respond(visit, {"ok": True, "stored": visit.consent.stores})
    visit.release()
    return response


def _claim(visit: Visit, kind: str, body: dict[str, Any]) -> tuple[str, ...]:
    # Only for a decision this visitor was given (its token), and once: the responses it
    # counts now (none for a repeat). A bad token is a 400 that counts and keeps nothing.
    tokens = visit.personalizer.decision_tokens
    try:
        key = tokens.check(
            body.get("token"),
            campaign=body.get("campaign"),
            variant=body.get("variant"),
            slot=body.get("slot"),
            visitor=None if visit.ident.fresh else visit.ident.visitor_id,
        )
    except DecisionTokenError as exc:
        raise ApiError(400, str(exc)) from None
    return tokens.claim(key, kind)


def _limit(request: Request, visit: Visit) -> None:
    # Per visitor. Requests without a cookie (no consent to one, or bots) count per address
    # and browser, with ANONYMOUS_SHARE times the room: many people can share one address.
    # Every event also counts for its address, with ADDRESS_SHARE times the room, so fresh
    # cookies or made-up User-Agents do not buy a bot more.
    state = edge_state(request)
    address = address_key(visit)
    checks = [(state.address_events_limit, f"addr:{address}")]
    if visit.ident.fresh:
        agent = hashlib.blake2b(
            header_dict(request).get("user-agent", "").encode("utf-8", "replace"), digest_size=8
        ).hexdigest()
        checks.append((state.anonymous_events_limit, f"ip:{address}:{agent}"))
    else:
        checks.append((state.events_limit, visit.ident.visitor_id))
    for limit, key in checks:
        wait = limit.hit(key)
        if wait is not None:
            raise ApiError(
                429,
                f"more than {limit.per_minute} events a minute; try again later",
                headers={"Retry-After": str(max(1, round(wait)))},
            )


def _measure(state: EdgeState, known: frozenset[str], kind: str, body: dict[str, Any]) -> None:
    # Labels only from the campaign file, so outside input cannot grow the metric without end.
    if kind == "goal":
        name = body.get("name") if body.get("name") in known else "other"
    else:
        name = body.get("campaign")
    state.metrics.events.labels(kind, str(name)).inc()


async def _count(visit: Visit, kind: str, body: dict[str, Any], tallies: list[Tally]) -> None:
    await visit.tally(tallies)
    if not visit.consent.stores:
        return
    try:
        await visit.personalizer.store.append_event(_stream_entry(visit, kind, body))
    except Exception:
        visit.personalizer.store_failed()
        log.warning("could not add an event to the stream", exc_info=True)


def _stream_entry(visit: Visit, kind: str, body: dict[str, Any]) -> dict[str, str]:
    """One entry of the event stream (docs/edge.md#the-event-stream)."""
    entry = {
        "type": kind,
        "ts": str(int(time.time() * 1000)),
        "visitor": visit.ident.visitor_id,
        "session": visit.session_id(),
        "consent": visit.consent.tier,
    }
    # Only values checked against the campaign file: nothing free-form from the page.
    fields = ("name",) if kind == "goal" else ("campaign", "variant", "slot")
    for key in fields:
        value = body.get(key)
        if isinstance(value, str) and (key != "slot" or _SLOT_NAME.fullmatch(value)):
            entry[key] = value
    return entry


async def identify(request: Request) -> Response:
    """Link this visitor to a customer id (the site's own); needs full consent to be kept."""
    refuse_cross_site(request)
    body = await read_json_object(request)
    try:
        customer_id = customer_text(body.get("customer_id"))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    personalizer = edge_state(request).personalizer
    if not personalizer.proofs.check(customer_id, body.get("proof")):
        raise ApiError(
            403,
            "a customer id needs the proof your server makes for it "
            "(Personalizer.identify_proof; opmaat.identify(id, proof))",
        )
    visit = await open_visit(request, body.get("consent"))
    linked = visit.identify(customer_id)
    if not linked:
        why = f"linking needs full consent; this visit has {visit.consent.tier}"
        return respond(visit, {"linked": False, "why": why})
    await visit.save()
    return respond(visit, {"linked": True})
