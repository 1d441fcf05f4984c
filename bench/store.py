"""Benchmark: decide throughput with the Redis store against the memory store (a ratio).

One in-process Personalizer per store deciding a page of three slots for returning visitors
(read the profile, count the page view, decide, write it back), 32 at a time as an edge under
load would. Starts its own redis-server on a free port; skipped when there is none.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

from opmaat.personalizer import Personalizer
from opmaat.redis_store import RedisStore
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
    """Decisions per second (median of ``rounds``) for each store, and redis / memory."""
    server = shutil.which("redis-server")
    if server is None:
        return {"skipped": "redis-server is not installed"}
    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )
        try:
            memory, redis = [], []
            for _ in range(rounds):
                memory.append(asyncio.run(decisions_per_second(MemoryStore(), total)))
                redis.append(asyncio.run(_on_redis(f"redis://127.0.0.1:{port}/0", total)))
        finally:
            proc.kill()
            proc.wait()
    memory.sort()
    redis.sort()
    mid = rounds // 2
    return {"memory": memory[mid], "redis": redis[mid], "ratio": redis[mid] / memory[mid]}


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
    if "skipped" in result:
        print(f"store benchmark skipped: {result['skipped']}")
    else:
        print(
            f"decide throughput, 3 slots, {CONCURRENCY} at a time: memory store "
            f"{result['memory']:,.0f}/s, redis store {result['redis']:,.0f}/s, "
            f"ratio {result['ratio']:.2f}"
        )
