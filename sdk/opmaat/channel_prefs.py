"""Channels and moments: for each channel the visitor decides whether it may be personalized
for them, at most how often a week, and quiet hours in their time zone (``prefs.channels``,
``prefs.time_zone``). A decision for a channel asks ``held_back`` before the engine runs: when
the visitor said no, every slot keeps its standard content and the reason says why ("you
asked for no e-mail offers").

What each channel showed lately is kept beside (``contacts`` in the record): while the visitor
has a weekly limit for it, the times it showed a campaign in the last week, which ``per_week``
counts; and its last few decisions, which the privacy page shows per channel (as JSON lines:
log_lines).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard
from zoneinfo import ZoneInfo

from opmaat import log_lines
from opmaat.profile_reference import FORMATS
from opmaat.store import Record

if TYPE_CHECKING:
    from opmaat.engine import Decision

CUSTOMER_CHANNELS = ("web", "email", "app", "contact_center")
CHANNEL_KEYS = ("personalized", "per_week", "quiet_from", "quiet_until")
MAX_PER_WEEK = 50
MAX_LATELY = 3
WEEK_SECONDS = 7 * 86400
# What a channel shows, in the reasons: one, several.
NOUNS = {
    "web": ("personalized page", "personalized pages"),
    "email": ("e-mail offer", "e-mail offers"),
    "app": ("offer in the app", "offers in the app"),
    "contact_center": ("offer from our contact centre", "offers from our contact centre"),
}
DEFAULT = {"personalized": True, "per_week": None, "quiet_from": None, "quiet_until": None}


def valid_zone(name: Any) -> TypeGuard[str]:
    """Whether ``name`` is an IANA time zone this system knows."""
    return isinstance(name, str) and FORMATS["time_zone"].allows(name)


def _hour(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 23


def _per_week(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PER_WEEK


def clean_channels(value: Any) -> dict[str, dict[str, Any]]:
    """The stored channel choices that are well formed and not the default, by channel."""
    if not (type(value) is dict or isinstance(value, Mapping)):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for channel in CUSTOMER_CHANNELS:
        entry = value.get(channel)
        if not (type(entry) is dict or isinstance(entry, Mapping)):
            continue
        quiet = (entry.get("quiet_from"), entry.get("quiet_until"))
        clean = {
            "personalized": entry.get("personalized") is not False,
            "per_week": entry.get("per_week") if _per_week(entry.get("per_week")) else None,
            "quiet_from": quiet[0] if _hour(quiet[0]) and _hour(quiet[1]) else None,
            "quiet_until": quiet[1] if _hour(quiet[0]) and _hour(quiet[1]) else None,
        }
        if clean != DEFAULT:
            out[channel] = clean
    return out


def patch_channels(current: Mapping[str, Any], patch: Any) -> dict[str, dict[str, Any]]:
    """``current`` channel choices with ``patch`` applied (``{"email": {"personalized":
    false}}``; a channel set to null is back to the default); raises ValueError naming the
    field that is wrong."""
    if not isinstance(patch, Mapping):
        raise ValueError("prefs.channels must be an object of channel: choices")
    out = clean_channels(current)
    for channel, change in patch.items():
        where = f"prefs.channels.{str(channel)[:40]}"
        if channel not in CUSTOMER_CHANNELS:
            raise ValueError(f"{where}: unknown channel; known: {', '.join(CUSTOMER_CHANNELS)}")
        if change is None:
            out.pop(channel, None)
            continue
        if not isinstance(change, Mapping):
            raise ValueError(f"{where} must be an object of {', '.join(CHANNEL_KEYS)}")
        entry = {**DEFAULT, **out.get(channel, {})}
        for key, value in change.items():
            _check(where, key, value)
            entry[str(key)] = value
        if (entry["quiet_from"] is None) != (entry["quiet_until"] is None):
            raise ValueError(f"{where}: quiet hours need both quiet_from and quiet_until")
        if entry["quiet_from"] is not None and entry["quiet_from"] == entry["quiet_until"]:
            raise ValueError(f"{where}: quiet hours start and end at different hours")
        if entry == DEFAULT:
            out.pop(channel, None)
        else:
            out[channel] = entry
    return out


def _check(where: str, key: Any, value: Any) -> None:
    if key == "personalized":
        if not isinstance(value, bool):
            raise ValueError(f"{where}.personalized must be true or false")
    elif key == "per_week":
        if value is not None and not _per_week(value):
            raise ValueError(f"{where}.per_week must be a whole number from 1 to 50 or null")
    elif key in ("quiet_from", "quiet_until"):
        if value is not None and not _hour(value):
            raise ValueError(f"{where}.{key} must be an hour from 0 to 23 or null")
    else:
        known = ", ".join(CHANNEL_KEYS)
        raise ValueError(f"{where}: unknown choice {str(key)[:40]!r}; known: {known}")


def held_back(
    record: Record, profile: Mapping[str, Any], channel: str, now: datetime
) -> str | None:
    """Why the visitor's choices (in their stored ``record``) hold back a decision for
    ``channel`` at ``now``, or None. Quiet hours are read in their ``prefs.time_zone``, else
    in the profile's ``geo.timezone``, else in UTC."""
    prefs = record.get("prefs")
    if not isinstance(prefs, dict) or "channels" not in prefs:
        return None  # nearly everyone: nothing chosen
    entry = clean_channels(prefs["channels"]).get(channel)
    if entry is None:
        return None
    one, many = NOUNS[channel]
    if not entry["personalized"]:
        return f"you asked for no {many}"
    start, end = entry["quiet_from"], entry["quiet_until"]
    if start is not None and end is not None:
        geo = profile.get("geo")
        zone = prefs.get("time_zone") or (geo.get("timezone") if isinstance(geo, Mapping) else None)
        hour = now.astimezone(ZoneInfo(zone)).hour if valid_zone(zone) else now.hour
        if start <= hour < end if start < end else (hour >= start or hour < end):
            return f"you asked for no {many} between {start:02d}:00 and {end:02d}:00"
    most = entry["per_week"]
    if most is not None and len(_shown(record, channel, now.timestamp())) >= most:
        return f"you asked for at most {most} {one if most == 1 else many} a week"
    return None


