"""Decisions stay the same: a fixed, seeded set of visitors replayed through the edge against
what the code decided when the expectation was written (tests/edge/replay/expected.json).

The visitors are new and returning, from several countries and devices (a bot among them),
arriving from search, social, email and nowhere, with carts, purchases, product views, clicks,
consent choices, logins and personalized links; the campaign file (replay/campaigns.yaml) is the
benchmark's: the demo's campaigns, adaptive and held-out ones among them, and 200 generated ones.
Time, ids and the adaptive draws are fixed, so every answer repeats exactly. A change meant to
make deciding faster must keep every decision (campaign, variant, html, reason, holdout); a
change meant to alter decisions writes the expectation again, on purpose, and says why:

    .venv/bin/python -m tests.edge.test_decide_replay --write
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import json
import random
import secrets
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from opmaat_edge.app import create_app
from opmaat_edge.settings import EdgeSettings
from opmaat_edge.state import EdgeState

SITE = Path(__file__).with_name("replay")
EXPECTED = SITE / "expected.json"
KEY = "bench-signing-key-0123456789"  # the PURLs in replay/recipients-links.csv are signed by it
START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC).timestamp()
SEED = 21
VISITORS = 150

AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "",
)
LANGUAGES = ("nl-NL,nl;q=0.9,en;q=0.8", "en-US,en;q=0.9", "de-DE,de;q=0.9", "")
# The demo geo database's networks: NL, US, DE, BE; and an address it does not know.
NETWORKS = ("203.0.113.{}", "198.51.100.{}", "192.0.2.{}", "2001:db8:{:x}::1", "100.64.0.{}")
REFERRERS = (
    None,
    "https://www.google.com/search?q=trail+shoes",
    "https://www.google.nl/search?q=racefiets",
    "https://www.bing.com/search?q=running+socks",
    "https://www.facebook.com/",
    "https://t.co/abc123",
    "https://mail.google.com/",
    "http://127.0.0.1/",
    "https://blog.example.org/best-trails",
)
PATHS = ("/", "/c/running", "/c/cycling", "/c/outdoor", "/cart", "/p/trail-runner")
QUERIES = (
    "",
    "",
    "?utm_source=newsletter&utm_medium=email&utm_campaign=spring3",
    "?utm_source=facebook&utm_medium=social&utm_campaign=spring10",
    "?gclid=abc",
)
SLOTS = ("hero", "sidebar", "offer", "cart_banner", "promo", "store")
PRODUCTS = (
    {"id": "sku-1", "name": "Trail runner", "price": 89.95, "category": "running"},
    {"id": "sku-2", "name": "Road bike", "price": 1299.0, "category": "cycling"},
    {"id": "sku-3", "name": "Tent", "price": 249.5, "category": "outdoor"},
    {"id": "sku-4", "name": "Socks", "price": 9.95},
)
CUSTOMERS = ("c-1001", "c-1002", "c-1003", "c-1004", "c-1005", "c-9999")
ADAPTIVE_TALLIES = (("shipping", 120, 6), ("bundle", 110, 22), ("discount", 100, 9))
Step = dict[str, Any]


def journeys(seed: int = SEED, visitors: int = VISITORS) -> list[tuple[dict[str, str], list[Step]]]:
    """Each visitor's request headers and steps, drawn from ``seed``."""
    rnd = random.Random(seed)
    links = [row["url"].split("/p/", 1)[1] for row in csv.DictReader(_purl_rows())]
    out = []
    for i in range(visitors):
        headers = {
            "user-agent": rnd.choice(AGENTS),
            "accept-language": rnd.choice(LANGUAGES),
            "x-forwarded-for": rnd.choice(NETWORKS).format(i % 250 + 1),
        }
        steps: list[Step] = []
        if rnd.random() < 0.08:
            steps.append({"do": "land", "token": rnd.choice(links)})
        page_consent = rnd.choice((None, None, None, "session", "none", "full"))
        referrer = rnd.choice(REFERRERS)
        for _ in range(rnd.randint(1, 9)):
            kind = rnd.choices(
                ("decide", "goal", "response", "wait", "consent", "identify"),
                weights=(10, 3, 2, 4, 1, 1),
            )[0]
            if kind == "decide" or not steps:
                path = rnd.choice(PATHS)
                page: dict[str, Any] = {}
                if path.startswith("/c/"):
                    page["category"] = path[3:]
                if path.startswith("/p/"):
                    product = rnd.choice(PRODUCTS)
                    page |= {"product": product["id"], "product_name": product["name"]}
                    page |= {"price": product["price"], "category": product.get("category")}
                steps.append(
                    {
                        "do": "decide",
                        "slots": rnd.sample(SLOTS, rnd.randint(1, 4)),
                        "url": "http://127.0.0.1" + path + rnd.choice(QUERIES),
                        "referrer": referrer,
                        "page": {k: v for k, v in page.items() if v is not None},
                        "consent": page_consent,
                    }
                )
                referrer = "http://127.0.0.1" + path
            elif kind == "goal":
                name = rnd.choice(("add_to_cart", "add_to_cart", "product_view", "purchase"))
                name = rnd.choice((name, "newsletter_signup", "no_such_event"))
                props = None
                if name in ("add_to_cart", "product_view"):
                    props = {**rnd.choice(PRODUCTS), "quantity": rnd.randint(1, 3)}
                elif name == "purchase":
                    props = {"value": rnd.choice((19.95, 120.0, 1500.0))}
                steps.append({"do": "goal", "name": name, "props": props})
            elif kind == "response":
                steps.append({"do": rnd.choice(("impression", "click"))})
            elif kind == "wait":
                seconds = rnd.choice((45, 600, 2400, 2400, 7200, 86400 * 3, 86400 * 35))
                steps.append({"do": "wait", "seconds": seconds})
            elif kind == "consent":
                steps.append({"do": "consent", "tier": rnd.choice(("none", "session", "full"))})
            else:
                steps.append({"do": "identify", "customer": rnd.choice(CUSTOMERS)})
        out.append((headers, steps))
    return [*out, *_written_out()]


