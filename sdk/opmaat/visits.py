"""Visit and session history kept in the visitor's stored record."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from opmaat.identity import new_id
from opmaat.store import Record

MAX_SESSION_PAGES = 10
MAX_URL_CHARS = 1024


def as_count(value: Any) -> int:
    """A stored counter, or 0 when what is stored is not a whole number."""
    if type(value) is int:  # what a stored record holds: one check, no bool to rule out
        return value
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _iso(ts: int | float) -> str | None:  # an int as stored: exact, however large
    # Per whole second: a visitor's first visit repeats on every request, and the requests
    # of one second share their last_seen.
    try:
        second = math.floor(ts)
    except (ValueError, OverflowError):  # nan, infinity
        return None
    try:
        return _ISO[second]
    except KeyError:
        pass
    try:
        text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):  # not a time this record could hold
        text = None
    if len(_ISO) >= MAX_ISO:
        _ISO.clear()  # rarely; single dict operations are thread-safe
    _ISO[second] = text
    return text


MAX_ISO = 4096
_ISO: dict[int, str | None] = {}


def starts_new_session(
    record: Record, now: float, timeout_seconds: float, utm_campaign: str | None
) -> bool:
    """The web-analytics rule: 30 minutes of inactivity, or arriving with another campaign."""
    session = record.get("session")
    if not isinstance(session, dict):
        return True
    last = record.get("last_seen")
    if not isinstance(last, (int, float)) or now - last > timeout_seconds:
        return True
    return bool(utm_campaign) and utm_campaign != session.get("utm_campaign")


def record_pageview(
    record: Record | None,
    *,
    now: float,
    page_url: str | None,
    page_path: str | None,
    utm_campaign: str | None,
    timeout_seconds: float = 1800,
    count: bool = True,
) -> tuple[Record, bool]:
    """Add one page view to ``record`` (a new one if None); returns it and whether a session began.

    With ``count`` false the visit and session are opened if needed but no page view is added
    (a decision for a second set of slots on the same page).
    """
    rec: Record = record if isinstance(record, dict) else {}
    new_session = starts_new_session(rec, now, timeout_seconds, utm_campaign)
    if new_session:
        previous = rec.get("last_seen")
        rec["visits"] = as_count(rec.get("visits")) + 1
        rec.setdefault("first_seen", now)
        rec["session"] = {
            "id": new_id(6),
            "started": now,
            "pageviews": 0,
            "landing_url": (page_url or "")[:MAX_URL_CHARS],
            "pages": [],
            "utm_campaign": utm_campaign,
            "days_since_last_visit": (
                int((now - previous) // 86400) if isinstance(previous, (int, float)) else None
            ),
        }
    session = rec["session"]
    if count:
        session["pageviews"] = as_count(session.get("pageviews")) + 1
        if page_path:
            pages = session.get("pages")
            pages = [p for p in pages if isinstance(p, str)] if isinstance(pages, list) else []
            pages.append(page_path[:MAX_URL_CHARS])
            session["pages"] = pages[-MAX_SESSION_PAGES:]
    rec["last_seen"] = now
    return rec, new_session


def visit_attributes(record: Record, visitor_id: str | None) -> dict[str, Any]:
    """The ``visitor.*`` and ``session.*`` attributes conditions and templates see."""
    session = record.get("session")
    if not isinstance(session, dict):
        session = {}
    visits = as_count(record.get("visits"))
    first, last = record.get("first_seen"), record.get("last_seen")
    pages = session.get("pages")
    days = session.get("days_since_last_visit")
    session_id = session.get("id")
    landing = session.get("landing_url")
    return {
        "visitor": {
            "id": visitor_id,
            "new": visits <= 1,
            "visits": visits,
            "first_seen": _iso(first) if isinstance(first, (int, float)) else None,
            "last_seen": _iso(last) if isinstance(last, (int, float)) else None,
            "days_since_last_visit": days if as_count(days) == days else None,
        },
        "session": {
            "id": session_id if isinstance(session_id, str) else None,
            "pageviews": as_count(session.get("pageviews")),
            "landing_url": landing if isinstance(landing, str) else None,
            "pages": [p for p in pages if isinstance(p, str)] if isinstance(pages, list) else [],
        },
    }
