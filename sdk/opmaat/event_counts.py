"""Counts of named events in time windows, and visit milestones.

Record layout::

    record["events"] = {name: [[bucket_hour, count], ...]}   # oldest bucket first
    record["session"]["events"] = {name: count}               # counters of this session

``bucket_hour = int(now // 3600)`` (hours since the epoch, UTC). When an event is noted the
name's buckets are compacted, and every name's once an hour (``record["events_hour"]`` says
in which hour they last were): a bucket younger than 24 hours (``hour > now_hour - 24``) stays
hourly; an older one is folded into one bucket per UTC day, keyed by that day's first hour
(``hour // 24 * 24``); a bucket whose key is 720 hours (30 days) old or older is dropped.
At most ``MAX_EVENT_NAMES`` names are kept (the names whose newest bucket is oldest go first),
and at most as many session counters (the least recently noted go first).

Windows, with ``now_hour = int(now // 3600)``::

    count_1d  = sum(count for hour, count in buckets if hour > now_hour - 24)
    count_7d  = sum(count for hour, count in buckets if hour > now_hour - 168)
    count_30d = sum(count for hour, count in buckets if hour > now_hour - 720)

Within the last day the windows are hour-exact. Beyond it they are day-granular: a folded day
counts whole when its key (the day's first hour) is inside the window and not at all
otherwise, so the oldest partial day of the 7- and 30-day windows may be left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeGuard

from opmaat.store import Record
from opmaat.visits import as_count

MAX_EVENT_NAMES = 40
HOURS_HOURLY = 24
HOURS_KEPT = 720
HOURS_WEEK = 168
# The windows by attribute name (event_attributes counts them in one pass).
WINDOWS = {"count_1d": HOURS_HOURLY, "count_7d": HOURS_WEEK, "count_30d": HOURS_KEPT}
# The record's key for the hour (since the epoch) its event buckets were last compacted in.
COMPACTED = "events_hour"


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _buckets(value: Any) -> list[tuple[int, int]]:
    """The well-formed ``[hour, count]`` pairs of a stored bucket list (count at least 1)."""
    if not isinstance(value, list):
        return []
    out: list[tuple[int, int]] = []
    for bucket in value:
        if isinstance(bucket, (list, tuple)) and len(bucket) == 2:
            hour, count = bucket
            if _is_int(hour) and _is_int(count) and count >= 1:
                out.append((hour, count))
    return out


def _compact(buckets: list[tuple[int, int]], now_hour: int) -> list[list[int]]:
    merged: dict[int, int] = {}
    for hour, count in buckets:
        key = hour if hour > now_hour - HOURS_HOURLY else hour // 24 * 24
        if key > now_hour - HOURS_KEPT:
            merged[key] = merged.get(key, 0) + count
    return [[key, merged[key]] for key in sorted(merged)]


def _newest_hour(buckets: Any) -> int:
    last = buckets[-1] if isinstance(buckets, list) and buckets else None
    hour = last[0] if isinstance(last, (list, tuple)) and len(last) == 2 else None
    return hour if _is_int(hour) else -1


def _session_events(record: Record) -> dict[str, int] | None:
    """The session's counters (well-formed ones only), or None when there is no session."""
    session = record.get("session")
    if not isinstance(session, dict):
        return None
    stored = session.get("events")
    if not isinstance(stored, dict):
        return {}
    # type() is int: a whole number, and no bool (what as_count takes, without its calls).
    return {k: v for k, v in stored.items() if type(v) is int and v > 0 and type(k) is str}


def note_event(record: Record, name: str, now: float, n: int = 1) -> None:
    """Add ``n`` occurrences of ``name`` at ``now`` (and to the session's counter).

    The name is not checked here (callers do); ``n`` below 1 adds nothing.
    """
    if n < 1:
        return
    now_hour = int(now // 3600)
    stored = record.get("events")
    if not isinstance(stored, dict):
        stored = {}
    kept: dict[str, Any]
    if record.get(COMPACTED) == now_hour:
        # Every name was compacted in this hour already, and compacting again in the same
        # hour changes nothing: only the noted name's buckets change.
        kept = dict(stored)
    else:
        kept = {}
        for key, value in stored.items():
            if isinstance(key, str):
                buckets = _compact(_buckets(value), now_hour)
                if buckets:
                    kept[key] = buckets
        record[COMPACTED] = now_hour
    mine = _buckets(kept.get(name))
    mine.append((now_hour, n))
    kept[name] = _compact(mine, now_hour)
    if len(kept) > MAX_EVENT_NAMES:
        # Newest bucket newest first; on a tie the name just noted stays, then stored order.
        ranked = sorted(kept, key=lambda k: (-_newest_hour(kept[k]), k != name))
        keep = set(ranked[:MAX_EVENT_NAMES])
        kept = {k: v for k, v in kept.items() if k in keep}
    record["events"] = kept

    counters = _session_events(record)
    if counters is not None:
        count = counters.pop(name, 0) + n
        counters[name] = count  # last: the most recently noted
        record["session"]["events"] = dict(list(counters.items())[-MAX_EVENT_NAMES:])


def session_counts(record: Record) -> dict[str, int]:
    """This session's counters by event name (well-formed ones only)."""
    return _session_events(record) or {}


def session_count(record: Record, name: str) -> int:
    """How many times ``name`` was noted in the current session (0 when unknown)."""
    counters = _session_events(record)
    return counters.get(name, 0) if counters else 0


def event_attributes(
    record: Record, now: float, names: Iterable[str] = (), *, only: Iterable[str] | None = None
) -> dict[str, dict[str, int]]:
    """``{name: {count_1d, count_7d, count_30d, session}}`` for every stored name (in the
    record's history or the session's counters) and every name in ``names``; with ``only``,
    for those names alone."""
    now_hour = int(now // 3600)
    stored = record.get("events")
    if not isinstance(stored, dict):
        stored = {}
    counters = _session_events(record) or {}
    if only is not None:
        wanted = [k for k in only if isinstance(k, str)]
    else:
        wanted = [k for k in stored if isinstance(k, str)]
        wanted += [k for k in counters if k not in stored]
        wanted += [k for k in names if isinstance(k, str)]
    out: dict[str, dict[str, int]] = {}
    for name in wanted:
        if name in out:
            continue
        day = week = month = 0  # one pass over the buckets, for the three windows
        for hour, count in _buckets(stored.get(name)):
            age = now_hour - hour
            if age < HOURS_KEPT:
                month += count
                if age < HOURS_WEEK:
                    week += count
                    if age < HOURS_HOURLY:
                        day += count
        out[name] = {
            "count_1d": day,
            "count_7d": week,
            "count_30d": month,
            "session": counters.get(name, 0),
        }
    return out


def milestone_attributes(record: Record) -> dict[str, bool]:
    """Visit milestones: which visit this is, and whether the visitor is back after a while."""
    visits = as_count(record.get("visits"))
    session = record.get("session")
    days = session.get("days_since_last_visit") if isinstance(session, dict) else None
    away = days if _is_int(days) else -1  # -1: unknown (not a whole number of days)
    return {
        "first_visit": visits == 1,
        "second_visit": visits == 2,
        "third_visit": visits == 3,
        "tenth_visit": visits == 10,
        "back_after_7_days": away >= 7,
        "back_after_30_days": away >= 30,
    }
