"""Interests: what a visitor looks at, as scores that fade, and what they say they want.

Each view of a page or product in a category adds 1 to that category's score; scores halve
every ``half_life_days`` (exponential decay), so a score reads as "recent views". Explicit
preferences override inference: a wanted category scores at least ``WANTED_SCORE`` and ranks
first, an unwanted one is dropped whatever was inferred.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from opmaat.store import Record

MAX_INTERESTS = 30
WANTED_SCORE = 10.0
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_NUMBERS = (int, float)


def category_key(value: Any) -> str | None:
    """A category as interests key: lower-case slug of at most 40 characters, or None."""
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace(" ", "-")
    return key if _CATEGORY.fullmatch(key) and key != "top" else None


@lru_cache(maxsize=4096)
def _is_key(value: str) -> bool:
    # Stored keys repeat on every request: whether one is a category key, remembered.
    return category_key(value) == value


def _decayed(entry: Any, now: float, half_life_days: float) -> float:
    if not isinstance(entry, list) or len(entry) != 2:
        return 0.0
    score, stamp = entry
    if type(score) not in _NUMBERS or type(stamp) not in _NUMBERS:  # bool is not a number here
        return 0.0
    try:
        score, stamp = float(score), float(stamp)
    except OverflowError:  # an integer too large for a float: not something we wrote
        return 0.0
    if not (math.isfinite(score) and math.isfinite(stamp)):
        return 0.0
    age_days = max(0.0, now - stamp) / 86400
    value = score * math.pow(0.5, age_days / half_life_days)
    return value if math.isfinite(value) and value > 0 else 0.0


def note_interest(
    record: Record, category: Any, now: float, half_life_days: float, weight: float = 1.0
) -> None:
    """Add ``weight`` views of ``category`` to the record's interests (kept decayed to now)."""
    key = category_key(category)
    if key is None:
        return
    stored = record.get("interests")
    if not isinstance(stored, dict):
        stored = {}
    scores = {k: _decayed(v, now, half_life_days) for k, v in stored.items()}
    scores[key] = scores.get(key, 0.0) + weight
    kept = sorted(scores.items(), key=lambda kv: -kv[1])[:MAX_INTERESTS]
    record["interests"] = {k: [round(v, 4), round(now)] for k, v in kept if v >= 0.01}


def interest_attributes(
    record: Record, prefs: Mapping[str, Any], now: float, half_life_days: float
) -> dict[str, Any]:
    """The ``interests.*`` attributes: category -> score (2 decimals), and ``top``."""
    stored = record.get("interests")
    scores: dict[str, float] = {}
    if isinstance(stored, dict):
        for key, entry in stored.items():
            value = _decayed(entry, now, half_life_days)
            if value >= 0.01 and isinstance(key, str) and _is_key(key):
                scores[key] = value
    # A dict is checked first: an isinstance of an abstract class costs a Python call.
    is_mapping = type(prefs) is dict or isinstance(prefs, Mapping)
    choices = prefs.get("interests") if is_mapping else None
    wanted: set[str] = set()
    if type(choices) is dict or isinstance(choices, Mapping):
        for key, choice in choices.items():
            if choice == "less":
                scores.pop(key, None)
            elif choice == "more" and category_key(key) == key:
                wanted.add(key)
        floor = max([WANTED_SCORE, *scores.values()])
        for key in wanted:
            scores[key] = floor
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0] not in wanted, kv[0]))
    out: dict[str, Any] = {k: round(v, 2) for k, v in ranked}
    out["top"] = ranked[0][0] if ranked else None
    return out
