"""Explicit preferences: what the visitor tells the site, kept as ``prefs`` in their record.

- ``prefs.interests`` maps a category to ``more`` (show me this) or ``less`` (do not); they
  override inferred interests (see interests.py);
- ``prefs.favourites`` and ``prefs.ratings``: products they saved or rated (explicit.py);
- ``prefs.<field>``: the site's own preference fields (preference_fields.py), such as a size;
- ``prefs.channels`` and ``prefs.time_zone``: which channels may personalize for them, how
  often and when (channel_prefs.py).

Changes come as a patch, checked whole before anything changes: a key set to None (JSON null)
is forgotten. The preferences of a record are read back cleaned: only keys that hold something
are there (``interests`` always).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opmaat.channel_prefs import clean_channels, patch_channels, valid_zone
from opmaat.explicit import favourites, ratings, removals
from opmaat.interests import category_key
from opmaat.preference_fields import FieldValueError, PreferenceField

INTEREST_CHOICES = ("more", "less")
MAX_PREFERRED = 30
OWN_KEYS = ("interests", "favourites", "ratings", "channels", "time_zone")
Fields = Mapping[str, PreferenceField]
NO_FIELDS: Fields = {}


class PreferenceError(ValueError):
    """A preference patch that cannot be applied; the message says what is wrong."""


def stored_prefs(record: Mapping[str, Any], fields: Fields = NO_FIELDS) -> dict[str, Any]:
    """The record's preferences (its ``prefs``), keeping only well-formed entries, and of the
    site's ``fields`` only values they still allow."""
    return _clean(record.get("prefs"), fields)


def _clean(prefs: Any, fields: Fields) -> dict[str, Any]:
    if not (type(prefs) is dict or isinstance(prefs, Mapping)):
        return {"interests": {}}
    interests = prefs.get("interests")
    clean: dict[str, Any] = {"interests": {}}
    if type(interests) is dict or isinstance(interests, Mapping):
        clean["interests"] = {
            k: v for k, v in interests.items() if category_key(k) == k and v in INTEREST_CHOICES
        }
    if prefs.keys() <= {"interests"}:
        return clean  # most visitors who chose anything chose topics only
    found = {
        "favourites": favourites(prefs),
        "ratings": ratings(prefs),
        "channels": clean_channels(prefs.get("channels")),
        "time_zone": prefs.get("time_zone") if valid_zone(prefs.get("time_zone")) else None,
    }
    clean.update((key, value) for key, value in found.items() if value)
    for name, field in fields.items():
        if field.allows(prefs.get(name)):
            clean[name] = prefs[name]
    return clean


def apply_patch(
    current: Mapping[str, Any], patch: Any, fields: Fields = NO_FIELDS
) -> dict[str, Any]:
    """``current`` preferences with ``patch`` applied; raises PreferenceError, changing nothing,
    when any part of the patch is invalid (the message names the field)."""
    if not isinstance(patch, Mapping):
        raise PreferenceError("prefs must be an object")
    unknown = [k for k in patch if k not in OWN_KEYS and k not in fields]
    if unknown:
        known = ", ".join((*OWN_KEYS, *fields))
        raise PreferenceError(f"unknown preference {str(unknown[0])[:40]!r}; known: {known}")
    out = _clean(current, fields)
    try:
        if "interests" in patch:
            out["interests"] = _interests(out["interests"], patch["interests"])
        if "favourites" in patch:
            gone = set(removals(patch["favourites"], "favourites"))
            out["favourites"] = [p for p in out.get("favourites", []) if p not in gone]
        if "ratings" in patch:
            gone = set(removals(patch["ratings"], "ratings"))
            out["ratings"] = {k: v for k, v in out.get("ratings", {}).items() if k not in gone}
        if "channels" in patch:
            out["channels"] = patch_channels(out.get("channels", {}), patch["channels"])
        if "time_zone" in patch:
            zone = patch["time_zone"]
            if zone is not None and not valid_zone(zone):
                raise ValueError("prefs.time_zone must be a time zone name like 'Europe/Amsterdam'")
            out["time_zone"] = zone
    except ValueError as exc:
        raise PreferenceError(str(exc)) from None
    for name, field in fields.items():
        if name in patch:
            out[name] = _field_value(field, patch[name])
    return {k: v for k, v in out.items() if k == "interests" or v not in (None, [], {})}


def _field_value(field: PreferenceField, value: Any) -> Any:
    if value is None:
        return None
    try:
        return field.value(value)
    except FieldValueError as exc:
        raise PreferenceError(f"prefs.{field.name} must be {exc}") from None


def _interests(current: Mapping[str, str], changes: Any) -> dict[str, str]:
    if not isinstance(changes, Mapping):
        raise ValueError("prefs.interests must be an object of category: more|less|null")
    interests = dict(current)
    for raw, choice in changes.items():
        key = category_key(raw)
        if key is None or key != raw:
            raise ValueError(
                f"prefs.interests: {str(raw)[:40]!r} is not a category "
                "(lower-case letters, digits, '-' or '_', at most 40)"
            )
        if choice is None:
            interests.pop(key, None)
        elif choice in INTEREST_CHOICES:
            interests[key] = choice
        else:
            raise ValueError(f"prefs.interests.{key} must be 'more', 'less' or null")
    if len(interests) > MAX_PREFERRED:
        raise ValueError(f"at most {MAX_PREFERRED} interest preferences")
    return interests
