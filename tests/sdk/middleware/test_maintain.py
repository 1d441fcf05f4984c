"""A middleware process keeps its campaigns current: file reloads and pauses from the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from opmaat.middleware import OpmaatMiddleware, OpmaatWSGIMiddleware
from opmaat.store import MemoryStore

KEY = "maintain-test-key-0123456789"
CAMPAIGNS = """\
slots: {{hero: {{default: "<h2>Default</h2>"}}}}
campaigns:
  - id: hero
    slot: hero
    variants: [{{key: a, html: "{html}"}}]
"""
PAGE = '<div data-opmaat-slot="hero"><h2>Default</h2></div>'


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 3
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_asgi_middleware_follows_the_file_and_pauses(tmp_path: Path) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(CAMPAIGNS.format(html="<h2>First</h2>"))
    store = MemoryStore()

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    app = Starlette(routes=[Route("/", home)])
    app.add_middleware(
        OpmaatMiddleware,
        config=config,
        secret_keys=[KEY],
        store=store,
        secure_cookies=False,
        reload_interval=0.05,
    )
    with TestClient(app) as client:
        assert "<h2>First</h2>" in client.get("/").text
        config.write_text(CAMPAIGNS.format(html="<h2>Second</h2>"))
        until(lambda: "<h2>Second</h2>" in client.get("/").text, "the file was not reloaded")
        client.portal.call(store.set_paused, "hero", True)  # type: ignore[union-attr]
        until(lambda: "<h2>Default</h2>" in client.get("/").text, "the pause was not followed")


def test_wsgi_middleware_follows_pauses(tmp_path: Path) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(CAMPAIGNS.format(html="<h2>First</h2>"))
    store = MemoryStore()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [PAGE.encode()]

    wrapped = OpmaatWSGIMiddleware(
        app, config=config, secret_keys=[KEY], store=store, reload_interval=0.05
    )

    def body() -> str:
        out: list[bytes] = []
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/",
            "SERVER_NAME": "x",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
        }
        out = list(wrapped(environ, lambda status, headers, exc_info=None: out.append))
        return b"".join(out).decode()

    assert "<h2>First</h2>" in body()
    asyncio.run(store.set_paused("hero", True))
    until(lambda: "<h2>Default</h2>" in body(), "the pause was not followed")
