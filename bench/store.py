"""Benchmark: decide throughput with the SQLite and Redis stores against the memory store.

One in-process Personalizer per store deciding a page of three slots for returning visitors
(read the profile, count the page view, decide, write it back), 32 at a time as an edge under
load would. SQLite writes a file in a temporary folder; Redis is a redis-server started on a
free port (left out when there is none).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from opmaat.personalizer import Personalizer
from opmaat.redis_store import RedisStore
from opmaat.sqlite_store import SQLiteStore
from opmaat.store import MemoryStore, ProfileStore
from opmaat_edge.resources import DEMO_CAMPAIGNS

KEY = "bench-signing-key-0123456789"
HEADERS = {
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "referer": "https://www.google.com/search?q=trail+shoes",
}
VISITORS = 200
CONCURRENCY = 32


async def decisions_per_second(store: ProfileStore, total: int) -> float:
    personalizer = Personalizer(DEMO_CAMPAIGNS, secret_keys=[KEY], store=store)
    cookies = []
    for i in range(VISITORS):
        visit = await personalizer.open(peer=f"198.51.100.{i % 250}", headers=HEADERS, cookies={})
        await visit.page_view(["hero"], url="https://shop.example/", referrer=HEADERS["referer"])
        change = next(c for c in visit.cookie_changes() if c.name == "opmaat")
        cookies.append({"opmaat": change.value or ""})

    async def one(i: int) -> None:
        visit = await personalizer.open(peer="198.51.100.7", headers=HEADERS, cookies=cookies[i])
        await visit.page_view(
            ["hero", "sidebar", "cart_banner"],
            url="https://shop.example/c/running",
            referrer=HEADERS["referer"],
            page={"category": "running"},
        )

    async def worker(start: int) -> None:
        for i in range(start, total, CONCURRENCY):
            await one(i % VISITORS)

    began = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    elapsed = time.perf_counter() - began
    assert personalizer.stats.decide_errors == 0
    assert store.errors == 0, "the store failed during the benchmark"
    return total / elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(total: int = 20_000, rounds: int = 3) -> dict[str, Any]:
    """Decisions per second (median of ``rounds``) for each store, and each over memory."""
    server = shutil.which("redis-server")
    figures: dict[str, list[float]] = {"memory": [], "sqlite": [], "redis": []}
    with tempfile.TemporaryDirectory() as workdir:
        proc = None
        port = _free_port()
        if server is not None:
            argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            proc = subprocess.Popen([*argv, "--dir", workdir], stdout=subprocess.DEVNULL)
        try:
            for n in range(rounds):
                figures["memory"].append(asyncio.run(decisions_per_second(MemoryStore(), total)))
                path = Path(workdir) / f"bench-{n}.db"
                figures["sqlite"].append(asyncio.run(_on_sqlite(path, total)))
                if proc is not None:
                    url = f"redis://127.0.0.1:{port}/0"
                    figures["redis"].append(asyncio.run(_on_redis(url, total)))
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
    result: dict[str, Any] = {
        kind: sorted(values)[rounds // 2] for kind, values in figures.items() if values
    }
    for kind in ("sqlite", "redis"):
        if kind in result:
            result[f"{kind}_ratio"] = result[kind] / result["memory"]
    if proc is None:
        result["skipped"] = "redis-server is not installed"
    return result


async def _on_sqlite(path: Path, total: int) -> float:
    store = SQLiteStore(path)
    try:
        return await decisions_per_second(store, total)
    finally:
        await store.close()


async def _on_redis(url: str, total: int) -> float:
    store = RedisStore.from_url(url + "?timeout_ms=1000")
    for _ in range(100):  # wait for the server to accept connections
        try:
            await store.client.ping()
            break
        except OSError:
            await asyncio.sleep(0.05)
    try:
        return await decisions_per_second(store, total)
    finally:
        await store.close()


if __name__ == "__main__":
    result = run()
    stores = ", ".join(
        f"{kind} {result[kind]:,.0f}/s" for kind in ("memory", "sqlite", "redis") if kind in result
    )
    print(f"decide throughput, 3 slots, {CONCURRENCY} at a time: {stores}")
    for kind in ("sqlite", "redis"):
        if f"{kind}_ratio" in result:
            print(f"{kind} / memory: {result[f'{kind}_ratio']:.2f}")
    if "skipped" in result:
        print(f"redis left out: {result['skipped']}")
