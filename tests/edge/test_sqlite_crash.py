"""`kill -9` under load: a real `opmaat serve --workers 2` on a SQLite file, one worker and then
every process killed while visitors browse and their impressions are counted. Nothing the edge
acknowledged is lost (there is no write-behind: an answer goes out after its write is
committed), the file is intact, and the restarted edge serves every visitor's profile and the
same campaign numbers."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from soak.traffic import Edge, start_edge

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
VISITORS = 24
THREADS = 6
SETTINGS = {"OPMAAT_NEW_VISITORS_PER_MINUTE": "0", "OPMAAT_EVENTS_PER_MINUTE": "0"}
BODY = {
    "slots": ["hero", "sidebar"],
    "url": "http://127.0.0.1/c/running",
    "referrer": "https://www.google.com/search?q=tents",
    "page": {"category": "running"},
}


def call(
    conn: http.client.HTTPConnection, path: str, body: Any, cookie: str | None
) -> tuple[int, Any, str | None]:
    headers = {"Content-Type": "text/plain", "Host": "127.0.0.1", "User-Agent": BROWSER}
    if cookie:
        headers["Cookie"] = cookie
    conn.request("POST" if body is not None else "GET", path, json.dumps(body), headers)
    answer = conn.getresponse()
    data = json.loads(answer.read() or b"null")
    set_cookie = answer.getheader("set-cookie") or ""
    fresh = set_cookie.split(";", 1)[0] if set_cookie.startswith("opmaat=") else None
    return answer.status, data, fresh


class Browsing:
    """Visitors viewing pages and their impressions being sent, on THREADS threads; what the
    edge acknowledged (a 200) is counted per visitor and per campaign arm."""

    def __init__(self, edge: Edge, cookies: list[str]) -> None:
        self.port = edge.port
        self.cookies = cookies
        self.pageviews: Counter[str] = Counter()
        self.impressions: Counter[tuple[str, str]] = Counter()
        self.failures = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(THREADS)]

    def run(self, offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        n = offset
        try:
            while not self.stop.is_set():
                cookie = self.cookies[n % len(self.cookies)]
                n += THREADS
                try:
                    status, data, _ = call(conn, "/v1/decide", BODY, cookie)
                    if status != 200:
                        continue
                    with self.lock:
                        self.pageviews[cookie] += 1
                    for slot, decision in data["slots"].items():
                        if not decision.get("campaign"):
                            continue
                        mark = {k: decision[k] for k in ("campaign", "variant", "token")}
                        event = {"type": "impression", "slot": slot, **mark}
                        status, _, _ = call(conn, "/v1/events", event, cookie)
                        if status == 200:
                            with self.lock:
                                self.impressions[(mark["campaign"], mark["variant"])] += 1
                except (OSError, http.client.HTTPException, ValueError):
                    self.failures += 1  # a killed worker's connection: not acknowledged
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        finally:
            # Closed here, not left to the collector: a socket still open when the thread
            # ends is a ResourceWarning, which this suite turns into a failure.
            conn.close()

    def __enter__(self) -> Browsing:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def workers(edge: Edge) -> list[int]:
    children = Path(f"/proc/{edge.proc.pid}/task/{edge.proc.pid}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def metric(edge: Edge, name: str) -> float:
    _, body = edge.get("/metrics")
    lines = [line for line in body.decode().splitlines() if line.startswith(name + " ")]
    return float(lines[0].split()[-1]) if lines else 0.0


def tallies(path: Path) -> dict[tuple[str, str], int]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT campaign, variant, count FROM tallies WHERE day = '' AND field = 'impressions'"
        ).fetchall()
    return {(campaign, variant): count for campaign, variant, count in rows}


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "opmaat.db"
    key = "crash-test-signing-key-0123456789"
    args = ("--store", f"sqlite://{db}", "--workers", "2")
    env = {**SETTINGS, "OPMAAT_SECRET_KEYS": key}
    edge = start_edge(tmp_path / "first", 1000, env, args=args)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=5)
        cookies = []
        for _ in range(VISITORS):
            status, _, cookie = call(conn, "/v1/decide", BODY, None)
            assert status == 200
            assert cookie is not None
            cookies.append(cookie)
        conn.close()
        with Browsing(edge, cookies) as browsing:
            time.sleep(1.5)
            first, *_ = workers(edge)
            os.kill(first, signal.SIGKILL)  # one worker, mid-traffic
            time.sleep(2.0)
            assert metric(edge, "opmaat_store_errors_total") == 0  # every 200 was written
            for pid in [*workers(edge), edge.proc.pid]:  # then everything at once
                os.kill(pid, signal.SIGKILL)
        edge.proc.wait(10)
    finally:
        edge.stop()
    assert sum(browsing.pageviews.values()) > 100, "too little traffic to mean anything"
    assert sum(browsing.impressions.values()) > 100, "no campaign was shown and counted"
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    counted = tallies(db)
    for arm, acknowledged in browsing.impressions.items():
        assert counted.get(arm, 0) >= acknowledged, arm

    again = start_edge(tmp_path / "again", 1000, env, args=args)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", again.port, timeout=5)
        for n, cookie in enumerate(cookies):
            status, me, _ = call(conn, "/v1/me", None, cookie)
            assert status == 200
            # Their first page view, and every one acknowledged since.
            assert me["session"]["pageviews"] >= 1 + browsing.pageviews[cookie], n
        conn.close()
        _, body = again.get("/healthz")
        assert json.loads(body)["store"] == {"kind": "sqlite", "state": "ok", "errors": 0}
    finally:
        again.stop()
    assert tallies(db) == counted  # the cockpit's numbers, as they were
