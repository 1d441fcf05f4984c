"""Slots the middleware fills carry their decision's token, which the edge counts once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from selectolax.lexbor import LexborHTMLParser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from opmaat.identity import COOKIE_NAME
from opmaat.middleware import OpmaatMiddleware, PagePersonalization
from opmaat.middleware.page import BodyRewriter
from opmaat.personalizer import Personalizer
from opmaat_edge.app import create_app
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings

KEY = "x" * 20
GOOGLE = "https://www.google.com/search?q=trail+shoes"
PAGE = '<html><body><div data-opmaat-slot="hero">Default hero</div></body></html>'


@pytest.fixture
def edge() -> Iterator[TestClient]:
    settings = EdgeSettings(config=str(DEMO_CAMPAIGNS), secret_keys=(KEY,), dev=True, demo=True)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


def site() -> TestClient:
    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    app = OpmaatMiddleware(
        Starlette(routes=[Route("/", home)]),
        config=str(DEMO_CAMPAIGNS),
        secret_keys=[KEY],
        secure_cookies=False,
    )
    return TestClient(app)


def marks(html: str) -> dict[str, str | None]:
    """The hero slot's data-opmaat-* attributes but its name, without the prefix."""
    node = LexborHTMLParser(html).css_first('[data-opmaat-slot="hero"]')
    assert node is not None
    found = {k.removeprefix("data-opmaat-"): v for k, v in node.attributes.items()}
    found.pop("slot")
    return found


def tallies(edge: TestClient) -> dict[str, int]:
    store = edge.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    counted: dict[str, dict[str, dict[str, int]]] = asyncio.run(store.tallies(["search-hero"]))
    return counted.get("search-hero", {}).get("a", {})


def test_the_edge_counts_a_server_filled_slot_once_by_its_token(edge: TestClient) -> None:
    page = site().get("/", headers={"referer": GOOGLE})
    hero = marks(page.text)
    assert (hero["campaign"], hero["variant"]) == ("search-hero", "a")
    assert hero["token"] is not None
    assert len(hero["token"]) == 40
    # The snippet reports it to the edge, with the cookie the site's page set.
    edge.cookies.set(COOKIE_NAME, page.cookies[COOKIE_NAME])
    event: dict[str, str | None] = {"type": "impression", "slot": "hero"}
    event.update((k, hero[k]) for k in ("campaign", "variant", "token"))
    for _ in range(2):
        assert edge.post("/v1/events", content=json.dumps(event)).status_code == 200
    assert tallies(edge)["impressions"] == 1
    # Not for another visitor of the edge's.
    edge.cookies.clear()
    edge.post("/v1/decide", content=json.dumps({"slots": ["sidebar"], "url": "http://x/"}))
    click = {**event, "type": "click"}
    assert "another visitor" in edge.post("/v1/events", content=json.dumps(click)).text
    assert tallies(edge).get("clicks", 0) == 0


def test_a_shared_page_carries_no_visitors_token() -> None:
    personalizer = Personalizer(DEMO_CAMPAIGNS, secret_keys=[KEY], secure_cookies=False)

    async def filled(shared: bool) -> str:
        visit = await personalizer.open(peer="127.0.0.1", headers={"referer": GOOGLE}, cookies={})
        page = PagePersonalization(visit, url="http://shop.example/", referrer=GOOGLE)
        rewriter = BodyRewriter(page, "utf-8", shared=shared)
        return (await rewriter.feed(PAGE.encode(), final=True)).decode()

    own, shared = marks(asyncio.run(filled(False))), marks(asyncio.run(filled(True)))
    assert own["campaign"] == shared["campaign"] == "search-hero"
    assert own["token"] is not None
    assert "token" not in shared
