"""Backends note favourites and ratings through the middleware, as the snippet does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from opmaat.identity import CookieCodec
from opmaat.middleware import OpmaatMiddleware, OpmaatWSGIMiddleware
from opmaat.store import MemoryStore
from opmaat.tracking import EventError
from opmaat_edge.data_cli import prepare_demo
from tests.sdk.middleware.test_track import KEY, visitor
from tests.sdk.middleware.test_wsgi import call


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = prepare_demo(tmp_path_factory.mktemp("demo"), "http://testserver", [KEY])
    assert config is not None
    return config


def test_an_asgi_handler_saves_a_favourite_and_a_rating(demo: Path) -> None:
    async def save(request: Request) -> Response:
        page = request.state.opmaat
        try:
            await page.track("favourite", {"id": request.query_params["id"]})
            await page.track("rate", {"id": "road-racer", "rating": 4})
        except EventError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"offers": [o["id"] for o in page.profile["offers"]][:2]})

    store = MemoryStore()
    app = Starlette(routes=[Route("/save", save)])
    middleware = OpmaatMiddleware(
        app, config=str(demo), secret_keys=[KEY], store=store, secure_cookies=False
    )
    client = TestClient(middleware, client=("127.0.0.1", 1))
    answer = client.get("/save?id=dome-tent")
    assert answer.status_code == 200
    # Both come first among the offers: the favourite, then the product rated 4.
    assert answer.json() == {"offers": ["dome-tent", "road-racer"]}
    prefs = visitor(store, client)["prefs"]
    assert prefs == {"favourites": ["dome-tent"], "ratings": {"road-racer": 4}}
    refused = client.get("/save?id=no-such-product")
    assert refused.status_code == 400
    assert "not a product of this site" in refused.json()["error"]


def test_a_wsgi_handler_saves_a_favourite(demo: Path) -> None:
    store = MemoryStore()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["opmaat.page"].track("favourite", {"id": "trail-runner"})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"ok": True}).encode()]

    middleware = OpmaatWSGIMiddleware(
        app, config=str(demo), secret_keys=[KEY], store=store, secure_cookies=False
    )
    answer = call(middleware, validate=False)
    assert answer.cookie is not None
    record = asyncio.run(store.get(CookieCodec([KEY]).loads(answer.cookie).visitor_id))
    assert record is not None
    assert record["prefs"]["favourites"] == ["trail-runner"]
