"""The ceiling for `bench.http`: a bare Starlette app answering "ok", served by uvicorn with
exactly the settings `opmaat serve` uses (edge/opmaat_edge/cli.py `_run`).

    python -m bench.bare_app --port 8001 [--workers N] [--loop auto] [--http auto]
    python -m bench.bare_app --app opmaat_edge.app:app_from_env ...   (the edge, OPMAAT_* env)

``--app`` serves another factory with the same settings: `bench.http` uses it to run the edge
with ``--loop asyncio --http h11`` and see what uvloop and httptools buy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Literal, cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from opmaat_edge.cli import SERVER_SETTINGS

BARE_APP = "bench.bare_app:create_app"
Loop = Literal["auto", "asyncio", "uvloop"]
Http = Literal["auto", "h11", "httptools"]


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app() -> Starlette:
    """The uvicorn factory (``bench.bare_app:create_app``): one GET route."""
    return Starlette(routes=[Route("/", ok, methods=["GET"])])


def serve(
    app: str, host: str, port: int, workers: int, loop: Loop = "auto", http: Http = "auto"
) -> None:
    """`uvicorn.run` as the edge calls it (factory style), with ``loop`` and ``http`` added
    (uvicorn's defaults are "auto": uvloop and httptools when installed)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, workers=workers, loop=loop, http=http, **SERVER_SETTINGS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--app", default=BARE_APP, help=f"factory to serve ({BARE_APP})")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto")
    args = parser.parse_args(argv)
    serve(
        args.app,
        args.host,
        args.port,
        args.workers,
        cast(Loop, args.loop),
        cast(Http, args.http),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
