"""Versions and the audit log: every state the campaign file had (who, when, what changed,
field by field and as a diff), restoring any of them in one step (publishers), and the log of
every change, each entry at its own address, downloadable as JSON lines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from opmaat_edge.cockpit import pages
from opmaat_edge.cockpit.access import Caller, guarded
from opmaat_edge.cockpit.audit import PAGE
from opmaat_edge.cockpit.changes import file_changes, unified
from opmaat_edge.cockpit.ledger import LedgerBusy, LedgerUnavailable
from opmaat_edge.cockpit.publish import Outcome, refresh, restore, sync
from opmaat_edge.http import ApiError
from opmaat_edge.state import edge_state

log = logging.getLogger("opmaat.cockpit")


def _number(text: str | None, what: str) -> int | None:
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise ApiError(400, f"{what}: a whole number")
    return int(text)


async def _head(request: Request, caller: Caller) -> tuple[int, str]:
    state = edge_state(request)
    await refresh(state)
    return await sync(state, caller.ledger)


async def _versions(request: Request, caller: Caller) -> Response:
    head = await _head(request, caller)
    before = _number(request.query_params.get("before"), "before")
    newest = min(head[0], before - 1) if before is not None else head[0]
    versions = await caller.ledger.versions(newest, PAGE)
    return pages.page(
        request,
        "versions.html",
        {
            "csrf": caller.csrf,
            "who": caller.who,
            "versions": versions,
            "head": head[0],
            "older": versions[-1].number if versions and versions[-1].number > 1 else None,
            "where": caller.ledger.where,
        },
    )


async def _version(request: Request, caller: Caller, outcome: Outcome | None = None) -> Response:
    head = await _head(request, caller)
    number = _number(request.path_params["number"], "version")
    version = await caller.ledger.version(number or 0)
    if version is None:
        raise ApiError(404, "no such version")
    previous = await caller.ledger.version(version.number - 1)
    newest = await caller.ledger.version(head[0])
    name = Path(edge_state(request).settings.config).name
    return pages.page(
        request,
        "version.html",
        {
            "csrf": caller.csrf,
            "who": caller.who,
            "version": version,
            "head": head[0],
            "diff": unified(previous.text, version.text, name) if previous is not None else "",
            # What restoring it would do to the file as it is now.
            "restore_changes": file_changes(newest.text, version.text)
            if newest is not None and newest.number != version.number
            else [],
            "restore_diff": unified(newest.text, version.text, name)
            if newest is not None and newest.number != version.number
            else "",
            "published": request.query_params.get("published") == "1",
            "outcome": outcome,
        },
        status=outcome.status if outcome is not None else 200,
    )


async def _page(request: Request, caller: Caller) -> Response:
    return await _version(request, caller)


async def _restore(request: Request, caller: Caller) -> Response:
    number = _number(request.path_params["number"], "version") or 0
    seen = _number(caller.field("head"), "head")
    if seen is None:
        raise ApiError(400, "head: the newest version you saw")
    try:
        outcome = await restore(edge_state(request), caller.ledger, number, seen, caller.who)
    except LedgerBusy:
        outcome = Outcome(problem="another publish is running: try again in a moment", status=503)
    if not outcome.ok:
        return await _version(request, caller, outcome)
    assert outcome.version is not None
    return RedirectResponse(
        f"/cockpit/versions/{outcome.version.number}?published=1", status_code=303
    )


async def _audit(request: Request, caller: Caller) -> Response:
    before = _number(request.query_params.get("before"), "before")
    entries = await caller.ledger.audit_entries(before, PAGE)
    return pages.page(
        request,
        "audit.html",
        {
            "csrf": caller.csrf,
            "who": caller.who,
            "entries": entries,
            "older": entries[-1].id if len(entries) == PAGE and entries[-1].id > 1 else None,
            "where": caller.ledger.where,
        },
    )


async def _audit_entry(request: Request, caller: Caller) -> Response:
    number = _number(request.path_params["entry"], "entry") or 0
    entry = await caller.ledger.audit_entry(number)
    if entry is None:
        raise ApiError(404, "no such entry")
    return pages.page(
        request, "audit_entry.html", {"csrf": caller.csrf, "who": caller.who, "entry": entry}
    )


async def _audit_lines(request: Request, caller: Caller) -> Response:
    async def lines() -> AsyncIterator[str]:
        try:
            async for line in caller.ledger.audit_lines():
                yield line
        except LedgerUnavailable as exc:  # the answer has begun: it ends short
            log.error("cockpit: the audit log download stopped: %s", exc)

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": 'attachment; filename="opmaat-audit.jsonl"',
            "X-Content-Type-Options": "nosniff",
            **pages.PAGE_SECURITY,
        },
    )


routes: list[BaseRoute] = [
    Route("/cockpit/versions", guarded(_versions), methods=["GET"]),
    Route("/cockpit/versions/{number}", guarded(_page), methods=["GET"]),
    Route("/cockpit/versions/{number}/restore", guarded(_restore, "publisher"), methods=["POST"]),
    Route("/cockpit/audit", guarded(_audit), methods=["GET"]),
    Route("/cockpit/audit.jsonl", guarded(_audit_lines), methods=["GET"]),
    Route("/cockpit/audit/{entry}", guarded(_audit_entry), methods=["GET"]),
]