def _written_out() -> list[tuple[dict[str, str], list[Step]]]:
    # Journeys that reach what random ones rarely do: a shopper's intent, a loyal customer.
    headers = {"user-agent": AGENTS[0], "accept-language": LANGUAGES[0]}

    def page(path: str, slots: list[str], **meta: Any) -> Step:
        url = "http://127.0.0.1" + path
        return {"do": "decide", "slots": slots, "url": url, "page": meta, "consent": "full"}

    shopper = [
        page("/p/trail-runner", ["offer"], product="sku-1", price=89.95, category="running"),
        page("/p/road-bike", ["offer"], product="sku-2", price=1299.0, category="cycling"),
        page("/p/tent", ["offer", "sidebar"], product="sku-3", price=249.5, category="outdoor"),
        {"do": "goal", "name": "add_to_cart", "props": {**PRODUCTS[0], "quantity": 2}},
        page("/cart", ["offer", "cart_banner", "hero"]),
        {"do": "wait", "seconds": 2400},
        page("/", ["hero", "cart_banner", "offer"]),
        {"do": "goal", "name": "purchase", "props": {"value": 179.9}},
        page("/", ["hero", "offer"]),
    ]
    loyal = [
        page("/", ["hero"]),
        {"do": "identify", "customer": "c-1001"},
        page("/c/running", ["hero", "sidebar", "offer"]),
        {"do": "wait", "seconds": 7200},
        page("/", ["hero", "sidebar", "offer"]),
        {"do": "click"},
        {"do": "wait", "seconds": 86400 * 35},
        page("/", ["hero", "sidebar", "offer"]),
    ]
    return [
        ({**headers, "x-forwarded-for": "203.0.113.251"}, shopper),
        ({**headers, "x-forwarded-for": "192.0.2.252"}, loyal),
    ]


def _purl_rows() -> list[str]:
    return (SITE / "recipients-links.csv").read_text(encoding="utf-8").splitlines()


class Clock:
    """The time every part of the edge reads (time.time and the personalizer's datetime)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def datetime(self) -> type[datetime]:
        clock = self

        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Frozen:
                return cls.fromtimestamp(clock.now, tz)

        return Frozen


@contextlib.contextmanager
def fixed_world(clock: Clock, seed: int) -> Iterator[None]:
    """Time from ``clock``; visitor and session ids, and the global random draws (decision
    tokens' nonces), from ``seed``."""
    ids = random.Random(seed)

    # Where ids come from (opmaat.identity.new_id), not new_id itself: a compiled build
    # (opmaat/compiled.py) calls that function directly, a module's name patched or not.
    def token_bytes(nbytes: int | None = None) -> bytes:
        return ids.randbytes(32 if nbytes is None else nbytes)

    def token_urlsafe(nbytes: int | None = None) -> str:  # the pages' nonces, drawn apart
        return base64.urlsafe_b64encode(nonces.randbytes(nbytes or 32)).decode().rstrip("=")

    nonces = random.Random(seed + 1)

    state = random.getstate()
    random.seed(seed)
    try:
        with (
            mock.patch.object(time, "time", clock.time),
            mock.patch("opmaat.personalizer.datetime", clock.datetime()),
            mock.patch.object(secrets, "token_bytes", token_bytes),
            mock.patch.object(secrets, "token_urlsafe", token_urlsafe),
        ):
            yield
    finally:
        random.setstate(state)


async def _send(
    app: Any, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    raw = json.dumps(body).encode() if body is not None else b""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items() if v],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "root_path": "",
    }
    sent: list[dict[str, Any]] = []
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], start["headers"], b"".join(m.get("body", b"") for m in sent[1:])


def _keep_cookies(jar: dict[str, str], headers: list[tuple[bytes, bytes]]) -> None:
    # What a browser keeps of each Set-Cookie: its value, or nothing once Max-Age is 0.
    for name, value in headers:
        if name != b"set-cookie":
            continue
        first, *attributes = value.decode("latin-1").split(";")
        key, _, text = first.strip().partition("=")
        if any(a.strip().lower() == "max-age=0" for a in attributes):
            jar.pop(key, None)
        else:
            jar[key] = text


