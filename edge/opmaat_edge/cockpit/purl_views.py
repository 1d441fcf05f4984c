"""Personal links (PURLs) in the cockpit: upload a recipients CSV for a campaign with a
``purl`` section and download it back with a link per recipient, by the same rules as
`opmaat purl create` (links already made are kept; rows with mistakes are listed and left
out). The list holds personal data: publishers only."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from opmaat.campaigns.model import Campaign
from opmaat.errors import ConfigError, Problem
from opmaat.files import write_atomic
from opmaat.purl import PurlSigner, create_recipients, links_by_id, where_links_land
from opmaat_edge.cockpit import pages
from opmaat_edge.cockpit.access import Caller, guarded
from opmaat_edge.cockpit.audit import record_or_log
from opmaat_edge.http import ApiError
from opmaat_edge.state import edge_state

MAX_CSV_BYTES = 8 * 1024 * 1024
SHOWN_PROBLEMS = 50


def _campaign(request: Request) -> Campaign:
    engine = edge_state(request).runtime.current.engine
    campaign = engine.campaign(request.path_params["campaign_id"])
    if campaign is None or campaign.purl is None:
        raise ApiError(404, "no campaign with a purl section by this id")
    return campaign


def _count(campaign: Campaign) -> int | None:
    assert campaign.purl is not None
    try:
        return len(links_by_id(campaign.purl.recipients.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return None


async def _page(
    request: Request,
    caller: Caller,
    campaign: Campaign,
    *,
    result: dict[str, Any] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    return pages.page(
        request,
        "purl.html",
        {
            "csrf": caller.csrf,
            "who": caller.who,
            "campaign": campaign,
            "links": await asyncio.to_thread(_count, campaign),
            "base_url": str(request.base_url).rstrip("/"),
            "result": result,
            "error": error,
        },
        status=status,
    )


async def _show(request: Request, caller: Caller) -> Response:
    return await _page(request, caller, _campaign(request))


async def _upload(request: Request, caller: Caller) -> Response:
    state = edge_state(request)
    campaign = _campaign(request)
    assert campaign.purl is not None
    text = caller.field("csv").replace("\r\n", "\n").lstrip("\ufeff")
    base_url = caller.field("base_url").strip() or str(request.base_url).rstrip("/")
    if not text.strip():
        return await _page(request, caller, campaign, error="Choose or paste a CSV.", status=400)
    target = campaign.purl.recipients

    def make() -> tuple[str, list[Problem], int]:
        try:
            previous = links_by_id(target.read_text(encoding="utf-8")) if target.exists() else {}
        except (OSError, UnicodeDecodeError):
            previous = {}
        return create_recipients(
            text,
            filename="the uploaded CSV",
            base_url=base_url,
            signer=PurlSigner(state.settings.secret_keys),
            previous=previous,
            expose=campaign.purl.expose if campaign.purl is not None else (),
        )

    try:
        written, problems, issued = await asyncio.to_thread(make)
    except ConfigError as exc:
        return await _page(request, caller, campaign, error=str(exc), status=400)
    if not links_by_id(written):
        shown = [str(p) for p in problems[:SHOWN_PROBLEMS]]
        error = "No recipient could get a link; nothing was changed. " + " ".join(shown)
        return await _page(request, caller, campaign, error=error, status=400)
    try:
        await asyncio.to_thread(write_atomic, target, written)
    except OSError as exc:
        error = f"The recipients file could not be written: {exc.strerror or exc}"
        return await _page(request, caller, campaign, error=error, status=503)
    # The edge follows the file; this node takes it at once.
    await asyncio.to_thread(state.runtime.reload_if_changed)
    lands, warning = where_links_land(
        campaign.purl.landing, state.runtime.current.campaigns.site.hosts, base_url
    )
    await record_or_log(
        caller.ledger,
        caller.who.shown,
        "purl",
        campaign.id,
        f"{issued} new personal link(s) for {campaign.id}; {len(problems)} row(s) left out",
        {"issued": issued, "left_out": len(problems)},
    )
    result = {
        "issued": issued,
        "problems": [str(p) for p in problems[:SHOWN_PROBLEMS]],
        "more": max(0, len(problems) - SHOWN_PROBLEMS),
        "lands": lands,
        "warning": warning,
    }
    return await _page(request, caller, campaign, result=result)


async def _download(request: Request, caller: Caller) -> Response:
    campaign = _campaign(request)
    assert campaign.purl is not None
    try:
        body = await asyncio.to_thread(campaign.purl.recipients.read_bytes)
    except OSError:
        raise ApiError(404, "no recipients file yet: upload a CSV first") from None
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{campaign.id}-links.csv"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


routes: list[BaseRoute] = [
    Route("/cockpit/campaigns/{campaign_id}/purl", guarded(_show, "publisher"), methods=["GET"]),
    Route(
        "/cockpit/campaigns/{campaign_id}/purl",
        guarded(_upload, "publisher", form_bytes=MAX_CSV_BYTES),
        methods=["POST"],
    ),
    Route(
        "/cockpit/campaigns/{campaign_id}/purl/links.csv",
        guarded(_download, "publisher"),
        methods=["GET"],
    ),
]
