"""The server-to-server API: ``POST /v1/decide`` and ``POST /v1/events`` for callers with an
API key (``Authorization: Bearer <key>``, keys from OPMAAT_API_KEYS): email rendering at send
time, an app's backend, the contact centre. A request is one of these when it carries an
Authorization header, a ``channel`` or a ``customer_id``; the browser's snippet sends none.
A decide may ask for ``recommendations`` too: lists by the campaign file's strategies, for
the same customer.

Decisions carry a tracking token: a signed note of campaign, variant, slot, channel and
customer that the caller sends back with impressions and clicks, so they land in the same
stats (and the customer's profile) as the web's, without trusting the caller to name them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from itsdangerous import BadData
from starlette.requests import Request
from starlette.responses import Response

from opmaat.campaigns.model import CHANNELS
from opmaat.channels import CallerAttributeError, caller_attributes, overlay
from opmaat.engine import Decision
from opmaat.personalizer import Visit, customer_text
from opmaat.recommend.live import checked_call, visitor_for
from opmaat.tracking import EventError, Tally
from opmaat_edge import api
from opmaat_edge.api import event_tallies, request_body, slot_names
from opmaat_edge.http import ApiError, JSONAnswer, header_dict, read_json_object
from opmaat_edge.signing import sign, unsign
from opmaat_edge.state import edge_state

log = logging.getLogger("opmaat.edge")
NO_STORE = {"Cache-Control": "no-store"}
# Emails are opened days after they are sent.
TOKEN_MAX_AGE = 90 * 86400
SERVER_EVENTS = ("impression", "click", "goal")
MAX_LISTS = 10
LIST_OPTIONS = ("n", "products")


def is_server_call(request: Request, body: dict[str, Any]) -> bool:
    # Only a Bearer key: a browser on a site behind HTTP Basic auth sends that on its own.
    # The page's events name the campaign beside their decision token; a server's do not.
    return (
        header_dict(request).get("authorization", "").lstrip()[:7].lower() == "bearer "
        or "channel" in body
        or "customer_id" in body
        or ("token" in body and "campaign" not in body)
    )


def authorize(request: Request) -> None:
    """Raise 401 unless the request carries one of the edge's API keys."""
    keys = edge_state(request).api_keys
    if not len(keys):
        raise ApiError(
            401,
            "this edge takes no server-to-server calls: set OPMAAT_API_KEYS",
            headers={"WWW-Authenticate": 'Bearer realm="opmaat"'},
        )
    if not keys.check(header_dict(request).get("authorization")):
        raise ApiError(
            401,
            "a server-to-server call needs 'Authorization: Bearer <key>' with a key from "
            "OPMAAT_API_KEYS",
            headers={"WWW-Authenticate": 'Bearer realm="opmaat", error="invalid_token"'},
        )


TOKEN_SALT = "opmaat.tracking"


def _channel(value: Any) -> str:
    if value not in CHANNELS:
        raise ApiError(400, f"channel must be one of {', '.join(CHANNELS)}")
    return str(value)


