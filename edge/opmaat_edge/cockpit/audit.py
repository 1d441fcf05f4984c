"""The audit log: every change anyone makes (publish, archive, restore, a file changed outside
the cockpit, pause, resume, PURLs handed out, user changes, logins and logouts), with who,
when, what in a line and in detail; each entry has a lasting address, ``/cockpit/audit/ID``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opmaat_edge.cockpit.ledger import AuditEntry, Ledger, LedgerUnavailable

log = logging.getLogger("opmaat.cockpit")
PAGE = 50


async def record(
    ledger: Ledger,
    user: str,
    action: str,
    target: str,
    summary: str,
    details: dict[str, Any] | None = None,
) -> int:
    """Keep one entry; its id. LedgerUnavailable propagates."""
    entry = AuditEntry(time.time(), user, action, target, summary, details or {})
    number = await ledger.audit(entry)
    log.info("cockpit audit #%d: %s %s %s", number, user, action, target)
    return number


async def record_or_log(
    ledger: Ledger,
    user: str,
    action: str,
    target: str,
    summary: str,
    details: dict[str, Any] | None = None,
) -> int | None:
    """``record`` for what is done already (a login, a pause): when the log cannot be
    written, the edge's own log says what was not kept."""
    try:
        return await record(ledger, user, action, target, summary, details)
    except LedgerUnavailable as exc:
        log.error("cockpit: the audit log could not keep %s %s %s: %s", user, action, target, exc)
        return None
