"""Backends note events and identify visitors on the server, through the middleware."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from opmaat.identity import COOKIE_NAME, CookieCodec
from opmaat.middleware import OpmaatMiddleware, OpmaatWSGIMiddleware
from opmaat.store import MemoryStore
from opmaat.tracking import EventError
from opmaat_edge.data_cli import prepare_demo
from tests.sdk.middleware.test_wsgi import call

KEY = "x" * 20
PAGE = '<!doctype html><html><body><div data-opmaat-slot="hero">Default</div></body></html>'


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = prepare_demo(tmp_path_factory.mktemp("demo"), "http://testserver", [KEY])
    assert config is not None
    return config


def visitor(store: MemoryStore, client: TestClient) -> dict[str, Any]:
    ident = CookieCodec([KEY]).loads(client.cookies.get(COOKIE_NAME))
    record = asyncio.run(store.get(ident.visitor_id))
    assert record is not None
    return record


def asgi_client(config: Path, store: MemoryStore) -> TestClient:
    async def thank_you(request: Request) -> Response:
        page = request.state.opmaat
        await page.track("purchase", {"value": 42.5})
        return HTMLResponse(PAGE)

    async def login(request: Request) -> Response:
        linked = await request.state.opmaat.identify(request.query_params["id"])
        await request.state.opmaat.decide(["hero"])
        return HTMLResponse(PAGE if linked else "<p>not linked</p>")

    async def typo(request: Request) -> Response:
        try:
            await request.state.opmaat.track("purchse")
        except EventError as exc:
            return HTMLResponse(f"<p>{exc}</p>", status_code=400)
        return HTMLResponse(PAGE)

    app = Starlette(
        routes=[Route("/thanks", thank_you), Route("/login", login), Route("/typo", typo)]
    )
    middleware = OpmaatMiddleware(
        app, config=str(config), secret_keys=[KEY], store=store, secure_cookies=False
    )
    return TestClient(middleware, client=("127.0.0.1", 1))


def test_a_handler_tracks_a_purchase_for_a_new_visitor(demo: Path) -> None:
    store = MemoryStore()
    client = asgi_client(demo, store)
    response = client.get("/thanks")
    assert response.status_code == 200
    assert COOKIE_NAME in response.cookies  # noting an event owes the visitor the cookie
    record = visitor(store, client)
    assert record["orders"]["count"] == 1
    assert record["orders"]["value"] == 42.5


def test_identify_joins_the_customer_table(demo: Path) -> None:
    store = MemoryStore()
    client = asgi_client(demo, store)
    response = client.get("/login?id=c-1001")
    assert "Thank you, Anna!" in response.text  # the VIP hero, from the imported RFM table
    assert visitor(store, client)["customer"] == {"id": "c-1001"}


def test_an_unknown_event_is_the_handlers_to_answer(demo: Path) -> None:
    client = asgi_client(demo, MemoryStore())
    response = client.get("/typo")
    assert response.status_code == 400
    assert "unknown event 'purchse'" in response.text


def test_wsgi_handlers_track_and_identify(demo: Path) -> None:
    store = MemoryStore()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        page = environ["opmaat.page"]
        page.track("add_to_cart", {"id": "dome-tent", "price": 179})
        linked = page.identify("c-1010")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"linked": linked}).encode()]

    middleware = OpmaatWSGIMiddleware(
        app, config=str(demo), secret_keys=[KEY], store=store, secure_cookies=False
    )
    answer = call(middleware, validate=False)
    assert json.loads(answer.body) == {"linked": True}
    assert answer.cookie is not None
    ident = CookieCodec([KEY]).loads(answer.cookie)
    record = asyncio.run(store.get(ident.visitor_id))
    assert record is not None
    assert record["cart"]["items"][0]["id"] == "dome-tent"
    assert record["customer"]["id"] == "c-1010"
