"""A soak test of the edge: mixed traffic against a real edge process on 127.0.0.1.

    python -m soak.traffic --seconds 180 --connections 32 [--store-max 1000] [--bots 0.3]

It starts its own edge (``opmaat serve`` on a free port, the demo campaigns in a folder made by
``prepare_demo``, ``memory://?max_profiles=M``) and drives it from several asyncio clients,
each on its own keep-alive connection:

- new visitors (no cookie; almost half leave after one page) and returning ones (the cookies
  of an earlier visit), with a browser's headers: User-Agent, Referer, X-Forwarded-For in the
  demo geo database's ranges (203.0.113.x, 198.51.100.x, 192.0.2.x);
- per page a decision for 3-5 slots (POST, sometimes GET), then impression and click events
  for what was shown, add_to_cart and purchase goals;
- crawlers that keep no cookie (``--bots``, a share of the visits): every request a new
  visitor, its URL, referrer and product at the edge's length limits, the most a single
  request can make the store keep (about 7 KB of profile);
- bad requests, about one in five of all: broken, nested or non-UTF-8 JSON, wrong methods,
  bodies over the limit (declared and chunked), bad cookies, unknown events, bad products,
  bad slots, wrong content types, junk headers and queries, a preflight from another origin.

A warm-up fills the store and the URL parse caches (or takes 40% of the run); then the edge's
resident memory (VmRSS) is read, and again at the end. The checks, each a line in the summary
when it fails (exit status 1):

- no answer is a 5xx, and every good request is answered (200; 429 for an event over the
  per-visitor limit); every bad one is refused as it should be (or its connection closed);
- resident memory grows by less than ``rss_allowance_mb(store_max)``: a fixed allowance for
  the edge's other bounded tables plus the store bound times a generous profile size,
  whatever the number of visitors;
- no event is lost: every event answered 200 is counted by the edge, in /healthz's
  ``counters.events`` and in /metrics' ``opmaat_events_total`` per type and name, and
  nothing else is;
- the edge is still up and healthy and logged no error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REQUEST_TIMEOUT = 15.0
BAD_SHARE = 0.25  # a bad request before this share of good ones: about 20% of all requests
BOT_SHARE = 0.3  # of visits (default): a crawler keeping no cookie, URLs at the edge's limits
RETURNING_SHARE = 0.4  # of the other visits, once some visitors are known
BOUNCE_SHARE = 0.45  # of new visitors: one page, nothing done on it

# The edge's memory beyond its profile store is bounded too, but not by the store's bound:
# the event stream (10,000 entries, 1-2 KB each once full), the rate-limit table
# (a key per visitor sending events, for two minutes), the parse caches of user agents and
# addresses, the allocator's arenas; the URL parse caches (2 x 2048 entries, up to 20 MB with
# the bots' URLs) fill in the warm-up. FIXED_MB covers those for a run of minutes. PROFILE_KB
# is a generous size of one stored profile with its cache entry (the soak's are 2 KB for a
# visitor, 7 KB for a bot, as JSON).
FIXED_MB = 32.0
PROFILE_KB = 16.0


def rss_allowance_mb(store_max: int) -> float:
    return FIXED_MB + store_max * PROFILE_KB / 1024


WARMUP_SHARE = 0.4  # of the run at most


def warmed_up(store_max: int) -> int:
    """New profiles after which the store and the URL parse caches (2048 entries each; a bot
    adds two: its URL and its referrer) are full."""
    return 2 * store_max + 1024


# --- the edge process ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Edge:
    """An edge process serving the demo campaigns; its output goes to ``log``."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def rss_kb(self) -> int:
        return _status_kb(self.proc.pid, "VmRSS")

    def peak_kb(self) -> int:
        return _status_kb(self.proc.pid, "VmHWM")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return int(r.status), bytes(r.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def healthz(self) -> dict[str, Any]:
        status, body = self.get("/healthz")
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}")
        value: dict[str, Any] = json.loads(body)
        return value

    def event_metrics(self) -> Counter[tuple[str, str]]:
        status, body = self.get("/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        return parse_event_metrics(body.decode())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _status_kb(pid: int, key: str) -> int:
    """A figure of /proc/PID/status in kB; 0 when the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


_EVENT_SAMPLE = re.compile(r"^opmaat_events_total\{([^}]*)\} ([0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_event_metrics(text: str) -> Counter[tuple[str, str]]:
    """``opmaat_events_total`` of a /metrics page, by (type, name)."""
    out: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        found = _EVENT_SAMPLE.match(line)
        if found:
            labels = dict(_LABEL.findall(found.group(1)))
            out[(labels.get("type", ""), labels.get("name", ""))] = int(float(found.group(2)))
    return out


def start_edge(
    folder: Path,
    store_max: int,
    env: dict[str, str] | None = None,
    *,
    log_format: str = "text",
    args: Sequence[str] = (),
) -> Edge:
    """An edge (``opmaat serve``) on a free port with the demo campaigns, prepared in
    ``folder``; ``env`` and ``args`` add to its environment and command line."""
    from opmaat_edge.data_cli import prepare_demo

    port = free_port()
    url = f"http://{HOST}:{port}"
    keys = [secrets.token_urlsafe(32)]
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        config = prepare_demo(folder, url, keys)
    if config is None:
        raise RuntimeError(f"the demo folder could not be prepared:\n{said.getvalue()}")
    log = folder / "edge.log"
    command = [
        sys.executable,
        "-m",
        "opmaat_edge.cli",
        "serve",
        "--config",
        str(config),
        "--dev",
        "--store",
        f"memory://?max_profiles={store_max}",
        "--log-format",
        log_format,
        "--port",
        str(port),
        *args,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OPMAAT_SECRET_KEYS": keys[0], **(env or {})},
        )
    edge = Edge(url=url, port=port, proc=proc, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the edge exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError, RuntimeError):
            edge.healthz()
            return edge
        time.sleep(0.1)
    edge.stop()
    raise RuntimeError(f"the edge at {url} was not up within 30 s:\n{log.read_text()}")


# --- a minimal HTTP/1.1 client ------------------------------------------------------------


class NoAnswer(Exception):
    """The connection closed (or timed out) before a whole answer came."""


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def json(self) -> Any:
        return json.loads(self.body)


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    try:
        line = await reader.readline()
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise NoAnswer(f"no status line: {line[:80]!r}")
        status = int(parts[1])
        headers: list[tuple[str, str]] = []
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise NoAnswer("closed in the headers")
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        found = dict(headers)
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif found.get("transfer-encoding", "").lower() == "chunked":
            chunks = bytearray()
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                chunks += await reader.readexactly(size)
                await reader.readline()
            body = bytes(chunks)
        elif "content-length" in found:
            body = await reader.readexactly(int(found["content-length"]))
        else:
            body = await reader.read()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
        raise NoAnswer(str(exc) or type(exc).__name__) from None
    return Answer(status, headers, body)


def build_request(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | None = None,
    port: int = 80,
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None and "Transfer-Encoding" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Connection:
    """One keep-alive connection, opened again when the edge closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def send(self, raw: bytes) -> Answer:
        """Send one request (``raw``) and read its answer; NoAnswer when none came."""
        if self.writer is not None and time.monotonic() - self.last_used > 2.0:
            await self.close()  # the edge drops idle connections after 5 s
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            assert self.reader is not None
            self.writer.write(raw)
            await self.writer.drain()
            answer = await asyncio.wait_for(read_answer(self.reader), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, NoAnswer) as exc:
            await self.close()
            raise NoAnswer(str(exc) or type(exc).__name__) from None
        self.last_used = time.monotonic()
        if (answer.header("connection") or "").lower() == "close":
            await self.close()
        return answer


async def send_once(port: int, raw: bytes) -> Answer:
    """``raw`` on a connection of its own, closed after the answer."""
    conn = Connection(port)
    try:
        return await conn.send(raw)
    finally:
        await conn.close()


# --- what the visitors send ---------------------------------------------------------------

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
)
BOT_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.32.3",
    "curl/8.5.0",
)
REFERRERS = (
    None,
    None,
    "https://www.google.com/search?q=trail+running+shoes",
    "https://www.google.nl/search?q=fietstas+waterdicht",
    "https://www.bing.com/search?q=hiking+boots",
    "https://duckduckgo.com/?q=running+socks",
    "https://www.facebook.com/",
    "https://news.example.org/best-gear-2026",
    "http://127.0.0.1/c/running",
)
GEO_NETWORKS = ("203.0.113", "198.51.100", "192.0.2")
CATEGORIES = ("running", "cycling", "outdoor", "hiking")
PRODUCTS = tuple(
    {
        "id": f"sku-{n:03d}",
        "name": f"{('Trail Runner', 'Road Bike Bag', 'Rain Jacket', 'Hiking Boot')[n % 4]} {n}",
        "price": round(19.95 + n * 7.5, 2),
        "category": CATEGORIES[n % 4],
    }
    for n in range(1, 31)
)
SLOTS = ("hero", "sidebar", "cart_banner", "promo", "store", "offer")
UTM = (
    "",
    "",
    "?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
    "?utm_source=facebook&utm_medium=social&utm_campaign=summer-sale",
    "?gclid=abc123&utm_source=google&utm_medium=cpc&utm_term=trail+shoes",
)


