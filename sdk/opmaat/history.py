"""The visitor's recent personalized decisions: which campaign each slot showed and why, for
the privacy page. Slots that kept their standard content are not kept (they are most of the
decisions, and say nothing about the visitor)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opmaat import log_lines
from opmaat.engine import Decision
from opmaat.store import HOLDOUT_ARM, Record
from opmaat.visits import as_count

MAX_DECISIONS = 10


def note_decisions(
    record: Record, decisions: Mapping[str, Decision], *, path: str | None, tier: str, now: float
) -> None:
    """Append this page's personalized decisions (newest last) to the record, keeping the
    last ``MAX_DECISIONS`` (as JSON lines: log_lines)."""
    noted = [
        {
            "at": int(now),
            "path": (path or "")[:200],
            "slot": decision.slot,
            "campaign": decision.campaign,
            "variant": decision.variant,
            "holdout": decision.holdout,
            "reason": decision.reason,
            "consent": tier,
        }
        for decision in decisions.values()
        if decision.campaign is not None
    ]
    if noted:
        record["decisions"] = log_lines.appended(record.get("decisions"), noted, MAX_DECISIONS)


def recent_decisions(record: Record) -> list[dict[str, Any]]:
    """The stored decisions, oldest first; malformed entries are left out."""
    return [d for d in log_lines.entries(record.get("decisions")) if isinstance(d.get("slot"), str)]


def note_adaptive(record: Record, chosen: Mapping[str, str]) -> None:
    """Remember the variant each adaptive campaign showed in this record's session (it
    sticks for the session)."""
    session = record.get("session")
    session_id = session.get("id") if isinstance(session, dict) else None
    if not isinstance(session_id, str):
        return
    for campaign, variant in chosen.items():
        response_entry(record, campaign)["adaptive"] = {"session": session_id, "variant": variant}


def response_entry(record: Record, campaign: str) -> dict[str, Any]:
    """The record's ``response.<campaign>`` entry, made (with zero counts) if it has none."""
    responses = record.get("response")
    if not isinstance(responses, dict):
        responses = record["response"] = {}
    entry = responses.get(campaign)
    if not isinstance(entry, dict):
        entry = responses[campaign] = {"impressions": 0, "clicks": 0, "conversions": 0}
    return entry


def note_arms(record: Record, decisions: Mapping[str, Decision]) -> list[tuple[str, str, str]]:
    """Note the arm (variant, or the holdout) each decided campaign put this visitor in; the
    ``visitors`` tallies to count for arms the visitor was not in yet."""
    tallies: list[tuple[str, str, str]] = []
    for decision in decisions.values():
        if decision.campaign is None or (decision.variant is None and not decision.holdout):
            continue
        arm = HOLDOUT_ARM if decision.holdout else str(decision.variant)
        entry = response_entry(record, decision.campaign)
        entry["arm"] = arm
        # Every arm the visitor was in (an adaptive campaign may change it per session): each
        # counts them once.
        seen = _arms(entry.get("arms"))
        if arm not in seen:
            entry["arms"] = [*seen, arm][-MAX_ARMS:]
            tallies.append((decision.campaign, arm, "visitors"))
    return tallies


MAX_ARMS = 20


def _arms(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def note_conversion(entry: dict[str, Any], campaign: str) -> list[tuple[str, str | None, str]]:
    """Count a goal reached for the campaign whose response entry this is: a conversion for
    the variant the visitor was shown (if an impression or click named one), and a converted
    visitor, the first time in each arm, for the arm the visitor is in (holdout included)."""
    tallies: list[tuple[str, str | None, str]] = []
    variant = entry.get("variant")
    if isinstance(variant, str):
        entry["conversions"] = as_count(entry.get("conversions")) + 1
        tallies.append((campaign, variant, "conversions"))
    arm = entry.get("arm")
    converted = _arms(entry.get("converted"))
    if isinstance(arm, str) and arm not in converted:
        entry["converted"] = [*converted, arm][-MAX_ARMS:]
        tallies.append((campaign, arm, "converted"))
    return tallies
