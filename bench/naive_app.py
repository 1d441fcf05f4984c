"""A naive personalization route, for scale: what a first attempt at `POST /v1/decide` in
Starlette costs, so `bench.http` can show how much of the edge's time is the framework's and
how much is ours.

    python -m bench.bare_app --app bench.naive_app:create_app --port 8002

It verifies the visitor's cookie (itsdangerous on every request, the edge's key and salt, so
the edge's cookies pass), reads the JSON body, runs 50 rules kept as plain data (interpreted per
request, first match per slot) over a few request attributes, and answers JSON. No store, no
geo database, no templates: everything a real decide does beyond this is the edge's own work.
"""

from __future__ import annotations

import json
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from bench.http import KEY

COOKIE = "opmaat"
SALT = "opmaat.visitor.v1"  # opmaat.identity's
MAX_AGE = 395 * 86400
_FIELDS = ("url", "referrer", "agent", "language", "category", "slot")
_OPS = ("contains", "equals", "startswith")
_WORDS = ("running", "google", "Mobile", "nl", "cycling", "facebook", "Chrome", "en", "outdoor")


def rules(count: int = 50) -> list[dict[str, Any]]:
    """``count`` rules that mostly fail (as most audiences do), spread over the edge's slots."""
    slots = ("hero", "sidebar", "offer")
    out = []
    for i in range(count):
        field = _FIELDS[i % len(_FIELDS)]
        value = f"{_WORDS[i % len(_WORDS)]}-{i}" if i % 7 else _WORDS[i % len(_WORDS)]
        out.append(
            {
                "slot": slots[i % len(slots)],
                "when": {"field": field, "op": _OPS[i % len(_OPS)], "value": value},
                "html": f"<p>Offer {i}</p>",
            }
        )
    return out


RULES = rules()
_serializer = URLSafeTimedSerializer(KEY, salt=SALT)


def _holds(condition: dict[str, Any], facts: dict[str, str]) -> bool:
    have = facts.get(condition["field"], "")
    value = condition["value"]
    if condition["op"] == "contains":
        return value in have
    if condition["op"] == "equals":
        return bool(have == value)
    return have.startswith(value)


def visitor_cookie(i: int) -> bytes:
    """A ``Cookie`` header with a valid visitor cookie (for `bench.instructions`)."""
    value = _serializer.dumps([f"visitor-{i:08d}", f"s{i:05d}"])
    return f"{COOKIE}={value}".encode()


async def decide(request: Request) -> JSONResponse:
    try:
        visitor, _ = _serializer.loads(request.cookies.get(COOKIE, ""), max_age=MAX_AGE)
    except BadData:
        visitor = None
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "request body is not valid JSON"}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"error": "request body must be a JSON object"}, status_code=400)
    page = body.get("page")
    category = page.get("category") if isinstance(page, dict) else None
    facts = {
        "url": str(body.get("url") or ""),
        "referrer": str(body.get("referrer") or ""),
        "agent": request.headers.get("user-agent", ""),
        "language": request.headers.get("accept-language", ""),
        "category": str(category or ""),
    }
    answer: dict[str, Any] = {}
    for slot in body.get("slots") or ():
        chosen = None
        facts["slot"] = str(slot)
        for rule in RULES:
            if rule["slot"] == slot and _holds(rule["when"], facts):
                chosen = rule["html"]
                break
        answer[str(slot)] = {"html": chosen}
    return JSONResponse({"visitor": visitor, "slots": answer})


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app() -> Starlette:
    """The uvicorn factory (``bench.naive_app:create_app``): the edge's decide path, and
    ``/healthz`` for `bench.http` to see it is up."""
    return Starlette(
        routes=[
            Route("/v1/decide", decide, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