@dataclass
class Visitor:
    ip: str
    ua: str
    referrer: str | None
    cookies: dict[str, str] = field(default_factory=dict)

    def headers(self, body: bool = True) -> dict[str, str]:
        out = {"User-Agent": self.ua, "X-Forwarded-For": self.ip, "Accept": "*/*"}
        out["Accept-Language"] = "nl-NL,nl;q=0.9,en;q=0.8"
        if body:
            out["Content-Type"] = "application/json"
        if self.cookies:
            out["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return out

    def take_cookies(self, answer: Answer) -> None:
        for name, value in answer.headers:
            if name != "set-cookie":
                continue
            pair, *attributes = value.split(";")
            key, _, val = pair.strip().partition("=")
            if any(a.strip().lower() == "max-age=0" for a in attributes):
                self.cookies.pop(key, None)
            else:
                self.cookies[key] = val


def new_visitor(rng: random.Random) -> Visitor:
    return Visitor(
        ip=f"{rng.choice(GEO_NETWORKS)}.{rng.randint(1, 254)}",
        ua=rng.choice(USER_AGENTS),
        referrer=rng.choice(REFERRERS),
    )


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def junk(rng: random.Random, size: int) -> str:
    return rng.randbytes(size // 2 + 1).hex()[:size]


def bot_page(rng: random.Random) -> dict[str, Any]:
    """A decide body of a crawler: every field the edge keeps at (or past) its limit, so each
    such visitor costs the store as much as one request can (about 6.5 KB of profile)."""
    product = rng.choice(PRODUCTS)
    utm = "&".join(
        f"utm_{key}={junk(rng, 190)}" for key in ("source", "medium", "campaign", "term", "content")
    )
    return {
        "slots": rng.sample(SLOTS, 3),
        "url": f"http://127.0.0.1/p/{product['id']}-{junk(rng, 990)}?{utm}&gclid={junk(rng, 300)}",
        "referrer": "https://www.google.com/search?q=" + junk(rng, 2000),
        "page": {
            "product": f"{product['id']}-{junk(rng, 80)}",
            "product_name": f"{product['name']} {junk(rng, 180)}",
            "price": product["price"],
            "category": product["category"],
        },
    }


@dataclass(frozen=True)
class BadRequest:
    kind: str
    raw: bytes
    expected: frozenset[int]
    own_connection: bool = False  # framing the edge may not keep the connection open after


def bad_request(rng: random.Random, visitor: Visitor, port: int) -> BadRequest:
    """One bad request for ``visitor``, and the answers it may get (besides a closed
    connection)."""
    headers = visitor.headers()

    def post(path: str, body: bytes, extra: dict[str, str] | None = None) -> bytes:
        return build_request("POST", path, {**headers, **(extra or {})}, body, port)

    def event(payload: dict[str, Any]) -> bytes:
        return post("/v1/events", json.dumps(payload).encode())

    kind = rng.choice(BAD_KINDS)
    refused, limited = frozenset({400}), frozenset({400, 429})
    if kind == "garbage-json":
        body = rng.choice(
            [b'{"slots": ["hero"', b"{slots: hero}", b"\xff\xfe{\x00}", b"null", b'"text"', b"[]"]
        )
        path = rng.choice(["/v1/decide", "/v1/events"])
        return BadRequest(kind, post(path, body), refused)
    if kind == "invalid-utf8":
        body = b'{"slots": ["hero"], "url": "http://127.0.0.1/\xc3\x28\xff"}'
        return BadRequest(kind, post("/v1/decide", body), refused)
    if kind == "deep-json":
        # Just under the body limit (16 KB): 2,000 objects or 8,000 lists deep.
        body = rng.choice([nested(9), nested(50), nested(2000), b"[" * 8000 + b"]" * 8000])
        return BadRequest(kind, post(rng.choice(["/v1/decide", "/v1/events"]), body), refused)
    if kind == "wrong-method":
        method, path = rng.choice(
            [("PUT", "/v1/decide"), ("DELETE", "/v1/events"), ("GET", "/v1/events"),
             ("PATCH", "/v1/decide"), ("TRACE", "/v1/events"), ("PUT", "/healthz")]
        )  # fmt: skip
        raw = build_request(method, path, headers, b"{}", port)
        return BadRequest(kind, raw, frozenset({405}))
    if kind == "oversized":
        pad = "x" * rng.randint(17 * 1024, 48 * 1024)
        body = json.dumps({"type": "goal", "name": "purchase", "pad": pad}).encode()
        raw = post("/v1/events", body, {"Connection": "close"})
        return BadRequest(kind, raw, frozenset({413}), own_connection=True)
    if kind == "oversized-chunked":
        chunk = b'{"slots":["hero"],"pad":"' + b"y" * (20 * 1024) + b'"}'
        raw = build_request(
            "POST",
            "/v1/decide",
            {**headers, "Transfer-Encoding": "chunked", "Connection": "close"},
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk),
            port,
        )
        return BadRequest(kind, raw, frozenset({413}), own_connection=True)
    if kind == "bad-cookie":
        value = rng.choice(
            [
                junk(rng, 40),
                "e30.Zm9v.YmFy",  # looks signed, is not
                junk(rng, 900),
                '"quoted;value"',
                "",
            ]
        )
        raw = build_request(
            "POST",
            "/v1/decide",
            {**visitor.headers(), "Cookie": f"opmaat={value}; opmaat_consent=maybe"},
            json.dumps({"slots": ["hero", "promo"], "url": "http://127.0.0.1/"}).encode(),
            port,
        )
        return BadRequest(kind, raw, frozenset({200}))
    if kind == "unknown-event":
        payload: dict[str, Any] = rng.choice(
            [
                {"type": "view"},
                {"type": ["impression"]},
                {"type": "goal", "name": "made_up_goal"},
                {"type": "goal", "name": "Add To Cart"},
                {"type": "goal", "name": {"x": 1}},
                {"type": "impression", "campaign": "no-such-campaign", "variant": "a"},
                {"type": "click", "campaign": "promo-test", "variant": "no-such-variant"},
                {"type": "impression", "campaign": 12},
            ]
        )
        return BadRequest(kind, event(payload), limited)
    if kind == "bad-event-props":
        payload = rng.choice(
            [
                {"type": "goal", "name": "add_to_cart"},
                {"type": "goal", "name": "add_to_cart", "props": {"id": "", "price": -5}},
                {"type": "goal", "name": "add_to_cart", "props": "sku-001"},
                {"type": "goal", "name": "purchase", "props": {"value": "lots"}},
                {"type": "goal", "name": "purchase", "props": {"value": -1}},
                {"type": "goal", "name": "product_view", "props": {"id": "x" * 500}},
            ]
        )
        return BadRequest(kind, event(payload), limited)
    if kind == "bad-slots":
        slots: Any = rng.choice(
            [[f"s{i}" for i in range(25)], ["hero", "<b>x</b>"], 42, [None], ["a" * 65]]
        )
        return BadRequest(kind, post("/v1/decide", json.dumps({"slots": slots}).encode()), refused)
    if kind == "bad-query":
        query = rng.choice(
            [
                "slots=hero,%ZZ&url=%FF%FE",
                "slots=" + "a" * 3000,
                "slots=hero&url=%00%01&referrer=javascript:alert(1)",
                "slots=hero&slots=promo&consent=%F0%9F%92%A9",
            ]
        )
        raw = build_request("GET", "/v1/decide?" + query, visitor.headers(False), None, port)
        return BadRequest(kind, raw, frozenset({200, 400}))
    if kind == "wrong-content-type":
        body, kind_header = rng.choice(
            [
                (b"slots=hero&url=x", "application/x-www-form-urlencoded"),
                (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "multipart/form-data"),
                (b"<slots>hero</slots>", "application/xml"),
            ]
        )
        raw = post(rng.choice(["/v1/decide", "/v1/events"]), body, {"Content-Type": kind_header})
        return BadRequest(kind, raw, refused)
    if kind == "junk-headers":
        extra = {
            "User-Agent": junk(rng, 6000),
            "Referer": "javascript:alert(document.cookie)",
            "X-Forwarded-For": rng.choice(["not-an-ip, 999.1.1.1", "::::, 1.2.3", "0" * 300]),
            "Accept-Language": "*;q=xx, ??",
            "X-Request-Id": "<script>" * 20,
        }
        page = {"slots": ["hero", "sidebar", "store"], "url": "http://127.0.0.1/"}
        raw = post("/v1/decide", json.dumps(page).encode(), extra)
        return BadRequest(kind, raw, frozenset({200}))
    if kind == "bad-consent":
        consent = rng.choice(["everything", 7, ["full"]])
        raw = post("/v1/decide", json.dumps({"slots": ["hero"], "consent": consent}).encode())
        return BadRequest(kind, raw, frozenset({200, 400}))
    if kind == "evil-preflight":
        raw = build_request(
            "OPTIONS",
            "/v1/events",
            {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            None,
            port,
        )
        return BadRequest(kind, raw, frozenset({403}))
    # unknown-path
    path = rng.choice(["/v1/nothing", "/../../etc/passwd", "/v1/decide/extra", "/%2e%2e/"])
    return BadRequest(
        kind, build_request("GET", path, visitor.headers(False), None, port), frozenset({404})
    )


BAD_KINDS = (
    "garbage-json",
    "invalid-utf8",
    "deep-json",
    "wrong-method",
    "oversized",
    "oversized-chunked",
    "bad-cookie",
    "unknown-event",
    "bad-event-props",
    "bad-slots",
    "bad-query",
    "wrong-content-type",
    "junk-headers",
    "bad-consent",
    "evil-preflight",
    "unknown-path",
)


# --- the traffic --------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    bad: int = 0
    server_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)  # what went wrong, the first few
    unanswered: int = 0  # good requests without an answer
    closed_bad: int = 0  # bad requests whose connection the edge closed
    bad_unexpected: Counter[str] = field(default_factory=Counter)
    good_refused: Counter[str] = field(default_factory=Counter)
    new_visitors: int = 0
    bots: int = 0
    returning_visits: int = 0
    decisions: int = 0
    events_sent: int = 0
    events_ok: int = 0
    events_limited: int = 0
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)  # answered 200

    def note(self, text: str) -> None:
        if len(self.samples) < 20:
            self.samples.append(text)


