"""`make bench`: every benchmark, side by side with its budget, written to bench/RESULTS.md.

Each figure is a median of several runs; every comparison (edge against bare Starlette, our
condition evaluator against GrowthBook's, SQLite and Redis against memory) is a ratio measured
in the same run, because absolute times on a shared machine drift.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    baseline,
    decide,
    evaluator,
    http,
    memory,
    middleware,
    profile,
    recommend,
    request,
    served,
    snippet,
    store,
)

RESULTS = Path(__file__).with_name("RESULTS.md")
PACKAGES = (
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "jinja2",
    "orjson",
    "itsdangerous",
    "user-agents",
    "maxminddb",
    "redis",
    "growthbook",
)


def machine() -> list[str]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    system = platform.platform()
    try:
        release = Path("/etc/os-release").read_text(encoding="utf-8")
        system = next(
            line.split("=", 1)[1].strip('"')
            for line in release.splitlines()
            if line.startswith("PRETTY_NAME=")
        )
    except (OSError, StopIteration):
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    wrk = shutil.which("wrk")
    wrk_version = "not installed"
    if wrk:
        done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        wrk_version = ((done.stdout or done.stderr).splitlines() or ["?"])[0]
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory_kb / 1024 / 1024:.1f} GiB",
        f"- System: {system}, kernel {platform.release()}",
        f"- Python {platform.python_version()}; {', '.join(versions)}",
        f"- Load generator: {wrk_version}",
        f"- opmaat build: {_build()}",
    ]


def _build() -> str:
    from opmaat import compiled

    if compiled.build == "compiled":
        return "compiled (`scripts/compile`: the decide path in C extensions made by mypyc)"
    return f"plain Python{f' ({compiled.reason})' if compiled.reason else ''}"


def timed(name: str, work: Callable[[], Any]) -> Any:
    print(f"bench: {name} ...", flush=True)
    started = time.perf_counter()
    result = work()
    print(f"bench: {name} done in {time.perf_counter() - started:.0f} s", flush=True)
    return result


def status(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> int:
    started = dt.datetime.now(dt.UTC)
    # The in-process figures first: after wrk, servers still winding down skew them.
    figures: dict[str, Any] = {
        "profile": timed("profile build", profile.run),
        "decide": timed("decide", decide.run),
        "request": timed("decide request in-process", request.run),
        "served": timed("decide request served in-process", served.run),
        "baseline": timed("decide request against the round's start", baseline.run),
        "evaluator": timed("condition evaluators", evaluator.run),
        "snippet": timed("snippet size", snippet.run),
        "middleware": timed("middleware", middleware.run),
        "http": timed("edge throughput (wrk)", http.run),
        "memory": timed("memory per profile", memory.run),
        "store": timed("sqlite and redis against memory", store.run),
        "recommend": timed("recommendations", lambda: asyncio.run(recommend.run())),
    }
    text = render(figures, started)
    RESULTS.write_text(text, encoding="utf-8")
    print(text.split("## Details", 1)[0])
    print(f"bench: written to {RESULTS}")
    return 0


def render(f: dict[str, Any], started: dt.datetime) -> str:
    web = f["http"]
    c = web["configs"]
    ev, mem, snip, mid = f["evaluator"], f["memory"], f["snippet"], f["middleware"]
    decide_us = max(f["decide"].values())
    base = f["baseline"]
    rows = [
        (
            f"decide request in-process, share of the round's start ({baseline.BASELINE[:7]})",
            f"{base['share']:.2f} ({base['current_us']:,.0f} / {base['baseline_us']:,.0f} µs)"
            if base["available"]
            else f"not measured: {base['why']}",
            f"≤ {baseline.BUDGET_SHARE:.2f}",
            status(base["available"] and base["ok"]),
            "python -m bench.baseline",
        ),
        (
            "edge decide / bare Starlette, req/s, 1 worker",
            f"{web['ratios']['1']:.2f} ({c['edge/1']['rps']:,.0f} / {c['bare/1']['rps']:,.0f})",
            f"≥ {http.BUDGET_RATIO:.2f}",
            status(web["budget"]["1"]["ratio_ok"]),
            "python -m bench.http",
        ),
        (
            "edge decide / bare Starlette, req/s, 2 workers (Redis)",
            f"{web['ratios']['2']:.2f} ({c['edge/2']['rps']:,.0f} / {c['bare/2']['rps']:,.0f})",
            f"≥ {http.BUDGET_RATIO:.2f}",
            status(web["budget"]["2"]["ratio_ok"]),
            "python -m bench.http",
        ),
        (
            "edge/bare ratio, 2 workers on Redis against 1 worker on memory",
            f"{web['redis_share']['share']:.2f}",
            f"≥ {http.BUDGET_REDIS_SHARE:.2f}",
            status(web["redis_share"]["ok"]),
            "python -m bench.http",
        ),
        *(
            [
                (
                    "edge decide req/s, 2 workers on SQLite / 1 worker on memory",
                    f"{web['sqlite']['ratio']:.2f} ({c['sqlite/2']['rps']:,.0f} / "
                    f"{c['memory/1']['rps']:,.0f}; p99 {c['sqlite/2']['p99_ms']:.1f} ms)",
                    f"≥ {http.BUDGET_SQLITE:.2f}",
                    status(web["sqlite"]["ok"]),
                    "python -m bench.http",
                )
            ]
            if "sqlite" in web
            else []
        ),
        *(
            [
                (
                    "edge decide / a naive personalization route, req/s, 1 worker",
                    f"{web['naive']['edge_over_naive']:.2f} (naive / bare "
                    f"{web['naive']['over_bare']:.2f})",
                    "reported",
                    "",
                    "python -m bench.http",
                )
            ]
            if "naive" in web
            else []
        ),
        (
            "edge decide p99 at 32 connections, 1 worker",
            f"{c['edge/1']['p99_ms']:.1f} ms (p50 {c['edge/1']['p50_ms']:.1f} ms)",
            f"≤ {http.BUDGET_P99_MS:g} ms",
            status(web["budget"]["1"]["p99_ok"]),
            "python -m bench.http",
        ),
        (
            "decide, 3 slots over 216 campaigns, returning visitor (median)",
            f"{decide_us:.0f} µs",
            "≤ 200 µs",
            status(decide_us <= 200),
            "python -m bench.decide",
        ),
        (
            "condition evaluation, GrowthBook's / ours",
            f"{ev['ratio']:.1f}x ({ev['growthbook_us']:.2f} / {ev['ours_us']:.2f} µs)",
            "≥ 3x",
            status(ev["ratio"] >= 3),
            "python -m bench.evaluator",
        ),
        (
            "resident bytes per stored profile, 100,000 visitors",
            f"{mem['rss_per_profile']:,.0f} B",
            f"≤ {mem['budget']:,} B",
            status(mem["rss_per_profile"] <= mem["budget"]),
            "python -m bench.memory",
        ),
        (
            "snippet as served, gzip -9",
            f"{snip['gzip']:,} B (raw {snip['raw']:,}, brotli {snip['brotli']:,})",
            f"≤ {snip['budget']:,} B",
            status(snip["gzip"] <= snip["budget"]),
            "python -m bench.snippet",
        ),
        (
            "middleware, added time on a 50 KB page with 3 slots",
            f"{mid['added']:.2f} ms",
            "≤ 1 ms",
            status(mid["added"] <= 1.0),
            "python -m bench.middleware",
        ),
    ]
    if "recommend" in f:
        label, measured, budget, ok, command = recommend.budget_row(f["recommend"])
        rows.append((label, measured, budget, status(ok), command))
    out = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python -m bench.report`) on {started:%Y-%m-%d %H:%M} UTC. "
        "Figures are medians of several runs; ratios are measured in the same run.",
        "",
        *machine(),
        "",
        "## Budgets",
        "",
        "| figure | measured | budget | | command |",
        "|---|---|---|---|---|",
        *(f"| {a} | {b} | {c_} | {d} | `{e}` |" for a, b, c_, d, e in rows),
        "",
        "## Details",
        "",
        "### Edge throughput and latency (wrk)",
        "",
        "```",
        http.table(web),
        "```",
        "",
        "### Engine, in-process",
        "",
        f"- one decide request through the whole edge app, no sockets (`python -m "
        f"bench.request`): {f['request']:.0f} µs",
        f"- the same decide with wrk's bytes through a worker's HTTP protocol, no sockets "
        f'(`python -m bench.served`): {f["served"]["edge_us"]:.0f} µs; bare Starlette\'s "ok" '
        f"served so {f['served']['bare_us']:.1f} µs; bare/edge "
        f"{f['served']['bare_over_edge']:.3f} (wrk's edge/bare without the kernel's share)",
        f"- profile build (request context + stored record), returning visitor: "
        f"{f['profile']:.1f} µs",
        *(f"- decide, 3 slots over 216 campaigns, {k}: {v:.0f} µs" for k, v in f["decide"].items()),
        f"- conditions: {ev['cases']} cases ({ev['conditions']} conditions x {ev['profiles']} "
        f"profiles) on which both evaluators agree; ours {ev['ours_us']:.2f} µs, GrowthBook's "
        f"{ev['growthbook_us']:.2f} µs per evaluation; lowest ratio "
        f"{ev['lowest_ratio']:.1f}x (`{ev['lowest_ratio_condition']}`); "
        f"{len(ev['disagreements'])} cases disagree (a missing attribute compares like 0 in "
        "ours) and are left out",
        "",
        "### Memory",
        "",
        f"- resident: {mem['rss_per_profile']:,.0f} B per profile; tracemalloc "
        f"{mem['traced_per_profile']:,.0f} B; mean profile JSON {mem['encoded_mean']:,.0f} B, "
        f"kept packed (zlib with a preset dictionary) in "
        f"{mem['encoded_length_per_profile']:,.0f} B; the hot tier (the most recently used "
        f"records as plain JSON, bounded) {mem['hot_tier'] / 2**20:,.1f} MiB on top, and the "
        f"decoded records ({memory.DECODED_RECORDS:,} at most, the dicts requests handed back) "
        f"{mem['decoded_tier'] / 2**20:,.1f} MiB",
        "",
        "### SQLite and Redis against memory, in-process",
        "",
        f"- {store_line(f['store'])}",
        "",
        *(
            ["### Recommendations", "", "```", *recommend.report(f["recommend"]), "```", ""]
            if "recommend" in f
            else []
        ),
        HISTORY.read_text(encoding="utf-8").split("-->", 1)[-1].strip(),
        "",
    ]
    return "\n".join(out)


# Written by hand when the code changes what the figures say (before and after, with the
# commits to rerun them on), and what is still missed and why.
HISTORY = Path(__file__).with_name("HISTORY.md")


def store_line(result: dict[str, Any]) -> str:
    figures = [f"memory {result['memory']:,.0f}"]
    for kind, name in (("sqlite", "SQLite"), ("redis", "Redis")):
        if kind in result:
            ratio = result[kind] / result["memory"]
            figures.append(f"{name} {result[kind]:,.0f} ({name} / memory {ratio:.2f})")
    skipped = f"; Redis left out: {result['skipped']}" if "skipped" in result else ""
    return f"decisions per second: {', '.join(figures)}{skipped}"


if __name__ == "__main__":
    sys.exit(main())
