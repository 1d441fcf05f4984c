"""The visitor's own data as an API: export, preferences, consent, forget (``/v1/me``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from opmaat import log_lines
from opmaat.consent import Consent, parse_choice, resolve_consent
from opmaat.history import recent_decisions
from opmaat.personalizer import Visit
from opmaat.preferences import PreferenceError, apply_patch, stored_prefs
from opmaat_edge.http import ApiError, read_json_object
from opmaat_edge.visit import open_visit, refuse_cross_site, respond, store_down

DOWNLOAD = {"Content-Disposition": 'attachment; filename="opmaat-my-data.json"'}


def export(visit: Visit) -> dict[str, Any]:
    """Everything known about the visitor: the profile as campaigns see it (built from this
    request's context and the stored record), the recent decisions and the record itself."""
    context = visit.runtime.context.build(visit.facts(None, None, None))
    return {
        **visit.profile(context),
        "decisions": recent_decisions(visit.record),
        "stored": log_lines.readable(visit.record),
    }


async def change_consent(visit: Visit, choice: str) -> None:
    """Apply the visitor's new choice: a lower tier forgets what it does not allow."""
    before = visit.consent
    visit.consent = resolve_consent(visit.site.consent_default, choice, visit.headers)
    visit.consent_choice = choice
    if not visit.consent.stores:
        await visit.forget()
        return
    if not visit.record:
        await visit.load()
    if visit.consent.persistent and not before.persistent:
        visit.rotate_id()  # more is kept from now on: under an id nobody planted
    await visit.save()  # kept again for the new tier's time


def check_prefs(visit: Visit, patch: Any, consent: Consent) -> None:
    """Raise ApiError when ``patch`` is bad (400 naming the field), or ``consent`` does not let
    preferences be kept (409)."""
    fields = visit.runtime.sources.preferences.fields
    try:
        apply_patch(stored_prefs(visit.record, fields), patch, fields)
    except PreferenceError as exc:
        raise ApiError(400, str(exc)) from None
    if not consent.stores:
        raise ApiError(409, "preferences are kept only with session or full consent")


def change_prefs(visit: Visit, patch: Any) -> None:
    """Apply a preference patch; raises ApiError and changes nothing when it is bad."""
    check_prefs(visit, patch, visit.consent)
    fields = visit.runtime.sources.preferences.fields
    visit.open_record()
    visit.change(
        lambda record: {**record, "prefs": apply_patch(stored_prefs(record, fields), patch, fields)}
    )


def _choice(value: Any) -> str:
    choice = parse_choice(value)
    if choice is None:
        raise ApiError(400, "consent must be one of none, session, full, off")
    return choice


async def get_me(request: Request) -> Response:
    visit = await open_visit(request)
    if visit.load_failed:
        return store_down(visit)  # an empty export would say "we know nothing": untrue
    await visit.save()  # kept for this request's tier (a GPC browser shortens it)
    download = request.query_params.get("download") == "1"
    return respond(visit, export(visit), DOWNLOAD if download else None)


async def patch_me(request: Request) -> Response:
    refuse_cross_site(request)
    body = await read_json_object(request)
    unknown = [k for k in body if k not in ("prefs", "consent")]
    if unknown or not body:
        raise ApiError(400, "send an object with 'prefs' and/or 'consent'")
    choice = _choice(body["consent"]) if "consent" in body else None
    visit = await open_visit(request)
    if "prefs" in body:  # checked whole, against the consent it will have, before any change
        after = visit.consent
        if choice is not None:
            after = resolve_consent(visit.site.consent_default, choice, visit.headers)
        check_prefs(visit, body["prefs"], after)
    if visit.load_failed:
        return store_down(visit)
    try:
        if choice is not None:
            await change_consent(visit, choice)
    except Exception:
        return store_down(visit)
    if "prefs" in body:
        change_prefs(visit, body["prefs"])
        await visit.save()
    return respond(visit, export(visit))


async def delete_me(request: Request) -> Response:
    refuse_cross_site(request)
    visit = await open_visit(request)
    try:
        deleted = await visit.forget()
    except Exception:
        return store_down(visit)
    return respond(visit, {"deleted": deleted})


async def post_consent(request: Request) -> Response:
    refuse_cross_site(request)
    body = await read_json_object(request)
    choice = _choice(body.get("tier"))
    visit = await open_visit(request)
    try:
        await change_consent(visit, choice)
    except Exception:
        return store_down(visit)
    return respond(visit, {"consent": visit.consent.as_dict()})
