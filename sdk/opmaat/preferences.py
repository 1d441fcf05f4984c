"""Explicit preferences: what the visitor tells the site, kept as ``prefs`` in their record.

``prefs.interests`` maps a category to ``more`` (show me this) or ``less`` (do not); they
override inferred interests (see interests.py). Changes come as a patch: a category set to
None (JSON null) is forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opmaat.interests import category_key

INTEREST_CHOICES = ("more", "less")
MAX_PREFERRED = 30


class PreferenceError(ValueError):
    """A preference patch that cannot be applied; the message says what is wrong."""


def stored_prefs(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's preferences (its ``prefs``), keeping only well-formed entries."""
    return _clean(record.get("prefs"))


def _clean(prefs: Any) -> dict[str, Any]:
    interests = prefs.get("interests") if isinstance(prefs, Mapping) else None
    clean = {}
    if isinstance(interests, Mapping):
        clean = {
            k: v for k, v in interests.items() if category_key(k) == k and v in INTEREST_CHOICES
        }
    return {"interests": clean}


def apply_patch(current: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """``current`` preferences with ``patch`` applied; raises PreferenceError, changing nothing,
    when any part of the patch is invalid."""
    if not isinstance(patch, Mapping):
        raise PreferenceError("prefs must be an object")
    unknown = [k for k in patch if k != "interests"]
    if unknown:
        raise PreferenceError(f"unknown preference {str(unknown[0])[:40]!r}; known: interests")
    interests = dict(_clean(current)["interests"])
    changes = patch.get("interests", {})
    if not isinstance(changes, Mapping):
        raise PreferenceError("prefs.interests must be an object of category: more|less|null")
    for raw, choice in changes.items():
        key = category_key(raw)
        if key is None or key != raw:
            raise PreferenceError(
                f"prefs.interests: {str(raw)[:40]!r} is not a category "
                "(lower-case letters, digits, '-' or '_', at most 40)"
            )
        if choice is None:
            interests.pop(key, None)
        elif choice in INTEREST_CHOICES:
            interests[key] = choice
        else:
            raise PreferenceError(f"prefs.interests.{key} must be 'more', 'less' or null")
    if len(interests) > MAX_PREFERRED:
        raise PreferenceError(f"at most {MAX_PREFERRED} interest preferences")
    return {"interests": interests}
