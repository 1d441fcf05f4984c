"""FastAPI: the ASGI middleware fills the page's slots; a handler can decide by itself too.

Run: ``.venv/bin/uvicorn examples.fastapi_app.app:app``
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from examples.settings import CAMPAIGNS, PAGE, SECRET_KEYS
from opmaat.middleware import OpmaatMiddleware

app = FastAPI()
app.add_middleware(
    OpmaatMiddleware, config=CAMPAIGNS, secret_keys=SECRET_KEYS, secure_cookies=False
)


@app.get("/", response_class=HTMLResponse)
async def home() -> str:
    return PAGE.replace("{category}", "")


@app.get("/running", response_class=HTMLResponse)
async def running() -> str:
    return PAGE.replace("{category}", "running")


@app.get("/hero.json")
async def hero(request: Request) -> dict[str, str | None]:
    decisions = await request.state.opmaat.decide(["hero"])
    return {"campaign": decisions["hero"].campaign, "html": decisions["hero"].html}
