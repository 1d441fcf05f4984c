"""Drafts and publishing: the list of drafts (and of archived campaigns), one draft with what
it changes (field by field and as a diff of the file) and what `opmaat check` says of it,
and the buttons to publish it (publishers), begin it anew from the file, or discard it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from opmaat_edge.cockpit import pages
from opmaat_edge.cockpit.access import Caller, guarded
from opmaat_edge.cockpit.changes import field_changes, unified
from opmaat_edge.cockpit.drafts import DraftConflict, discard, rebase
from opmaat_edge.cockpit.ledger import Draft, LedgerBusy, text_hash
from opmaat_edge.cockpit.publish import Outcome, Refused, merge, publish, refresh
from opmaat_edge.cockpit.review import check_text
from opmaat_edge.cockpit.yaml_edit import EditError, campaign_specs, find_spec, rewrite
from opmaat_edge.http import ApiError
from opmaat_edge.state import edge_state


async def _list(request: Request, caller: Caller) -> Response:
    await refresh(edge_state(request))
    drafts = await caller.ledger.drafts()
    archived = await caller.ledger.archived()
    text = edge_state(request).runtime.current.text
    ids = {c.get("id") for c in campaign_specs(text)}
    return pages.page(
        request,
        "drafts.html",
        {
            "csrf": caller.csrf,
            "who": caller.who,
            "drafts": drafts,
            "stale": {d.campaign for d in drafts if d.base_hash != text_hash(text)},
            "archived": {k: v for k, v in sorted(archived.items()) if k not in ids},
        },
    )


async def _draft_or_404(caller: Caller, campaign: str) -> Draft:
    draft = await caller.ledger.draft(campaign)
    if draft is None:
        raise ApiError(404, "no draft for this campaign")
    return draft


async def _show(request: Request, caller: Caller, outcome: Outcome | None = None) -> Response:
    state = edge_state(request)
    if outcome is None:
        await refresh(state)
    campaign = request.path_params["campaign_id"]
    draft = await caller.ledger.draft(campaign)
    if draft is None:
        if outcome is None:
            raise ApiError(404, "no draft for this campaign")
        return pages.refused(request, {"problem": outcome.problem}, outcome.status)
    text = state.runtime.current.text
    current = find_spec(text, campaign)
    conflicts: list[dict[str, Any]] = []
    problem = ""
    candidate = None
    try:
        spec = merge(draft, current)
        candidate = rewrite(text, campaign, spec, after=draft.after)
    except Refused as exc:
        conflicts, problem = exc.outcome.conflicts, exc.outcome.problem
    except EditError as exc:
        problem = str(exc)
    checked = None
    if candidate is not None:
        checked = await asyncio.to_thread(check_text, Path(state.settings.config), candidate)
    if outcome is not None:
        problem = outcome.problem or problem
        conflicts = outcome.conflicts or conflicts
        checked = outcome.checked or checked
    status = outcome.status if outcome is not None else 200
    return pages.page(
        request,
        "draft.html",
        {
            "csrf": caller.csrf,
            "who": caller.who,
            "draft": draft,
            "changes": field_changes(current, draft.spec) if draft.spec is not None else [],
            "meanwhile": field_changes(draft.base_spec, current)
            if draft.base_hash != text_hash(text) and draft.base_spec is not None
            else [],
            "stale": draft.base_hash != text_hash(text),
            "diff": unified(text, candidate, Path(state.settings.config).name)
            if candidate is not None
            else "",
            "checked": checked,
            "conflicts": conflicts,
            "problem": problem,
            "saved": request.query_params.get("saved") == "1",
        },
        status=status,
    )


async def _page(request: Request, caller: Caller) -> Response:
    return await _show(request, caller)


def _revision(caller: Caller) -> int:
    try:
        return int(caller.field("revision"))
    except ValueError:
        raise ApiError(400, "revision: a whole number") from None


async def _publish(request: Request, caller: Caller) -> Response:
    campaign = request.path_params["campaign_id"]
    await _draft_or_404(caller, campaign)
    keep_mine = caller.field("keep") == "mine"
    try:
        outcome = await publish(
            edge_state(request),
            caller.ledger,
            campaign,
            _revision(caller),
            caller.who,
            keep_mine=keep_mine,
        )
    except LedgerBusy:
        outcome = Outcome(problem="another publish is running: try again in a moment", status=503)
    if not outcome.ok:
        return await _show(request, caller, outcome)
    assert outcome.version is not None
    return RedirectResponse(
        f"/cockpit/versions/{outcome.version.number}?published=1", status_code=303
    )


async def _discard(request: Request, caller: Caller) -> Response:
    campaign = request.path_params["campaign_id"]
    await discard(caller.ledger, campaign, caller.who)
    return RedirectResponse("/cockpit/drafts", status_code=303)


async def _rebase(request: Request, caller: Caller) -> Response:
    campaign = request.path_params["campaign_id"]
    draft = await _draft_or_404(caller, campaign)
    if draft.revision != _revision(caller):
        return await _show(
            request,
            caller,
            Outcome(problem="the draft was changed meanwhile: look at it again", status=409),
        )
    try:
        await rebase(caller.ledger, draft, edge_state(request).runtime.current.text, caller.who)
    except DraftConflict:
        return await _show(
            request,
            caller,
            Outcome(problem="the draft was changed meanwhile: look at it again", status=409),
        )
    return RedirectResponse(f"/cockpit/drafts/{quote(campaign)}", status_code=303)


routes: list[BaseRoute] = [
    Route("/cockpit/drafts", guarded(_list), methods=["GET"]),
    Route("/cockpit/drafts/{campaign_id}", guarded(_page), methods=["GET"]),
    Route(
        "/cockpit/drafts/{campaign_id}/publish", guarded(_publish, "publisher"), methods=["POST"]
    ),
    Route("/cockpit/drafts/{campaign_id}/discard", guarded(_discard, "editor"), methods=["POST"]),
    Route("/cockpit/drafts/{campaign_id}/rebase", guarded(_rebase, "editor"), methods=["POST"]),
]
