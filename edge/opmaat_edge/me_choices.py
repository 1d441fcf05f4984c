"""The privacy page's part for what the visitor tells us (``/me``): their favourites and
ratings, the site's own preference fields, their channels and moments (may each channel
personalize for them, how often, when not), and what each channel decided for them lately.

The forms post to ``/me`` like the page's others (same token, same cross-site check); each
turns into a ``prefs`` patch that ``PATCH /v1/me`` would take, so both are checked alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opmaat.campaigns.model import NEUTRAL_LABEL
from opmaat.channel_prefs import CUSTOMER_CHANNELS, DEFAULT, recent_contacts, valid_zone
from opmaat.personalizer import Visit
from opmaat.preference_fields import FieldValueError, PreferenceField
from opmaat_edge.http import ApiError

CHOICE_ACTIONS = ("favourites", "settings", "channels")
DONE = {
    "favourites": "Your favourites and ratings are saved.",
    "settings": "Your settings are saved.",
    "channels": "Your choices for each channel are saved.",
}
NEED_CONSENT = (
    "Your choices can only be kept while personalization is on: choose “On” under "
    "Your choices first."
)
CHANNEL_NAMES = {
    "web": "This website",
    "email": "E-mail",
    "app": "The app",
    "contact_center": "The contact centre",
}
PER_WEEK = (1, 2, 3, 5, 7, 14)
Form = Mapping[str, list[str]]


def choices_view(visit: Visit, data: Mapping[str, Any]) -> dict[str, Any]:
    """What the page's template shows of the visitor's choices; ``data`` is the export."""
    prefs = data["prefs"]
    names = _product_names(visit, prefs)
    channels = prefs.get("channels", {})
    geo = data.get("geo")
    return {
        "favourites": [(p, names.get(p, p)) for p in prefs.get("favourites", ())],
        "ratings": [(p, names.get(p, p), n) for p, n in reversed(prefs.get("ratings", {}).items())],
        "fields": [
            (f, prefs.get(f.name)) for f in visit.runtime.sources.preferences.fields.values()
        ],
        "channels": [
            (key, CHANNEL_NAMES[key], channels.get(key, DEFAULT)) for key in CUSTOMER_CHANNELS
        ],
        "per_week_options": PER_WEEK,
        "time_zone": prefs.get("time_zone")
        or (geo.get("timezone") if isinstance(geo, Mapping) else None)
        or "",
        "lately": _lately(visit),
        "identified": bool(data.get("customer", {}).get("id")),
    }


def _product_names(visit: Visit, prefs: Mapping[str, Any]) -> dict[str, str]:
    # The names the site gives its products (its offers, then its feed): the visitor sees
    # names, not ids.
    campaigns = visit.runtime.campaigns
    names = {offer.id: offer.name for offer in campaigns.preferences.offers}
    feed = campaigns.feed
    if feed is not None:
        for product_id in [*prefs.get("favourites", ()), *prefs.get("ratings", {})]:
            found = feed.get(product_id) if product_id not in names else None
            if found is not None:
                names[product_id] = found.name
    return names


def _lately(visit: Visit) -> list[dict[str, Any]]:
    engine = visit.runtime.engine
    rows = []
    for channel, entries in recent_contacts(visit.record).items():
        for entry in reversed(entries):
            campaign = engine.campaign(entry["campaign"]) if entry.get("campaign") else None
            rows.append(
                {
                    "channel": CHANNEL_NAMES[channel],
                    "when": datetime.fromtimestamp(entry["at"], UTC).strftime(
                        "%d %b %Y, %H:%M UTC"
                    ),
                    "what": None
                    if entry.get("held")
                    else (campaign.visitor_label if campaign else NEUTRAL_LABEL),
                    "reason": entry["reason"],
                }
            )
    return rows


def choices_patch(action: str, form: Form, fields: Mapping[str, PreferenceField]) -> dict[str, Any]:
    """The ``prefs`` patch a form of this part of the page asks for; raises ApiError (400)
    saying what is wrong in the visitor's words."""
    if action == "favourites":
        return {
            "favourites": dict.fromkeys(form.get("remove_favourite", ())),
            "ratings": dict.fromkeys(form.get("remove_rating", ())),
        }
    if action == "settings":
        return {name: _setting(field, _one(form, f"pref.{name}")) for name, field in fields.items()}
    return _channels(form)


def _one(form: Form, key: str) -> str:
    values = form.get(key)
    return values[0].strip() if values else ""


def _setting(field: PreferenceField, raw: str) -> Any:
    if not raw:
        return None
    try:
        return field.value(raw)
    except FieldValueError as exc:
        raise ApiError(400, f"{field.label}: choose {exc}") from None


def _hour(form: Form, key: str, name: str) -> int | None:
    raw = _one(form, key)
    if not raw:
        return None
    if not (raw.isdigit() and raw.isascii() and int(raw) <= 23):
        raise ApiError(400, f"{name}: quiet hours are whole hours from 0 to 23")
    return int(raw)


def _channels(form: Form) -> dict[str, Any]:
    zone = _one(form, "time_zone")
    if zone and not valid_zone(zone):
        raise ApiError(400, f"“{zone[:60]}” is not a time zone: write it like Europe/Amsterdam")
    channels: dict[str, Any] = {}
    for key, name in CHANNEL_NAMES.items():
        weekly = _one(form, f"channel.{key}.per_week")
        if weekly and not (weekly.isdigit() and weekly.isascii() and int(weekly) in PER_WEEK):
            raise ApiError(400, f"{name}: choose how often a week from the list")
        start = _hour(form, f"channel.{key}.quiet_from", name)
        end = _hour(form, f"channel.{key}.quiet_until", name)
        if (start is None) != (end is None):
            raise ApiError(400, f"{name}: choose both when quiet hours start and when they end")
        if start is not None and start == end:
            raise ApiError(400, f"{name}: quiet hours start and end at different hours")
        channels[key] = {
            "personalized": _one(form, f"channel.{key}.personalized") != "no",
            "per_week": int(weekly) if weekly else None,
            "quiet_from": start,
            "quiet_until": end,
        }
    return {"channels": channels, "time_zone": zone or None}
