"""The visitor's privacy page (``/me``): what is known, why each slot shows what it shows,
and forms to edit preferences, change consent, download and delete. Works without JavaScript.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from opmaat.campaigns.model import NEUTRAL_LABEL
from opmaat.consent import CHOICES
from opmaat.history import recent_decisions
from opmaat.identity import first_cookie, new_id
from opmaat.interests import category_key, interest_attributes
from opmaat.personalizer import CookieChange, Visit
from opmaat.recommend.live import visitor_for
from opmaat_edge.http import ApiError, read_form
from opmaat_edge.me import change_consent, change_prefs, export
from opmaat_edge.me_choices import CHOICE_ACTIONS, NEED_CONSENT, choices_patch, choices_view
from opmaat_edge.me_choices import DONE as CHOICES_DONE
from opmaat_edge.resources import TEMPLATES
from opmaat_edge.signing import sign, unsign
from opmaat_edge.visit import STORE_DOWN, finish, open_visit, refuse_cross_site

templates = Jinja2Templates(directory=str(TEMPLATES))
# The privacy page loads nothing, runs no script and may not be framed (clickjacking its
# delete button); its one <style> is inline.
PAGE_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make the forms send Origin: null
    "X-Frame-Options": "DENY",
}
FORM_MAX_AGE = 2 * 3600
RECOMMENDED = 4  # items of the visitor's own list the page shows
ACTIONS = ("prefs", "consent", "delete", *CHOICE_ACTIONS)
DONE = {
    "prefs": "Your preferences are saved.",
    "consent": "Your choice is saved.",
    "delete": "Everything we kept about you is deleted.",
    **CHOICES_DONE,
}
_MEDIUM = {
    "search": "from a search on {source}",
    "social": "from {source} (social media)",
    "email": "from an email",
    "paid": "from an ad on {source}",
    "referral": "from a link on {host}",
    "internal": "from another page of this site",
    "direct": "directly (you typed the address, or used a bookmark or an app)",
}
_DEVICE = {"mobile": "a phone", "tablet": "a tablet", "desktop": "a computer", "bot": "a robot"}
PREFS_NEED_CONSENT = (
    "Your interests can only be kept while personalization is on: choose “On” under "
    "Your choices first."
)


FORM_SALT = "opmaat.privacy-form"


FORM_COOKIE = "opmaat_form"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16}")


def _form_nonce(request: Request) -> str | None:
    value = first_cookie(request.headers.get("cookie"), FORM_COOKIE)
    return value if value is not None and _NONCE.fullmatch(value) else None


def _form_subject(visit: Visit, nonce: str | None) -> str | None:
    # Forms are bound to the visitor they were shown to; a visitor without a cookie yet, to
    # a nonce cookie of the form's own (one shared subject would let any page post for them).
    if not visit.ident.fresh:
        return visit.ident.visitor_id
    return f"nonce:{nonce}" if nonce is not None else None


def _check_token(visit: Visit, request: Request, token: str | None) -> None:
    try:
        subject = unsign(visit.personalizer.codec.secret_keys, FORM_SALT, token or "", FORM_MAX_AGE)
    except BadData:
        raise ApiError(403, "this form has expired; reload the privacy page") from None
    expected = _form_subject(visit, _form_nonce(request))
    if expected is None or subject != expected:
        raise ApiError(403, "this form was made for another visitor; reload the privacy page")


def arrival(referrer: Mapping[str, Any]) -> str:
    """How the visitor arrived, in plain words."""
    medium = referrer.get("medium") or "direct"
    text = _MEDIUM.get(medium, _MEDIUM["direct"]).format(
        source=(referrer.get("source") or "the web").title(),
        host=referrer.get("host") or "another site",
    )
    if medium == "search" and referrer.get("term"):
        text += f", for “{referrer['term']}”"
    return text


def device(info: Mapping[str, Any]) -> str:
    kind = _DEVICE.get(str(info.get("type")), "a device")
    browser, system = info.get("browser"), info.get("os")
    if browser and system:
        return f"{kind}, {browser} on {system}"
    return f"{kind}, {browser or system}" if browser or system else kind


def _when(stamp: Any) -> str:
    if not isinstance(stamp, int | float):
        return ""
    return datetime.fromtimestamp(stamp, UTC).strftime("%d %b %Y, %H:%M UTC")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _seen(responses: Mapping[str, Any], label: Callable[[Any], str]) -> list[dict[str, Any]]:
    """Impressions and clicks per label the visitor was shown (campaigns that share a label,
    or have none, are one row: the visitor cannot tell them apart)."""
    rows: dict[str, dict[str, Any]] = {}
    for campaign_id, entry in responses.items():
        if not isinstance(entry, Mapping):
            continue
        row = rows.setdefault(label(campaign_id), {"impressions": 0, "clicks": 0})
        row["impressions"] += _count(entry.get("impressions"))
        row["clicks"] += _count(entry.get("clicks"))
    return [
        {"name": name, **row} for name, row in rows.items() if row["impressions"] or row["clicks"]
    ]


def _recommended(visit: Visit, profile: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the site would recommend the visitor now, with each item's reason: the list of
    its first personal strategy (else its first); None without a recommendations section."""
    recommender = visit.personalizer.recommender.current(visit.runtime.campaigns)
    if recommender is None:
        return None
    strategies = list(recommender.strategies.values())
    chosen = next((s for s in strategies if s.kind == "personal"), strategies[0])
    items = recommender.recommend(chosen.name, visitor_for(profile, visit.record), RECOMMENDED)
    return {"items": items, "learns": visit.consent.tier == "full"}