def _customer(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return customer_text(value)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


async def _open(request: Request, customer_id: str | None) -> Visit:
    return await edge_state(request).personalizer.open_customer(customer_id)


async def decide(request: Request, body: dict[str, Any]) -> Response:
    authorize(request)
    state = edge_state(request)
    channel = _channel(body.get("channel"))
    customer_id = _customer(body.get("customer_id"))
    slots = slot_names(body.get("slots", []), state.settings.max_slots)
    try:
        attributes = caller_attributes(body.get("attributes"))
    except CallerAttributeError as exc:
        raise ApiError(400, str(exc)) from None
    if customer_id is None and not attributes:
        raise ApiError(400, "say whom to decide for: a customer_id, attributes, or both")
    wanted = _wanted_lists(request, body.get("recommendations"))
    visit = await _open(request, customer_id)
    decisions = await visit.decide_for_channel(slots, channel=channel, attributes=attributes)
    keys = state.settings.secret_keys
    answer: dict[str, Any] = {
        "channel": channel,
        "customer_id": customer_id,
        "slots": {
            name: _with_token(keys, decision, channel, customer_id)
            for name, decision in decisions.items()
        },
        # Why the customer's own choices for this channel held everything back (else null).
        "held_back": visit.held_back,
    }
    if wanted:
        held: dict[str, list[Any]] = {name: [] for name in wanted}
        answer["recommendations"] = held if visit.held_back else _lists(visit, wanted, attributes)
    return JSONAnswer(answer, headers=NO_STORE)


Wanted = dict[str, tuple[int, tuple[str, ...]]]  # strategy -> n, seed products


def _wanted_lists(request: Request, value: Any) -> Wanted:
    """The lists a decide asks for (``{"for-you": {"n": 4}, ...}``), checked against the
    running campaign file's strategies before anything is read."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not 0 < len(value) <= MAX_LISTS:
        raise ApiError(
            400,
            f"recommendations is an object of 1-{MAX_LISTS} strategy names, each with its "
            'options: {"for-you": {"n": 4}}',
        )
    personalizer = edge_state(request).personalizer
    recommender = personalizer.recommender.current(personalizer.runtime.current.campaigns)
    if recommender is None:
        raise ApiError(400, "the campaign file has no recommendations section")
    out: Wanted = {}
    for name, options in value.items():
        where = f"recommendations.{str(name)[:40]}"
        if name not in recommender.strategies:
            known = ", ".join(sorted(recommender.strategies))
            raise ApiError(400, f"{where}: no such strategy; the campaign file has {known}")
        options = {} if options is None else options
        if not isinstance(options, dict) or any(key not in LIST_OPTIONS for key in options):
            raise ApiError(400, f"{where}: the options are n and products")
        try:
            _, n, products = checked_call(name, options.get("n", 4), options.get("products"))
        except ValueError as exc:
            raise ApiError(400, f"{where}: {exc}") from None
        out[name] = (n, products)
    return out


def _lists(visit: Visit, wanted: Wanted, attributes: dict[str, Any]) -> dict[str, Any]:
    # The profile as the decide saw it: the stored record with the caller's attributes on top.
    recommender = visit.personalizer.recommender.current(visit.runtime.campaigns)
    if recommender is None:  # the campaign file changed meanwhile
        return {name: [] for name in wanted}
    context = visit.runtime.context.build(visit.facts(None, None, None))
    visitor = visitor_for(overlay(visit.profile(context), attributes), visit.record)
    return {
        name: [item.as_dict() for item in recommender.recommend(name, visitor, n, products)]
        if name in recommender.strategies
        else []
        for name, (n, products) in wanted.items()
    }


def _with_token(
    keys: tuple[str, ...], decision: Decision, channel: str, customer_id: str | None
) -> dict[str, Any]:
    out = decision.as_dict()
    out["token"] = None
    if decision.campaign is not None and decision.variant is not None:
        noted = [decision.campaign, decision.variant, decision.slot, channel, customer_id]
        out["token"] = sign(keys, TOKEN_SALT, noted)
    return out


def _read_token(request: Request, value: Any) -> tuple[str, str, str, str, str | None]:
    if not isinstance(value, str) or not 0 < len(value) <= 2048:
        raise ApiError(400, "an impression or click needs the decision's token")
    try:
        data = unsign(edge_state(request).settings.secret_keys, TOKEN_SALT, value, TOKEN_MAX_AGE)
    except BadData:
        raise ApiError(400, "this tracking token is not one of ours, or has expired") from None
    if (
        not isinstance(data, list)
        or len(data) != 5
        or not all(isinstance(v, str) for v in data[:4])
        or not (data[4] is None or isinstance(data[4], str))
    ):
        raise ApiError(400, "this tracking token is not one of ours")
    campaign, variant, slot, channel, customer = data
    return campaign, variant, slot, channel, customer


async def events(request: Request, body: dict[str, Any]) -> Response:
    authorize(request)
    kind = body.get("type")
    if kind not in SERVER_EVENTS:
        raise ApiError(400, f"event type must be one of {', '.join(SERVER_EVENTS)}")
    entry = {"type": str(kind), "ts": str(int(time.time() * 1000))}
    if kind == "goal":
        customer_id = _customer(body.get("customer_id"))
        if customer_id is None:
            raise ApiError(400, "a goal needs the customer_id it was reached by")
        entry["channel"] = _channel(body.get("channel", "server"))
        visit = await _open(request, customer_id)
        try:
            tallies: list[Tally] = visit.track(body.get("name"), body.get("props"))
        except EventError as exc:
            raise ApiError(400, str(exc)) from None
        entry["name"] = str(body.get("name"))
    else:
        campaign, variant, slot, channel, customer_id = _read_token(request, body.get("token"))
        visit = await _open(request, customer_id)
        tallies = event_tallies(visit, kind, campaign, variant, stores=customer_id is not None)
        entry.update(campaign=campaign, variant=variant, slot=slot, channel=channel)
    await visit.save_and_tally(tallies)
    if customer_id is not None:
        entry["visitor"] = visit.ident.visitor_id
        try:
            await visit.personalizer.store.append_event(entry)
        except Exception:
            visit.personalizer.store_failed()
            log.warning("could not add an event to the stream", exc_info=True)
    return JSONAnswer({"ok": True, "counted": len(tallies)}, headers=NO_STORE)


async def decide_route(request: Request) -> Response:
    """``/v1/decide``: the snippet's (GET, or POST from a page) or a server's (POST with a key)."""
    body = await request_body(request)
    if request.scope["method"] == "POST" and is_server_call(request, body):
        return await decide(request, body)
    return await api.decide(request, body)


async def events_route(request: Request) -> Response:
    """``/v1/events``: the snippet's, or a server's (with a key)."""
    body = await read_json_object(request)
    if is_server_call(request, body):
        return await events(request, body)
    return await api.events(request, body)
