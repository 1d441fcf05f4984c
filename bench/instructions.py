"""Benchmark: CPU instructions per request, counted by callgrind (noise-free before/after).

    .venv/bin/python -m bench.instructions [WORKLOAD ...] [--runs 50] [--warmup 200]
    PYTHONPATH=OLD/sdk:OLD/edge:. .venv/bin/python -m bench.instructions   (another tree's code)

Wall-clock figures on a shared 2-core machine move by ±30 µs between runs; instructions counted
under callgrind repeat within a fraction of a percent, so a change to the hot path is judged by
them. This module runs itself again under ``valgrind --tool=callgrind --instr-atstart=no``; a
small C shim (bench/callgrind_shim.c, compiled here into a temporary directory with ``cc``)
switches counting on for the measured requests only, after a warm-up. Needs valgrind and a C
compiler: ``apt-get install -y valgrind gcc``.

Workloads: ``decide`` is `bench.request`'s decide request through the whole edge app (its
campaign file, its returning visitors); ``bare`` is bare Starlette answering "ok"
(bench/bare_app.py); ``naive`` is the naive personalization route (bench/naive_app.py);
``profile`` and ``engine`` are the parts `bench.profile` and `bench.decide` time of
`bench.visitor`'s returning visitor (building the profile; the engine's decide); ``served``
and ``served-bare`` are `bench.served`'s requests: the decide and bare Starlette's "ok" with
wrk's bytes through the HTTP protocol of a worker, without sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench import request

SHIM = Path(__file__).with_name("callgrind_shim.c")
WORKLOADS = ("decide", "bare", "naive", "profile", "engine", "served", "served-bare")
One = Callable[[int], Awaitable[object]]


@contextlib.asynccontextmanager
async def _decide(visitors: int) -> AsyncIterator[One]:
    async with request.edge_app(visitors) as (app, people):

        async def one(i: int) -> object:
            cookie, address = people[i % len(people)]
            return await request.call(app, cookie, address=address)

        yield one


@contextlib.asynccontextmanager
async def _bare(visitors: int) -> AsyncIterator[One]:
    from bench import bare_app

    app = bare_app.create_app()

    async def one(i: int) -> object:
        return await request.call(app, None, method="GET", path="/")

    yield one


@contextlib.asynccontextmanager
async def _naive(visitors: int) -> AsyncIterator[One]:
    from bench import naive_app

    app = naive_app.create_app()
    cookies = [naive_app.visitor_cookie(i) for i in range(visitors)]

    async def one(i: int) -> object:
        return await request.call(app, cookies[i % len(cookies)])

    yield one


@contextlib.asynccontextmanager
async def _profile(visitors: int) -> AsyncIterator[One]:
    from bench import profile
    from bench.visitor import returning_visitor

    visitor = await asyncio.to_thread(returning_visitor)

    async def one(i: int) -> object:
        return profile.build_once(visitor)

    yield one


@contextlib.asynccontextmanager
async def _engine(visitors: int) -> AsyncIterator[One]:
    from bench.visitor import returning_visitor

    visitor = await asyncio.to_thread(returning_visitor)

    async def one(i: int) -> object:
        return visitor.engine.decide(
            visitor.profile, visitor.slots, now=visitor.now, exclude=visitor.exclude
        )

    yield one


def _shim(folder: Path) -> ctypes.CDLL:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler: apt-get install -y gcc")
    library = folder / "callgrind_shim.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM)],
        check=True,
        capture_output=True,
    )
    return ctypes.CDLL(str(library))


async def _counted(workload: str, runs: int, warmup: int, visitors: int, shim: Any) -> None:
    from bench import served

    factories = {"decide": _decide, "bare": _bare, "naive": _naive, "served": served.edge}
    factory = {
        **factories,
        "profile": _profile,
        "engine": _engine,
        "served-bare": served.bare,
    }[workload]
    async with factory(visitors) as one:
        for i in range(warmup):
            await one(i)
        shim.opmaat_callgrind_start()
        for i in range(warmup, warmup + runs):
            await one(i)
        shim.opmaat_callgrind_stop()


def _seed() -> None:
    # The same visitors and draws in every run and every tree: visitor and session ids come
    # from secrets.token_bytes, decision-token nonces from the random module, and the engine's
    # own generator is made with random.Random(). With them random, which variants, holdouts
    # and cached renders a run meets moves the count by a few percent.
    draws = random.Random(21)
    secrets.token_bytes = lambda nbytes=None: draws.randbytes(32 if nbytes is None else nbytes)
    random.seed(21)
    made = random.Random

    class Seeded(made):  # type: ignore[valid-type,misc]
        def __init__(self, seed: Any = None) -> None:
            super().__init__(21 if seed is None else seed)

    random.Random = Seeded  # type: ignore[misc]


def _inner(workload: str, runs: int, warmup: int, visitors: int) -> None:
    _seed()
    with tempfile.TemporaryDirectory(prefix="opmaat-shim-") as folder:
        shim = _shim(Path(folder))
        if workload.startswith("served"):  # on the loop a worker runs
            from bench.served import new_loop

            with asyncio.Runner(loop_factory=new_loop) as runner:
                runner.run(_counted(workload, runs, warmup, visitors, shim))
        else:
            asyncio.run(_counted(workload, runs, warmup, visitors, shim))


def count(
    workload: str = "decide",
    runs: int = 50,
    warmup: int = 200,
    visitors: int = 50,
    keep: Path | None = None,
) -> float:
    """Instructions per request of ``workload``: ``runs`` requests after ``warmup``, counted by
    callgrind in a child process. ``keep``: where to leave callgrind's output file (for
    ``callgrind_annotate``)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory(prefix="opmaat-callgrind-") as folder:
        out = keep or Path(folder) / "callgrind.out"
        argv = [valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        argv += [sys.executable, "-m", "bench.instructions", "--inner", workload]
        argv += ["--runs", str(runs), "--warmup", str(warmup), "--visitors", str(visitors)]
        # Fixed string hashing: set and dict layouts (and so their costs) repeat between runs.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{workload} under callgrind failed: {done.stderr[-2000:]}")
        return totals(out.read_text(encoding="utf-8", errors="replace")) / runs


def totals(output: str) -> int:
    """The instructions (Ir) a callgrind output file counted."""
    # "summary" counts from the start of the program (0 with --instr-atstart=no); "totals"
    # what was counted while instrumentation was on.
    found = re.search(r"^totals:\s+(\d+)", output, re.MULTILINE)
    if found is None:
        raise ValueError("no totals in callgrind's output")
    return int(found[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("workloads", nargs="*", choices=WORKLOADS, default=["decide"])
    parser.add_argument("--runs", type=int, default=50, help="requests counted (50)")
    parser.add_argument("--warmup", type=int, default=200, help="requests before them (200)")
    parser.add_argument("--visitors", type=int, default=50, help="returning visitors (50)")
    parser.add_argument("--keep", type=Path, help="keep callgrind's output file here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        _inner(args.workloads[0], args.runs, args.warmup, args.visitors)
        return 0
    figures = {
        name: count(name, args.runs, args.warmup, args.visitors, args.keep)
        for name in args.workloads
    }
    if args.json:
        print(json.dumps(figures))
    for name, per_request in figures.items():
        print(f"{name}: {per_request:,.0f} instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
