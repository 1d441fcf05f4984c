"""The demo shop: a few server-rendered pages with slots, wired to the demo campaigns."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from opmaat.adaptive import Posterior, traffic_shares
from opmaat.middleware import OpmaatMiddleware
from opmaat.personalizer import Personalizer
from opmaat_edge.cockpit.preview import PREVIEW_COOKIE, read_preview_cookie
from opmaat_edge.resources import DEMO, TEMPLATES
from opmaat_edge.state import edge_state

templates = Jinja2Templates(directory=str(TEMPLATES))


@dataclass(frozen=True, slots=True)
class Catalog:
    categories: dict[str, dict[str, Any]]
    products: dict[str, dict[str, Any]]

    def in_category(self, category: str) -> list[dict[str, Any]]:
        return [p for p in self.products.values() if p["category"] == category]


@cache
def catalog() -> Catalog:
    data = yaml.safe_load((DEMO / "catalog.yaml").read_text(encoding="utf-8"))
    return Catalog(data["categories"], {p["id"]: p for p in data["products"]})


def _page(request: Request, name: str, **context: Any) -> Response:
    state = edge_state(request)
    previewed = read_preview_cookie(state.settings.secret_keys, request.cookies.get(PREVIEW_COOKIE))
    context.update(
        categories=catalog().categories,
        snippet_version=state.snippet.version,
        preview=previewed.words() if previewed is not None else None,
    )
    return templates.TemplateResponse(request, name, context)


async def home(request: Request) -> Response:
    return _page(request, "demo/home.html", featured=list(catalog().products.values())[:4])


async def category(request: Request) -> Response:
    key = request.path_params["category"]
    info = catalog().categories.get(key)
    if info is None:
        raise HTTPException(404, "no such category")
    return _page(
        request, "demo/category.html", key=key, category=info, products=catalog().in_category(key)
    )


async def product(request: Request) -> Response:
    item = catalog().products.get(request.path_params["product"])
    if item is None:
        raise HTTPException(404, "no such product")
    return _page(request, "demo/product.html", product=item)


async def cart(request: Request) -> Response:
    return _page(request, "demo/cart.html")


async def banner(request: Request) -> Response:
    return _page(request, "demo/banner.html")


async def campaign_guide(request: Request) -> Response:
    """/campaigns: one campaign of every kind, how to trigger it, and its live state."""
    state = edge_state(request)
    runtime = state.runtime.current
    engine = runtime.engine
    links = [
        {"recipient": recipient, "url": f"/p/{state.purl_signer.issue(key)}"}
        for key, (campaign, recipient) in sorted(runtime.campaigns.recipients.items())
        if campaign == "spring-mailing"
    ]
    customers = [
        (customer_id, entry, state.personalizer.identify_proof(customer_id))
        for customer_id, entry in sorted(runtime.campaigns.customers.items())
    ]
    adaptive = []
    for campaign in engine.adaptive:
        beliefs = engine.posteriors.get(campaign.id) or tuple(
            Posterior(1.0, 1.0) for _ in campaign.variants
        )
        shares = traffic_shares(beliefs, campaign.exploration)
        adaptive.append(
            {
                "campaign": campaign,
                "variants": [
                    {"key": v.key, "share": share, "mean": belief.mean}
                    for v, share, belief in zip(campaign.variants, shares, beliefs, strict=True)
                ],
            }
        )
    return _page(
        request,
        "demo/campaigns.html",
        links=links,
        customers=customers,
        adaptive=adaptive,
        locations=runtime.campaigns.site.locations,
    )


async def to_server_side(request: Request) -> Response:
    return RedirectResponse("/ssr/", status_code=308)  # relative: never another host


async def server_side(request: Request) -> Response:
    return _page(request, "demo/ssr.html")


def server_side_app(personalizer: Personalizer) -> ASGIApp:
    """/ssr/: a page whose slots the SDK middleware fills before it leaves the server."""
    return OpmaatMiddleware(Router(routes=[Route("/", server_side)]), personalizer=personalizer)


routes = [
    Route("/", home),
    Route("/c/{category}", category),
    Route("/product/{product}", product),
    Route("/cart", cart),
    Route("/banner", banner),
    Route("/campaigns", campaign_guide),
]