def _entry(record: Record, channel: str) -> dict[str, Any]:
    contacts = record.get("contacts")
    found = contacts.get(channel) if isinstance(contacts, dict) else None
    return found if isinstance(found, dict) else {}


def _shown(record: Record, channel: str, now: float) -> list[float]:
    stamps = _entry(record, channel).get("shown")
    if not isinstance(stamps, list):
        return []
    return [
        s
        for s in stamps[-MAX_PER_WEEK:]
        if isinstance(s, (int, float)) and not isinstance(s, bool) and now - WEEK_SECONDS < s
    ]


def note_contacts(
    record: Record,
    decisions: Mapping[str, Decision],
    channel: str,
    now: float,
    held: str | None,
) -> None:
    """Note in the record what ``channel`` decided: a campaign shown counts for the visitor's
    ``per_week`` (when they set one), and the last ``MAX_LATELY`` shown or held back
    decisions are kept for the privacy page."""
    if channel not in CUSTOMER_CHANNELS:
        return
    stamp = int(now)
    if held is not None:
        noted = [{"at": stamp, "held": True, "reason": held}]
    else:
        noted = [
            {"at": stamp, "slot": d.slot, "campaign": d.campaign, "reason": d.reason}
            for d in decisions.values()
            if d.campaign is not None and d.variant is not None
        ]
    if not noted:
        return
    entry = _entry(record, channel)
    # The times it showed something, only as many as the visitor's own weekly limit counts.
    prefs = record.get("prefs")
    chosen = clean_channels(prefs.get("channels") if isinstance(prefs, dict) else None)
    most = chosen.get(channel, DEFAULT)["per_week"] or 0
    shown = [*_shown(record, channel, now), *([stamp] if held is None else [])]
    contacts = record.get("contacts")
    contacts = dict(contacts) if isinstance(contacts, dict) else {}
    contacts[channel] = {
        "shown": shown[-most:] if most else [],
        "lately": log_lines.appended(entry.get("lately"), noted, MAX_LATELY),
    }
    record["contacts"] = contacts


def contacts_change(
    decisions: Mapping[str, Decision], channel: str, now: float, held: str | None
) -> Callable[[Record], Record]:
    """``note_contacts`` as a change of the record (``Visit.change``: replayed on a conflict)."""

    def change(record: Record) -> Record:
        note_contacts(record, decisions, channel, now, held)
        return record

    return change


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _stamp(value: Any) -> bool:
    # A Unix time a date can be made of (a record from elsewhere may hold anything).
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**33


def recent_contacts(record: Record) -> dict[str, list[dict[str, Any]]]:
    """Each channel's last decisions as kept (oldest first), malformed entries left out."""
    out: dict[str, list[dict[str, Any]]] = {}
    for channel in CUSTOMER_CHANNELS:
        kept = [
            e
            for e in log_lines.entries(_entry(record, channel).get("lately"))
            if _stamp(e.get("at")) and _text(e.get("reason"))
        ]
        if kept:
            out[channel] = kept
    return out
