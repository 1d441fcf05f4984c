"""``GET /`` on an edge that serves no demo: a small page that says what this server is and
where its privacy page, cockpit and docs are (a PURL whose landing is a bare path, opened on
the edge's own host, lands here rather than on a JSON 404)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from opmaat_edge.resources import TEMPLATES
from opmaat_edge.state import edge_state

templates = Jinja2Templates(directory=str(TEMPLATES))
DOCS = "https://github.com/opmaat/opmaat/tree/main/docs"
PAGE_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-cache",
}


async def page(request: Request) -> Response:
    site = edge_state(request).runtime.current.campaigns.site
    return templates.TemplateResponse(
        request,
        "edge/home.html",
        {"site": site.name or "this site", "docs": DOCS},
        headers=PAGE_SECURITY,
    )