def _view(visit: Visit) -> dict[str, Any]:
    data = export(visit)
    engine = visit.runtime.engine

    def label(campaign_id: Any) -> str:
        # Visitors see a campaign's label, never the marketers' name or id for it.
        found = engine.campaign(campaign_id) if isinstance(campaign_id, str) else None
        return found.visitor_label if found else NEUTRAL_LABEL

    interests = {k: v for k, v in data["interests"].items() if k != "top"}
    # The scores page views earned, before the visitor's own choices raise or drop a topic.
    inferred = interest_attributes(
        visit.record, {}, time.time(), visit.site.interest_half_life_days
    )
    decisions = [
        {**d, "name": label(d["campaign"]) if d.get("campaign") else None, "when": _when(d["at"])}
        for d in reversed(recent_decisions(visit.record))
    ]
    link, purl = data["purl"], None
    if link.get("campaign"):  # only the columns the campaign exposes are in purl.*
        fields = {k: v for k, v in link.items() if k not in ("campaign", "forwarded")}
        purl = {
            "name": label(link["campaign"]),
            "forwarded": link.get("forwarded"),
            "fields": fields,
        }
    origins = visit.site.allowed_origins
    return {
        "data": data,
        "site": visit.site.name or "This site",
        # The shop's pages: the origin they call the edge from, or this host's home page
        # (the edge under a path of the shop's host).
        "shop": origins[0] + "/" if origins else "/",
        "stores": visit.consent.stores,
        "arrival": arrival(data["referrer"]),
        "purl": purl,
        "device": device(data["device"]),
        "interests": interests,
        "inferred": {k: v for k, v in inferred.items() if k != "top"},
        "prefs": data["prefs"]["interests"],
        "seen": _seen(data["response"], label),
        "decisions": decisions,
        "recommended": _recommended(visit, data),
        "cart": visit.record.get("cart") if isinstance(visit.record.get("cart"), dict) else None,
        "retention_days": visit.site.retention_days,
        "half_life_days": visit.site.interest_half_life_days,
        "session_minutes": visit.site.session_timeout_minutes,
        "choices": CHOICES,
        **choices_view(visit, data),
    }


def _render(
    request: Request,
    visit: Visit,
    *,
    done: str | None = None,
    error: str | None = None,
    status: int | None = None,
    confirm_delete: bool = False,
) -> Response:
    nonce = (_form_nonce(request) or new_id()) if visit.ident.fresh else None
    subject = _form_subject(visit, nonce)
    context = {
        **_view(visit),
        "token": sign(visit.personalizer.codec.secret_keys, FORM_SALT, subject),
        "done": done,
        "error": _sentence(error) if error else None,
        "confirm_delete": confirm_delete,
    }
    response = templates.TemplateResponse(
        request,
        "privacy/me.html",
        context,
        status_code=status or (400 if error else 200),
        headers={"Cache-Control": "private, no-store", **PAGE_SECURITY},
    )
    if nonce is not None:
        cookie = CookieChange(FORM_COOKIE, nonce, FORM_MAX_AGE, visit.personalizer.secure_cookies)
        response.raw_headers.append((b"set-cookie", cookie.header().encode("latin-1")))
    return finish(visit, response)


async def page(request: Request) -> Response:
    visit = await open_visit(request)
    if visit.load_failed:
        return _render(request, visit, error=STORE_DOWN.capitalize() + ".", status=503)
    await visit.save()  # kept for this request's tier (a GPC browser shortens it)
    return _render(
        request,
        visit,
        done=DONE.get(request.query_params.get("done", "")),
        # The first step of "delete everything": the page asks again, in a form of its own.
        confirm_delete=request.query_params.get("confirm") == "delete",
    )


def _sentence(message: str) -> str:
    """An error as the page shows it: a sentence, whatever the API's wording."""
    text = message.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _one(form: Mapping[str, list[str]], key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None


def _prefs_patch(form: Mapping[str, list[str]]) -> dict[str, Any]:
    changes: dict[str, str | None] = {}
    for key, values in form.items():
        if key.startswith("interest."):
            choice = values[0] if values else ""
            changes[key[len("interest.") :]] = choice if choice in ("more", "less") else None
    added = (_one(form, "add_interest") or "").strip()
    if added:
        topic = category_key(added)
        if topic is None:
            raise ApiError(
                400, f"“{added[:40]}” is not a topic name: use letters, digits, '-' or '_'"
            )
        changes[topic] = "less" if _one(form, "add_choice") == "less" else "more"
    return {"interests": changes}


async def submit(request: Request) -> Response:
    refuse_cross_site(request)
    form = await read_form(request)
    visit = await open_visit(request)
    try:
        _check_token(visit, request, _one(form, "token"))
        action = _one(form, "action")
        if action == "delete":
            await visit.forget()
        elif action == "consent":
            choice = _one(form, "consent")
            if choice not in CHOICES:
                raise ApiError(400, "choose one of the options for personalization")
            await change_consent(visit, choice)
        elif action == "prefs":
            if not visit.consent.stores:
                raise ApiError(409, PREFS_NEED_CONSENT)
            change_prefs(visit, _prefs_patch(form))
            await visit.save()
        elif action in CHOICE_ACTIONS:
            if not visit.consent.stores:
                raise ApiError(409, NEED_CONSENT)
            fields = visit.runtime.sources.preferences.fields
            change_prefs(visit, choices_patch(action, form, fields))
            await visit.save()
        else:
            raise ApiError(400, f"action must be one of {', '.join(ACTIONS)}")
    except ApiError as exc:
        # The visitor sees the page again, with what went wrong, and nothing changed.
        return _render(request, visit, error=str(exc.detail))
    except Exception:
        return _render(request, visit, error=STORE_DOWN.capitalize() + ".", status=503)
    # Relative, so the page also works behind a path prefix (/_opmaat/me).
    return finish(visit, RedirectResponse(f"me?done={action}", status_code=303))
