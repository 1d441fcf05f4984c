"""Small HTTP helpers shared by the edge's routes: JSON errors and bounded body reading."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

MAX_BODY_BYTES = 16 * 1024
MAX_JSON_DEPTH = 8

NO_STORE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


class ApiError(HTTPException):
    """A 4xx answer with a JSON body ``{"error": message}``."""

    def __init__(
        self, status_code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)


_NO_STORE_RAW = tuple(
    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in NO_STORE.items()
)


class JSONAnswer(JSONResponse):
    """A JSON answer rendered by orjson (UTF-8, compact), for the routes on every page view.
    Given ``NO_STORE`` itself as its headers (the page-view routes' answers), it takes them
    encoded once at import; the headers and their order are what Starlette would make."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        # What JSONResponse's and Response's constructors do, in one compiled call (theirs are
        # two Python calls).
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.background = background
        self.body = self.render(content)
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.background is not None:
            await super().__call__(scope, receive, send)
            return
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        if headers is not NO_STORE or self.status_code < 200 or self.status_code in (204, 304):
            super().init_headers(headers)
            return
        self.raw_headers = [
            *_NO_STORE_RAW,
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json"),
        ]


def error_response(
    status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONAnswer(
        {"error": message}, status_code=status_code, headers={**NO_STORE, **(headers or {})}
    )


def _depth_ok(value: Any, limit: int) -> bool:
    # Text that is no Unicode (a lone surrogate from "\ud800") never gets here: orjson
    # refuses it while parsing.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
    return True


_HEADERS = "opmaat.headers"


def header_dict(request: Request) -> dict[str, str]:
    """The request's headers by name, the first of a repeated one (what ``request.headers``
    answers), as a plain dict made once a request: a lookup costs a dict's, not a Python
    method's, and the SDK takes it as it is (lower-case names)."""
    scope = request.scope
    found: dict[str, str] | None = scope.get(_HEADERS)
    if found is None:
        found = scope[_HEADERS] = decoded_headers(scope["headers"])
    return found


def decoded_headers(raw: Iterable[Any]) -> dict[str, str]:
    """``raw`` (an ASGI header list) by name as text (latin-1), the first of a repeated name
    kept.

    A browser sends the same names and mostly the same values on every request (the user
    agent, what it accepts, the host): their texts are remembered by their bytes, so a
    request looks most of them up instead of decoding each (bench.served's decide: 35 k
    instructions for its headers decoded one by one, about 20 k so). The values that differ
    by visitor (``PERSONAL_HEADERS``: cookies, credentials, addresses) are decoded, never
    remembered. Only short texts are, at most ``MAX_HEADER_TEXTS``: past that the memo starts
    again, so headers made up to fill it cost a decode each, as before."""
    texts = _HEADER_TEXTS
    out: dict[str, str] = {}
    for pair in raw:
        name, value = pair[0], pair[1]  # an index each: unpacking would iterate the pair
        key = texts.get(name)
        if key is None:
            key = _header_text(name)
        if key in out:
            continue
        if key in PERSONAL_HEADERS:
            out[key] = value.decode("latin-1")
            continue
        text = texts.get(value)
        out[key] = text if text is not None else _header_text(value)
    return out


# Header values that differ by visitor or carry a secret: kept out of the memo.
PERSONAL_HEADERS = frozenset(
    {"cookie", "authorization", "proxy-authorization", "x-forwarded-for", "forwarded", "x-real-ip"}
)


MAX_HEADER_TEXTS = 4096
MAX_HEADER_TEXT_BYTES = 512
_HEADER_TEXTS: dict[bytes, str] = {}


def _header_text(data: bytes) -> str:
    text = data.decode("latin-1")
    if len(data) <= MAX_HEADER_TEXT_BYTES:
        if len(_HEADER_TEXTS) >= MAX_HEADER_TEXTS:
            _HEADER_TEXTS.clear()
        _HEADER_TEXTS[bytes(data)] = text
    return text


def body_limit(request: Request) -> int:
    """``OPMAAT_MAX_BODY_BYTES`` of the app serving ``request`` (the default elsewhere)."""
    edge = app_state(request.scope.get("app")).get("edge")
    return int(edge.settings.max_body_bytes) if edge is not None else MAX_BODY_BYTES


def app_state(app: Any) -> dict[str, Any]:
    """What ``app.state`` holds, as the dict it is kept in (Starlette's ``State._state``): a
    lookup there costs a dict's, where ``request.app.state.name`` costs two Python methods
    (``Request.app`` and ``State.__getattr__``). Empty for anything that is not an app."""
    state = getattr(app, "state", None)
    found = getattr(state, "_state", None)
    return found if isinstance(found, dict) else {}


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (declared or sent; default
    ``OPMAAT_MAX_BODY_BYTES``). Read from the ASGI messages as they come (what
    ``request.stream()`` does, without an async generator per request); the request's stream
    is then consumed, as after ``stream()``."""
    limit = body_limit(request) if limit is None else limit
    declared = header_dict(request).get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body is larger than {limit} bytes")
    if request._stream_consumed:
        raise RuntimeError("Stream consumed")
    receive = request.receive
    request._stream_consumed = True
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client went away mid-body: nobody to answer, and no error of the edge's.
            raise ApiError(400, "the request body was cut short")
        chunk: bytes = message.get("body", b"")
        if not body and not message.get("more_body", False):
            if len(chunk) > limit:  # the whole body in one message: the usual case
                break
            return chunk
        body += chunk
        if len(body) > limit:
            break
        if not message.get("more_body", False):
            return bytes(body)
    raise ApiError(413, f"request body is larger than {limit} bytes")


async def read_form(request: Request, limit: int | None = None) -> dict[str, list[str]]:
    """A URL-encoded HTML form body (no multipart: the edge's own forms never upload files)."""
    kind = header_dict(request).get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise ApiError(415, "send the form as application/x-www-form-urlencoded")
    body = await read_body(request, limit)
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the form could not be read") from None


async def read_json_object(request: Request, limit: int | None = None) -> dict[str, Any]:
    """The request body as a JSON object, whatever the content type (beacons send text/plain)."""
    body = await read_body(request, limit)
    if not body:
        return {}
    try:
        value = orjson.loads(body)
    except (orjson.JSONDecodeError, RecursionError):
        raise ApiError(400, "request body is not valid JSON (UTF-8)") from None
    if not isinstance(value, dict):
        raise ApiError(400, "request body must be a JSON object")
    # Each level of nesting opens an object or array: a body with fewer of those than the
    # limit cannot be too deep, and needs no walk.
    opened = body.count(b"{") + body.count(b"[")
    if opened >= MAX_JSON_DEPTH and not _depth_ok(value, MAX_JSON_DEPTH):
        raise ApiError(400, f"request body is nested deeper than {MAX_JSON_DEPTH} levels")
    return value
