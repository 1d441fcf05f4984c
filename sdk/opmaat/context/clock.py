"""The visitor's local time, from the time zone geo found for them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# IANA names are short ("America/Argentina/ComodRivadavia" is among the longest).
MAX_ZONE_CHARS = 64


def local_time(now: datetime, timezone: str | None) -> dict[str, Any]:
    """``hour`` (0-23), ``weekday`` (``"monday"`` ... ``"sunday"``) and ``local`` (ISO 8601 with
    the offset, to the second) of ``now`` in ``timezone``, an IANA name such as
    ``Europe/Amsterdam``.

    A missing, unknown or malformed time zone gives UTC; a naive ``now`` is taken as UTC.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    name = timezone if isinstance(timezone, str) and len(timezone) <= MAX_ZONE_CHARS else None
    return dict(_local_time(math.floor(now.timestamp()), name))


# Requests of the same second in the same zone (a busy site has many) share one answer; keyed
# by the second since the epoch (a datetime hashes slower than an int).
@lru_cache(maxsize=1024)
def _local_time(second: int, timezone: str | None) -> dict[str, Any]:
    local = datetime.fromtimestamp(second, zone(timezone))
    return {
        "hour": local.hour,
        "weekday": WEEKDAYS[local.weekday()],
        "local": local.isoformat(timespec="seconds"),
    }


def zone(name: str | None) -> tzinfo:
    """The time zone called ``name``, or UTC when there is none by that name."""
    if not name or not isinstance(name, str) or len(name) > MAX_ZONE_CHARS:
        return UTC
    return _zone(name)


@lru_cache(maxsize=512)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        # Unknown names raise ZoneInfoNotFoundError (a KeyError), path-like ones ValueError,
        # directory names (Europe) IsADirectoryError.
        return UTC
