"""The demo shop: server-rendered pages with slots, wired to the demo campaigns; its products
are the demo's product feed (catalogue.csv), which its recommendations are drawn from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode

import yaml
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from opmaat.adaptive import posteriors_for, traffic_shares
from opmaat.middleware import OpmaatMiddleware
from opmaat.personalizer import Personalizer
from opmaat.recommend import load_feed
from opmaat_edge import demo_recommendations, demo_traffic
from opmaat_edge.cockpit.preview import PREVIEW_COOKIE, read_preview_cookie
from opmaat_edge.resources import DEMO, TEMPLATES
from opmaat_edge.state import edge_state

templates = Jinja2Templates(directory=str(TEMPLATES))
# ?demo_search=TERM on the home page: arrive as from a Google search for TERM.
SEARCH_PARAM = "demo_search"
MAX_SEARCH = 100


@dataclass(frozen=True, slots=True)
class Catalog:
    categories: dict[str, dict[str, Any]]
    products: dict[str, dict[str, Any]]
    featured: tuple[str, ...]

    def in_category(self, category: str) -> list[dict[str, Any]]:
        return [p for p in self.products.values() if p["category"] == category]


@cache
def catalog() -> Catalog:
    data = yaml.safe_load((DEMO / "catalog.yaml").read_text(encoding="utf-8"))
    products = {p.id: asdict(p) for p in load_feed(DEMO / "catalogue.csv")}
    return Catalog(data["categories"], products, tuple(data["featured"]))


async def _page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    state = edge_state(request)
    await demo_recommendations.seed_once(state.personalizer)
    previewed = read_preview_cookie(state.settings.secret_keys, request.cookies.get(PREVIEW_COOKIE))
    context.update(
        categories=catalog().categories,
        snippet_version=state.snippet.version,
        preview=previewed.words() if previewed is not None else None,
    )
    return templates.TemplateResponse(request, name, context, status_code=status)


async def _missing(request: Request, what: str) -> Response:
    # A shop page a visitor followed a link to: the shop's own "not found", not JSON.
    return await _page(request, "demo/missing.html", status=404, what=what)


def _search_arrival(request: Request) -> dict[str, str] | None:
    """A Google search arrival the home page simulates: the referrer a browser would send
    for ``?demo_search=TERM`` and the page's address without it. A real click on google.com
    cannot show this locally: Google's results send only their origin, and no browser sends
    an https page as the referrer of a plain-http one such as this demo."""
    term = " ".join(request.query_params.get(SEARCH_PARAM, "").split())[:MAX_SEARCH]
    if not term:
        return None
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != SEARCH_PARAM]
    return {
        "referrer": "https://www.google.com/search?" + urlencode({"q": term}),
        "url": request.url.path + ("?" + urlencode(rest) if rest else ""),
        "term": term,
    }


async def home(request: Request) -> Response:
    shop = catalog()
    return await _page(
        request,
        "demo/home.html",
        featured=[shop.products[key] for key in shop.featured],
        search=_search_arrival(request),
    )


async def category(request: Request) -> Response:
    key = request.path_params["category"]
    info = catalog().categories.get(key)
    if info is None:
        return await _missing(request, "category")
    return await _page(
        request, "demo/category.html", key=key, category=info, products=catalog().in_category(key)
    )


async def product(request: Request) -> Response:
    item = catalog().products.get(request.path_params["product"])
    if item is None:
        return await _missing(request, "product")
    return await _page(request, "demo/product.html", product=item)


async def cart(request: Request) -> Response:
    return await _page(request, "demo/cart.html")


async def banner(request: Request) -> Response:
    return await _page(request, "demo/banner.html")


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
    # The counts themselves beside the shares: a variant nobody saw yet has no rate, not its
    # prior's 50%.
    try:
        tallies = await state.personalizer.store.tallies(c.id for c in engine.adaptive)
    except Exception:
        tallies = {}
    adaptive = []
    for campaign in engine.adaptive:
        keys = [v.key for v in campaign.variants]
        beliefs = engine.posteriors.get(campaign.id) or posteriors_for({}, campaign.id, keys)
        shares = traffic_shares(beliefs, campaign.exploration)
        rows = tallies.get(campaign.id, {})
        variants = []
        for key, share in zip(keys, shares, strict=True):
            row = rows.get(key, {})
            shown, converted = row.get("impressions", 0), row.get("conversions", 0)
            rate = converted / shown if shown and converted <= shown else None
            variants.append(
                {"key": key, "share": share, "shown": shown, "converted": converted, "rate": rate}
            )
        adaptive.append({"campaign": campaign, "variants": variants})
    return await _page(
        request,
        "demo/campaigns.html",
        links=links,
        customers=customers,
        adaptive=adaptive,
        locations=runtime.campaigns.site.locations,
        holdout=engine.campaign(demo_traffic.CAMPAIGN) if demo_traffic.seeded(engine) else None,
    )


async def to_server_side(request: Request) -> Response:
    return RedirectResponse("/ssr/", status_code=308)  # relative: never another host


async def server_side(request: Request) -> Response:
    return await _page(request, "demo/ssr.html")


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
