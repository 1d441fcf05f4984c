"""``GET /p/<token>``: a personalized landing URL from an email or a printed mailing.

A good token links the visitor to its recipient (``purl.*``: the campaign and the columns it
exposes, never a customer record) and sends them to the campaign's landing page. A token that
is broken, expired or unknown sends them to the same page (or the site's home) without
personalization: never an error page. Where a link goes is always taken from the campaign
file, never from the request, so the route cannot redirect anywhere else.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from opmaat.purl import unsigned_key
from opmaat.store import Record
from opmaat_edge.state import edge_state
from opmaat_edge.visit import finish, open_visit

log = logging.getLogger("opmaat.edge")

HOME = "/"
HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",  # the token must not travel on to the landing page
    "X-Content-Type-Options": "nosniff",
}


async def land(request: Request) -> Response:
    state = edge_state(request)
    runtime = state.runtime.current  # one campaign file for the whole request
    campaigns = runtime.campaigns
    token = request.path_params.get("token", "")
    found = campaigns.recipients.get(unsigned_key(token) or "")
    campaign = runtime.engine.campaign(found[0]) if found is not None else None
    if campaign is None or campaign.purl is None or found is None:
        return _go(HOME)
    landing = campaign.purl.landing
    ttl = campaign.purl.expires_days * 86400.0
    key, status = state.purl_signer.verify(token, ttl)
    if status != "ok" or key is None or request.method == "HEAD":  # HEAD: link checkers
        log.info(
            "purl: %s link of campaign %s; landing without personalization", status, campaign.id
        )
        return _go(landing)
    visit = await open_visit(request)
    if not visit.consent.stores:
        return finish(visit, _go(landing))
    try:
        distinct = await visit.personalizer.store.note_visitor(
            f"purl:{key}", visit.ident.visitor_id, ttl
        )
        forwarded = distinct > campaigns.site.purl_forward_limit
    except Exception:
        visit.personalizer.store_failed()
        log.warning("purl: cannot count the link's visitors; not personalizing by name")
        forwarded = True
    visit.open_record()
    now = time.time()

    # Only the link is kept, never who it was made for: a link is no proof of who opens it,
    # so it links no customer record (purl.* shows the columns the campaign exposes).
    def link(record: Record) -> Record:
        # A visitor who had the link before it spread stays its recipient.
        previous = record.get("purl")
        kept = (
            isinstance(previous, dict)
            and previous.get("key") == key
            and previous.get("forwarded") is False
        )
        record["purl"] = {
            "key": key,
            "campaign": campaign.id,
            "at": int(now),
            "forwarded": forwarded and not kept,
        }
        return record

    visit.change(link)
    await visit.save()
    return finish(visit, _go(landing))


def _go(location: str) -> Response:
    return RedirectResponse(location, status_code=303, headers=HEADERS)