class Traffic:
    def __init__(
        self, port: int, until: float, seed: int, store_max: int, bots: float = BOT_SHARE
    ) -> None:
        self.port = port
        self.bots = bots
        self.until = until
        self.seed = seed
        self.tally = Tally()
        self.pool: list[Visitor] = []
        self.bots_seen: list[Visitor] = []  # the last few, to see how large their profiles are
        self.pool_max = min(20_000, max(2000, 4 * store_max))

    def over(self) -> bool:
        return time.monotonic() >= self.until

    async def worker(self, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        conn = Connection(self.port)
        try:
            while not self.over():
                await self.visit(conn, rng)
        finally:
            await conn.close()

    async def exchange(
        self, conn: Connection, rng: random.Random, raw: bytes, what: str
    ) -> Answer | None:
        """A good request, perhaps after a bad one; None (noted) when it got no answer."""
        await self.maybe_bad(conn, rng)
        self.tally.requests += 1
        try:
            answer = await conn.send(raw)
        except NoAnswer as exc:
            self.tally.unanswered += 1
            self.tally.note(f"{what}: no answer ({exc})")
            return None
        self.count_status(answer, what)
        return answer

    def count_status(self, answer: Answer, what: str) -> None:
        self.tally.statuses[answer.status] += 1
        if answer.status >= 500:
            self.tally.server_errors += 1
            self.tally.note(f"{what}: {answer.status} {answer.body[:200]!r}")

    async def maybe_bad(self, conn: Connection, rng: random.Random) -> None:
        if rng.random() >= BAD_SHARE or not self.pool:
            return
        bad = bad_request(rng, rng.choice(self.pool[-200:]), self.port)
        self.tally.requests += 1
        self.tally.bad += 1
        try:
            if bad.own_connection:
                answer = await send_once(self.port, bad.raw)
            else:
                answer = await conn.send(bad.raw)
        except NoAnswer:
            self.tally.closed_bad += 1
            return
        self.count_status(answer, f"bad {bad.kind}")
        if answer.status not in bad.expected:
            self.tally.bad_unexpected[bad.kind] += 1
            self.tally.note(f"bad {bad.kind}: {answer.status} {answer.body[:120]!r}")

    async def visit(self, conn: Connection, rng: random.Random) -> None:
        if rng.random() < self.bots:
            await self.bot(conn, rng)
            return
        returning = bool(self.pool) and rng.random() < RETURNING_SHARE
        visitor = rng.choice(self.pool) if returning else new_visitor(rng)
        if returning:
            self.tally.returning_visits += 1
        bounce = not returning and rng.random() < BOUNCE_SHARE
        for _ in range(1 if bounce else rng.randint(1, 3)):
            if self.over():
                return
            shown = await self.page(conn, rng, visitor)
            if shown is None:
                return
            if not bounce:
                await self.respond(conn, rng, visitor, shown)

    async def bot(self, conn: Connection, rng: random.Random) -> None:
        visitor = new_visitor(rng)
        visitor.ua = rng.choice(BOT_AGENTS)
        raw = build_request(
            "POST",
            "/v1/decide",
            visitor.headers(),
            json.dumps(bot_page(rng)).encode(),
            self.port,
        )
        if await self.decided(conn, rng, raw, visitor, "bot decide") is not None:
            self.tally.bots += 1
            self.bots_seen = [*self.bots_seen[-9:], visitor]

    async def decided(
        self, conn: Connection, rng: random.Random, raw: bytes, visitor: Visitor, what: str
    ) -> dict[str, Any] | None:
        """Send a decision request; its slots when answered 200 (the visitor takes the
        cookies), else None (noted)."""
        answer = await self.exchange(conn, rng, raw, what)
        if answer is None:
            return None
        if answer.status != 200:
            self.tally.good_refused[what] += 1
            self.tally.note(f"{what}: {answer.status} {answer.body[:200]!r}")
            return None
        try:
            slots = answer.json()["slots"]
        except (ValueError, KeyError, TypeError):
            slots = None
        if not isinstance(slots, dict):
            self.tally.good_refused[what] += 1
            self.tally.note(f"{what}: no slots in {answer.body[:200]!r}")
            return None
        self.tally.decisions += 1
        visitor.take_cookies(answer)
        return slots

    async def page(
        self, conn: Connection, rng: random.Random, visitor: Visitor
    ) -> list[tuple[str, str, str, str]] | None:
        """Decide 3-5 slots for one page; the (slot, campaign, variant, token) shown."""
        fresh = "opmaat" not in visitor.cookies
        product = rng.choice(PRODUCTS)
        kind = rng.random()
        if kind < 0.4:
            path = f"/p/{product['id']}"
            page: dict[str, Any] = {
                "product": product["id"],
                "product_name": product["name"],
                "price": product["price"],
                "category": product["category"],
            }
        elif kind < 0.7:
            path, page = f"/c/{product['category']}", {"category": product["category"]}
        else:
            path, page = rng.choice(["/", "/cart", "/about", "/search?q=socks"]), {}
        url = f"http://127.0.0.1{path}{rng.choice(UTM)}"
        slots = rng.sample(SLOTS, rng.randint(3, 5))
        if rng.random() < 0.2:
            query = urllib.parse.urlencode(
                {"slots": ",".join(slots), "url": url, "referrer": visitor.referrer or ""}
            )
            raw = build_request(
                "GET", "/v1/decide?" + query, visitor.headers(False), None, self.port
            )
        else:
            payload = {"slots": slots, "url": url, "referrer": visitor.referrer, "page": page}
            raw = build_request(
                "POST", "/v1/decide", visitor.headers(), json.dumps(payload).encode(), self.port
            )
        visitor.referrer = url  # the next page comes from this one
        decided = await self.decided(conn, rng, raw, visitor, "decide")
        if decided is None:
            return None
        if fresh and "opmaat" in visitor.cookies:
            self.tally.new_visitors += 1
            self.remember(rng, visitor)
        return [
            (slot, d["campaign"], d["variant"], d["token"])
            for slot, d in decided.items()
            if isinstance(d, dict) and d.get("campaign") and d.get("variant")
        ]

    def remember(self, rng: random.Random, visitor: Visitor) -> None:
        if len(self.pool) < self.pool_max:
            self.pool.append(visitor)
        else:
            self.pool[rng.randrange(len(self.pool) - 200)] = self.pool[-200]
            self.pool[-200:] = [*self.pool[-199:], visitor]

    async def respond(
        self,
        conn: Connection,
        rng: random.Random,
        visitor: Visitor,
        shown: list[tuple[str, str, str, str]],
    ) -> None:
        """What the visitor does on the page: impressions, perhaps a click, a cart, an order."""
        events: list[dict[str, Any]] = []
        marks = [dict(zip(("slot", "campaign", "variant", "token"), s, strict=True)) for s in shown]
        for mark in marks:
            if rng.random() < 0.9:
                events.append({"type": "impression", **mark})
        if marks and rng.random() < 0.3:
            events.append({"type": "click", **rng.choice(marks)})
        if rng.random() < 0.3:
            product = {**rng.choice(PRODUCTS), "quantity": rng.randint(1, 3)}
            events.append({"type": "goal", "name": "add_to_cart", "props": product})
            if rng.random() < 0.3:
                value = round(rng.uniform(10, 400), 2)
                events.append({"type": "goal", "name": "purchase", "props": {"value": value}})
        for event in events:
            if self.over():
                return
            await self.send_event(conn, rng, visitor, event)

    async def send_event(
        self, conn: Connection, rng: random.Random, visitor: Visitor, event: dict[str, Any]
    ) -> None:
        raw = build_request(
            "POST", "/v1/events", visitor.headers(), json.dumps(event).encode(), self.port
        )
        self.tally.events_sent += 1
        answer = await self.exchange(conn, rng, raw, f"event {event['type']}")
        if answer is None:
            return
        visitor.take_cookies(answer)
        if answer.status == 200:
            self.tally.events_ok += 1
            label = event["name"] if event["type"] == "goal" else event["campaign"]
            self.tally.accepted[(event["type"], label)] += 1
        elif answer.status == 429:
            self.tally.events_limited += 1
        else:
            self.tally.good_refused[f"event {event['type']}"] += 1
            self.tally.note(f"event {event}: {answer.status} {answer.body[:200]!r}")


# --- the run ------------------------------------------------------------------------------


@dataclass
class Report:
    seconds: float
    connections: int
    store_max: int
    tally: Tally
    rss_start_kb: int  # before any traffic
    rss_before_kb: int
    rss_after_kb: int
    rss_peak_kb: int
    events_counted: int  # /healthz counters.events, over the run
    metric_counts: Counter[tuple[str, str]]  # opmaat_events_total, over the run
    profile_bytes: list[int]  # sizes of a few stored profiles (GET /v1/me), as JSON
    bot_profile_bytes: list[int]  # the same for the last bots
    edge_alive: bool
    edge_problems: list[str]  # unhandled errors and tracebacks in the edge's log
    timeline: list[tuple[float, int, int, int]]  # seconds, RSS kB, profiles made, events ok
    warmup: float  # seconds before rss_before was read
    at_warmup: tuple[int, int]  # profiles made and events answered 200 by then

    @property
    def made(self) -> int:
        """New profiles: new visitors and bots."""
        return self.tally.new_visitors + self.tally.bots

    @property
    def made_after_warmup(self) -> int:
        return self.made - self.at_warmup[0]

    @property
    def events_after_warmup(self) -> int:
        return self.tally.events_ok - self.at_warmup[1]

    @property
    def rss_growth_mb(self) -> float:
        return (self.rss_after_kb - self.rss_before_kb) / 1024

    @property
    def allowance_mb(self) -> float:
        return rss_allowance_mb(self.store_max)

    @property
    def rate(self) -> float:
        return self.tally.requests / self.seconds if self.seconds else 0.0

    def lost_events(self) -> int:
        return max(0, self.tally.events_ok - self.events_counted)

    def failures(self) -> list[str]:
        t = self.tally
        out = []
        if t.server_errors:
            out.append(f"{t.server_errors} answer(s) with a 5xx status")
        if t.unanswered:
            out.append(f"{t.unanswered} good request(s) got no answer")
        if t.good_refused:
            out.append(f"good requests refused: {dict(t.good_refused)}")
        if t.bad_unexpected:
            out.append(f"bad inputs answered otherwise than expected: {dict(t.bad_unexpected)}")
        if self.rss_growth_mb > self.allowance_mb:
            out.append(
                f"resident memory grew {self.rss_growth_mb:.1f} MB, more than the "
                f"{self.allowance_mb:.1f} MB allowed for max_profiles={self.store_max}"
            )
        if self.events_counted != t.events_ok:
            out.append(
                f"{t.events_ok} event(s) answered 200 but the edge counted {self.events_counted}"
            )
        if +self.metric_counts != +t.accepted:
            differ = {
                f"{kind}/{name}": (t.accepted[(kind, name)], self.metric_counts[(kind, name)])
                for kind, name in set(t.accepted) | set(self.metric_counts)
                if t.accepted[(kind, name)] != self.metric_counts[(kind, name)]
            }
            out.append(f"opmaat_events_total differs from the events answered 200: {differ}")
        if not self.edge_alive:
            out.append("the edge is not healthy after the run")
        if self.edge_problems:
            out.append(
                f"the edge logged {len(self.edge_problems)} error(s): {self.edge_problems[0]}"
            )
        return out

    def summary(self) -> str:
        t = self.tally
        profiles = (
            f"; stored profiles: {_kb(self.profile_bytes)} KB per visitor, "
            f"{_kb(self.bot_profile_bytes)} KB per bot"
        )
        failures = self.failures()
        verdict = "All checks passed." if not failures else "FAILED: " + "; ".join(failures) + "."
        return (
            f"Soak of {self.seconds:.0f} s with {self.connections} connections against an edge "
            f"with memory://?max_profiles={self.store_max}: {t.requests} requests tried "
            f"({self.rate:.0f}/s), of which {t.bad} bad inputs ({t.closed_bad} closed by the "
            f"edge); {t.server_errors} answered 5xx, {t.unanswered} good requests unanswered; "
            f"{t.new_visitors} new visitors, {t.bots} cookieless bots (a new profile each) and "
            f"{t.returning_visits} returning visits, "
            f"{t.decisions} decisions. Resident memory {self.rss_start_kb / 1024:.1f} MB at the "
            f"start, {self.rss_before_kb / 1024:.1f} MB after "
            f"the warm-up ({self.warmup:.0f} s, {self.at_warmup[0]} profiles made), "
            f"{self.rss_after_kb / 1024:.1f} MB at the end "
            f"({self.rss_growth_mb:+.1f} MB, {self.allowance_mb:.0f} MB allowed; peak "
            f"{self.rss_peak_kb / 1024:.1f} MB){profiles}. Events: {t.events_sent} good sent, "
            f"{t.events_ok} answered 200, {t.events_limited} refused by the per-visitor limit "
            f"(429), {self.events_counted} counted by the edge ({self.lost_events()} lost). "
            f"Statuses: {dict(sorted(t.statuses.items()))}. {verdict}"
        )


def _kb(sizes: list[int]) -> str:
    return f"{sum(sizes) / len(sizes) / 1024:.1f}" if sizes else "?"


def _edge_problems(log: Path) -> list[str]:
    text = log.read_text(errors="replace")
    return [
        line.strip()
        for line in text.splitlines()
        if "unhandled error" in line or line.startswith("Traceback") or " ERROR " in line
    ]


async def _sample_profiles(edge: Edge, visitors: list[Visitor]) -> list[int]:
    sizes = []
    conn = Connection(edge.port)
    try:
        for visitor in visitors:
            raw = build_request("GET", "/v1/me", visitor.headers(False), None, edge.port)
            try:
                answer = await conn.send(raw)
            except NoAnswer:
                continue
            if answer.status == 200:
                stored = answer.json().get("stored")
                if stored:
                    sizes.append(len(json.dumps(stored, separators=(",", ":"))))
    finally:
        await conn.close()
    return sizes


async def _drive(
    edge: Edge, seconds: float, connections: int, store_max: int, seed: int, bots: float
) -> Report:
    started = time.monotonic()
    traffic = Traffic(edge.port, started + seconds, seed, store_max, bots)
    before = edge.healthz()["counters"]["events"]
    rss_start = edge.rss_kb()
    metrics_before = edge.event_metrics()
    workers = [asyncio.create_task(traffic.worker(n)) for n in range(connections)]
    timeline: list[tuple[float, int, int, int]] = []

    async def sample() -> None:
        while not traffic.over():
            t = traffic.tally
            made = t.new_visitors + t.bots
            timeline.append((time.monotonic() - started, edge.rss_kb(), made, t.events_ok))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    # The warm-up fills the store and what is bounded but not by the store: the parse caches
    # of URLs (2048 entries each, up to some KB each with the bots' URLs).
    warm = warmed_up(store_max)
    until = started + max(1.0, seconds * WARMUP_SHARE)
    while time.monotonic() < until and traffic.tally.new_visitors + traffic.tally.bots < warm:
        await asyncio.sleep(0.1)
    warmup = time.monotonic() - started
    rss_before = edge.rss_kb()
    at_warmup = (traffic.tally.new_visitors + traffic.tally.bots, traffic.tally.events_ok)
    await asyncio.gather(*workers)
    await sampler
    elapsed = time.monotonic() - started
    rss_after, rss_peak = edge.rss_kb(), edge.peak_kb()
    # After the RSS sample: /v1/me loads and saves, which changes nothing the checks count.
    sizes = await _sample_profiles(edge, traffic.pool[-20:])
    bot_sizes = await _sample_profiles(edge, traffic.bots_seen)
    try:
        health = edge.healthz()
        alive = health["status"] == "ok" and edge.proc.poll() is None
        counted = int(health["counters"]["events"]) - int(before)
        metric_counts = edge.event_metrics()
        metric_counts.subtract(metrics_before)
    except (OSError, RuntimeError):
        alive, counted, metric_counts = False, -1, Counter()
    return Report(
        seconds=elapsed,
        connections=connections,
        store_max=store_max,
        tally=traffic.tally,
        rss_start_kb=rss_start,
        rss_before_kb=rss_before,
        rss_after_kb=rss_after,
        rss_peak_kb=rss_peak,
        events_counted=counted,
        metric_counts=metric_counts,
        profile_bytes=sizes,
        bot_profile_bytes=bot_sizes,
        edge_alive=alive,
        edge_problems=_edge_problems(edge.log),
        timeline=timeline,
        warmup=warmup,
        at_warmup=at_warmup,
    )


def run(
    seconds: float,
    connections: int,
    store_max: int = 1000,
    *,
    bots: float = BOT_SHARE,
    seed: int | None = None,
    env: dict[str, str] | None = None,
) -> Report:
    """Start an edge, drive it for ``seconds`` with ``connections`` clients (``bots``: the
    share of visits by cookieless crawlers), stop it."""
    if seed is None:
        seed = random.randrange(1 << 30)
    with tempfile.TemporaryDirectory(prefix="opmaat-soak-") as folder:
        edge = start_edge(Path(folder), store_max, env)
        try:
            return asyncio.run(_drive(edge, seconds, connections, store_max, seed, bots))
        finally:
            edge.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m soak.traffic", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=60, help="how long to drive (60)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument(
        "--store-max", type=int, default=1000, help="the memory store's max_profiles (1000)"
    )
    parser.add_argument(
        "--bots",
        type=float,
        default=BOT_SHARE,
        help=f"share of visits by crawlers that keep no cookie ({BOT_SHARE})",
    )
    parser.add_argument("--seed", type=int, default=None, help="for a repeatable run")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.connections < 1 or args.store_max < 100:
        parser.error("--seconds > 0, --connections >= 1 and --store-max >= 100")
    if not 0 <= args.bots <= 1:
        parser.error("--bots is a share from 0 to 1")
    report = run(args.seconds, args.connections, args.store_max, bots=args.bots, seed=args.seed)
    print(report.summary())
    print(
        "RSS over time (s: MB, profiles made): "
        + ", ".join(f"{t:.0f}: {kb / 1024:.1f}, {made}" for t, kb, made, _ in report.timeline)
    )
    for sample in report.tally.samples:
        print("  " + sample)
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