async def _replay(clock: Clock) -> list[dict[str, Any]]:
    settings = EdgeSettings(config=str(SITE / "campaigns.yaml"), secret_keys=(KEY,), dev=True)
    app = create_app(settings)
    state: EdgeState = app.state.edge
    personalizer = state.personalizer
    engine = state.runtime.current.engine
    engine.rng = random.Random(SEED)
    for variant, impressions, clicks in ADAPTIVE_TALLIES:
        for field, count in (("impressions", impressions), ("clicks", clicks)):
            for _ in range(count):
                await personalizer.store.tally("promo-test", variant, field)
    await personalizer.learn()
    outcomes: list[dict[str, Any]] = []
    for number, (headers, steps) in enumerate(journeys()):
        jar: dict[str, str] = {}
        shown: list[dict[str, Any]] = []  # the last decide's filled slots, for responses
        for index, step in enumerate(steps):
            clock.now += 20
            sent = {"host": "127.0.0.1", "content-type": "text/plain;charset=UTF-8", **headers}
            if jar:
                sent["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
            outcome: dict[str, Any] = {"visitor": number, "step": index, "do": step["do"]}
            if step["do"] == "wait":
                clock.now += step["seconds"]
                continue
            if step["do"] == "decide":
                body = {k: v for k, v in step.items() if k != "do" and v is not None}
                status, answer, raw = await _send(app, "POST", "/v1/decide", sent, body)
                data = json.loads(raw)
                outcome["consent"] = data.get("consent")
                outcome["slots"] = {
                    slot: [d["campaign"], d["variant"], d["reason"], d["holdout"], d["html"]]
                    for slot, d in data.get("slots", {}).items()
                }
                shown = [
                    {"slot": slot, **d} for slot, d in data.get("slots", {}).items() if d["variant"]
                ]
            elif step["do"] in ("impression", "click"):
                if not shown:
                    continue
                d = shown[0]
                body = {"type": step["do"], "campaign": d["campaign"], "variant": d["variant"]}
                body |= {"slot": d["slot"], "token": d["token"]}
                status, answer, raw = await _send(app, "POST", "/v1/events", sent, body)
            elif step["do"] == "goal":
                body = {"type": "goal", "name": step["name"], "props": step["props"]}
                status, answer, raw = await _send(app, "POST", "/v1/events", sent, body)
            elif step["do"] == "consent":
                body = {"tier": step["tier"]}
                status, answer, raw = await _send(app, "POST", "/v1/consent", sent, body)
            elif step["do"] == "identify":
                proof = personalizer.identify_proof(step["customer"])
                body = {"customer_id": step["customer"], "proof": proof}
                status, answer, raw = await _send(app, "POST", "/v1/identify", sent, body)
            else:
                status, answer, raw = await _send(app, "GET", "/p/" + step["token"], sent)
            outcome["status"] = status
            _keep_cookies(jar, answer)
            outcomes.append(outcome)
    return outcomes


def replay() -> list[dict[str, Any]]:
    """Every step's outcome (decisions for the decides, the status for the rest), in order."""
    clock = Clock(START)
    with fixed_world(clock, SEED):
        return asyncio.run(_replay(clock))


def _differences(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    found = [
        f"visitor {want['visitor']} step {want['step']} ({want['do']}):\n  expected "
        f"{json.dumps(want)}\n  got      {json.dumps(got)}"
        for want, got in zip(expected, actual, strict=False)
        if want != got
    ]
    if len(expected) != len(actual):
        found.append(f"{len(expected)} outcomes expected, {len(actual)} replayed")
    return found


def test_every_decision_is_what_it_was() -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    differences = _differences(expected, replay())
    assert not differences, "\n".join(differences[:10])


def test_the_replay_covers_what_it_says() -> None:
    # Guards the fixture itself: a replay that decided nothing interesting proves nothing.
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    decided = [o for o in expected if o["do"] == "decide"]
    chosen = {d[0] for o in decided for d in o["slots"].values() if d[0]}
    reasons = {d[2] for o in decided for d in o["slots"].values()}
    assert len(decided) >= 200
    demo = {"promo-test", "cart-contents", "cart-reminder", "third-visit", "spring-mailing"}
    demo |= {"ready-to-buy", "vip-hero", "back-after-a-month", "three-products-today"}
    assert demo <= chosen
    assert len(chosen) >= 30
    assert any(d[3] for o in decided for d in o["slots"].values())  # a holdout
    assert len(reasons) >= 20
    assert {o["consent"] for o in decided} >= {"none", "session", "full"}
    assert {o["do"] for o in expected} >= {"goal", "impression", "click", "consent", "identify"}
    assert "land" in {o["do"] for o in expected}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    outcomes = replay()
    EXPECTED.write_text(
        "[\n" + ",\n".join(json.dumps(o, ensure_ascii=False) for o in outcomes) + "\n]\n",
        encoding="utf-8",
    )
    print(f"wrote {len(outcomes)} outcomes to {EXPECTED}")
