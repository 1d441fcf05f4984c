"""Benchmark: the edge over HTTP with a load generator that is not ours (wrk).

    .venv/bin/python -m bench.http        (not `python bench/http.py`: that shadows `http`)

For each worker count, wrk measures alternately, in the same run:

* bare: a bare Starlette app answering "ok" (bench/bare_app.py) under exactly the edge's
  uvicorn settings: the ceiling of this stack on this machine;
* edge: `opmaat serve` deciding a realistic page (3 slots; the demo campaigns plus 200
  generated ones; a returning visitor's cookie, browser headers, X-Forwarded-For from the demo
  geo networks). One worker runs on the memory store, more on a redis-server started here;
* with one worker also the edge with ``loop=asyncio, http=h11`` (uvicorn's pure-Python
  choices) against the defaults (uvloop and httptools), to see what those buy, and a naive
  personalization route (bench/naive_app.py: cookie check, 50 rules, JSON) with the edge's
  visitors, to see what is the framework's time and what is ours;
* then the stores of one machine, alternately in one phase: the edge on the memory store
  (1 worker) and on a SQLite file (1 and 2 workers).

Each configuration: a warm-up run (discarded), then ``rounds`` runs; medians are reported.
Budgets: edge ≥ 60% of bare requests/s, edge p99 ≤ 10 ms at 32 connections (opmaat issue 11);
2 workers on SQLite ≥ 1.6 times 1 worker on memory (opmaat issue 27).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import IO, Any
from unittest import mock

import yaml

from bench import decide
from opmaat.campaigns import load_campaigns_text

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-signing-key-0123456789"
SLOTS = ["hero", "sidebar", "offer"]
BODY = {
    "slots": SLOTS,
    "url": "https://shop.example/c/running",
    "referrer": "https://www.google.com/search?q=trail+shoes",
    "page": {"category": "running"},
}
# What Chrome sends with the snippet's fetch (minus the cookie and the client address, which
# rotate over the visitors).
HEADERS = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Accept": "*/*",
    "Accept-Language": "nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Content-Type": "text/plain;charset=UTF-8",
    "Referer": "https://shop.example/c/running",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Dest": "empty",
}
# Round 2 (issue #21): a fifth of bare Starlette's req/s, p99 within 25 ms at 32 connections,
# and 2 workers on Redis within 20% of 1 worker's ratio.
BUDGET_RATIO = 0.20
BUDGET_P99_MS = 25.0
BUDGET_REDIS_SHARE = 0.8
BUDGET_SQLITE = 1.6  # sqlite/2 over memory/1, req/s
STORE_TARGETS = (("memory/1", 1, "memory"), ("sqlite/1", 1, "sqlite"), ("sqlite/2", 2, "sqlite"))
_PROBLEM = re.compile(r'"level": "(warning|error|critical)"|Traceback|ERROR|WARNING|CRITICAL')
_SAFE = re.compile(r"[A-Za-z0-9 ._:;=/+,*()?&%-]*")


# -- the campaign folder -------------------------------------------------------------------


def generated_campaigns() -> list[dict[str, Any]]:
    """The 200 campaigns of `bench.decide.two_hundred_campaigns`, as definitions, moved to the
    demo's slots (hero, sidebar, offer in turn)."""
    documents: list[dict[str, Any]] = []

    def capture(text: str, filename: str) -> Any:
        documents.append(json.loads(text))
        return load_campaigns_text(text, filename)

    with mock.patch.object(decide, "load_campaigns_text", capture):
        decide.two_hundred_campaigns()
    campaigns: list[dict[str, Any]] = documents[0]["campaigns"]
    return [{**c, "slot": SLOTS[i % len(SLOTS)]} for i, c in enumerate(campaigns)]


def campaign_folder(folder: Path) -> tuple[Path, int]:
    """The demo's folder (`prepare_demo`: customers imported, PURLs made) with the generated
    campaigns appended to its campaign file; returns the file and its number of campaigns."""
    from opmaat_edge.data_cli import prepare_demo

    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        config = prepare_demo(folder, "http://127.0.0.1:8000", [KEY])
    if config is None:
        raise RuntimeError(f"prepare_demo failed: {said.getvalue()}")
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    document["campaigns"] += generated_campaigns()
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return config, len(document["campaigns"])


# -- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without OPMAAT_* and PROMETHEUS_MULTIPROC_DIR, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OPMAAT_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


def quoted(argv: Sequence[str]) -> str:
    return " ".join(a if _SAFE.fullmatch(a) and a else json.dumps(a) for a in argv)


@dataclass
class Server:
    """One server process (and its workers, in its own process group)."""

    name: str
    argv: list[str]
    env: dict[str, str]  # what is set on top of a clean environment (reported)
    port: int
    probe: str  # path answering 200 once it is up
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items() if k != "PYTHONPATH")
        return f"{env} {quoted(self.argv)}".strip()

    def start(self) -> None:
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=clean_env(self.env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches every worker
        )

    def wait_until_up(self, timeout: float = 60.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + self.probe, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} was not up within {timeout} s: {self.tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # a worker that outlived its supervisor
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def problems(self) -> list[str]:
        """The log's warnings, errors and tracebacks."""
        return [line for line in self.tail(10_000).splitlines() if _PROBLEM.search(line)]

    def tail(self, lines: int = 10) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def up(servers: Sequence[Server]) -> None:
    """Start ``servers`` together and wait until each answers."""
    for server in servers:
        server.start()
    for server in servers:
        server.wait_until_up()


def redis_server(workdir: Path) -> Server:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (needed for more than one worker)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    # Bounded as docs/security.md asks (the edge warns at start otherwise).
    argv += ["no", "--dir", str(workdir), "--maxmemory", "512mb"]
    argv += ["--maxmemory-policy", "volatile-lru"]
    return Server("redis", argv, {}, port, "", workdir / "redis.log")


def wait_for_redis(server: Server, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"redis-server on {server.port} did not start: {server.tail()}")


def bare_server(workers: int, logs: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare_app", "--port", str(port)]
    argv += ["--workers", str(workers)]
    return Server(f"bare/{workers}", argv, {}, port, "/", logs / f"bare-{workers}.log")


def naive_server(logs: Path) -> Server:
    """bench/naive_app.py, one worker, under exactly the edge's uvicorn settings."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare_app", "--app", "bench.naive_app:create_app"]
    argv += ["--port", str(port), "--workers", "1"]
    return Server("naive/1", argv, {}, port, "/healthz", logs / "naive-1.log")


def edge_env(**extra: str) -> dict[str, str]:
    return {"OPMAAT_SECRET_KEYS": KEY, "OPMAAT_EVENTS_PER_MINUTE": "0", **extra}


def edge_server(
    config: Path, workers: int, store: str, logs: Path, name: str | None = None
) -> Server:
    port = free_port()
    name = name or f"edge/{workers}"
    argv = [sys.executable, "-m", "opmaat_edge.cli", "serve", "--config", str(config)]
    argv += ["--port", str(port), "--workers", str(workers), "--store", store]
    log = logs / f"{name.replace('/', '-')}.log"
    return Server(name, argv, edge_env(), port, "/healthz", log)


def edge_variant(config: Path, loop: str, http: str, logs: Path) -> Server:
    """The edge (one worker, memory store) via uvicorn.run with ``loop`` and ``http`` set, and
    otherwise the settings `opmaat serve` uses (bench.bare_app.serve)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare_app", "--app", "opmaat_edge.app:app_from_env"]
    argv += ["--port", str(port), "--workers", "1", "--loop", loop, "--http", http]
    env = edge_env(OPMAAT_CONFIG=str(config), OPMAAT_LOG_FORMAT="json")
    name = f"edge/1 {loop}+{http}"
    return Server(name, argv, env, port, "/healthz", logs / f"edge-1-{loop}-{http}.log")


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    """Every server in ``servers`` (also ones added inside) is stopped on the way out."""
    try:
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()


# -- visitors and the wrk script ----------------------------------------------------------


def forwarded_for(i: int) -> str:
    """Visitor ``i``'s address, in one of the demo geo networks (NL, US, DE, BE in turn). IPv6
    visitors each get their own /64: the edge counts a /64 as one address for its limits."""
    host = i // 4 % 250 + 1
    return ("203.0.113.{}", "198.51.100.{}", "192.0.2.{}", "2001:db8:{:x}::1")[i % 4].format(host)


def _post_decide(url: str, headers: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    request = urllib.request.Request(
        url + "/v1/decide", data=json.dumps(BODY).encode(), method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r), r.headers.get_all("set-cookie") or []


def make_visitors(url: str, n: int) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """``n`` visitors with a stored profile: (Cookie header, X-Forwarded-For) each, from a
    first decide; and what their decisions showed."""
    visitors = []
    filled = 0
    chosen: set[str] = set()
    for i in range(n):
        xff = forwarded_for(i)
        payload, set_cookies = _post_decide(url, {**HEADERS, "X-Forwarded-For": xff})
        jar: SimpleCookie = SimpleCookie()
        for header in set_cookies:
            jar.load(header)
        if "opmaat" not in jar:
            raise RuntimeError(f"the edge set no opmaat cookie: {set_cookies}")
        visitors.append((f"opmaat={jar['opmaat'].value}", xff))
        for decision in payload["slots"].values():
            if decision.get("campaign"):
                filled += 1
                chosen.add(decision["campaign"])
    if not filled:
        raise RuntimeError("no slot was filled: the benchmark must exercise rendering")
    return visitors, {"filled_share": filled / (n * len(SLOTS)), "campaigns_chosen": len(chosen)}


def pageviews(url: str, cookie: str) -> int:
    """What the edge counted for the visitor with ``cookie`` this session (GET /v1/me)."""
    request = urllib.request.Request(url + "/v1/me", headers={**HEADERS, "Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as r:
        count: int = json.load(r)["session"]["pageviews"]
        return count


def _lua(text: str) -> str:
    if "]==]" in text:
        raise ValueError(f"cannot quote {text!r}")
    return f"[==[{text}]==]"


def wrk_script(method: str, path: str, body: str | None, visitors: list[tuple[str, str]]) -> str:
    """A wrk script: every request with the browser headers, and the Cookie and
    X-Forwarded-For of the next visitor (each thread starting elsewhere in the list)."""
    headers = (
        dict(HEADERS)
        if body is not None
        else {k: v for k, v in HEADERS.items() if k != "Content-Type"}
    )
    lines = [
        "-- written by bench/http.py",
        f"local method, path = {_lua(method)}, {_lua(path)}",
        f"local body = {_lua(body) if body is not None else 'nil'}",
        "local common = {",
        *(f"  [ {_lua(k)} ] = {_lua(v)}," for k, v in headers.items()),  # "[ [": not "[["
        "}",
        "local visitors = {",
        *(f"  {{{_lua(cookie)}, {_lua(xff)}}}," for cookie, xff in visitors),
        "}",
        "local threads = 0",
        "function setup(thread)",
        "  thread:set('offset', threads * 7919)",
        "  threads = threads + 1",
        "end",
        "local counter = 0",
        "function init(args)",
        "  for k, v in pairs(common) do wrk.headers[k] = v end",
        "  counter = offset or 0",
        "end",
        "function request()",
        "  counter = counter + 1",
        "  local visitor = visitors[counter % #visitors + 1]",
        "  wrk.headers['Cookie'] = visitor[1]",
        "  wrk.headers['X-Forwarded-For'] = visitor[2]",
        "  return wrk.format(method, path, nil, body)",
        "end",
    ]
    return "\n".join(lines) + "\n"


# -- wrk ------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int  # wrk's "Non-2xx or 3xx responses" (status ≥ 400)
    socket_errors: dict[str, int]


def _latency(output: str, percentile: str) -> float:
    found = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    if found is None:
        raise ValueError(f"no {percentile}% latency in wrk's output:\n{output}")
    return float(found[1]) * _UNITS_MS[found[2]]


def parse_wrk(output: str) -> WrkRun:
    """Requests/s, p50 and p99 (ms), non-2xx/3xx answers and socket errors from the output of
    `wrk --latency`."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if rps is None or total is None:
        raise ValueError(f"no Requests/sec in wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    kinds = ("connect", "read", "write", "timeout")
    return WrkRun(
        rps=float(rps[1]),
        p50_ms=_latency(output, "50"),
        p99_ms=_latency(output, "99"),
        requests=int(total[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors={k: int(errors[i + 1]) if errors else 0 for i, k in enumerate(kinds)},
    )


@dataclass
class Target:
    """One configuration wrk measures: a server and the script to send it."""

    name: str
    server: Server
    script: Path
    wrk: str = ""
    runs: list[WrkRun] = field(default_factory=list)
    warmup: WrkRun | None = None
    visitors: list[tuple[str, str]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)


def run_wrk(target: Target, seconds: int, connections: int, threads: int) -> WrkRun:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed")
    argv = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    argv += ["-s", str(target.script), target.server.url + target_path(target)]
    target.wrk = quoted(["wrk", *argv[1:]])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{target.wrk} failed ({done.returncode}): {done.stderr}")
    return parse_wrk(done.stdout)


def target_path(target: Target) -> str:
    return "/" if target.name.startswith("bare") else "/v1/decide"


def edge_target(name: str, server: Server, folder: Path, visitors: int) -> Target:
    for _ in range(50):  # warm up: imports, template compilation, connections to the store
        _post_decide(server.url, {**HEADERS, "X-Forwarded-For": forwarded_for(0)})
    people, seen = make_visitors(server.url, visitors)
    script = folder / f"{name.replace('/', '-').replace(' ', '-')}.lua"
    script.write_text(wrk_script("POST", "/v1/decide", json.dumps(BODY), people))
    with urllib.request.urlopen(server.url + "/readyz", timeout=10) as r:
        seen["campaigns_loaded"] = json.load(r)["campaigns"]
    return Target(name, server, script, visitors=people, checks=seen)


def naive_target(server: Server, folder: Path, visitors: list[tuple[str, str]]) -> Target:
    script = folder / "naive-1.lua"
    script.write_text(wrk_script("POST", "/v1/decide", json.dumps(BODY), visitors))
    return Target(server.name, server, script)


def bare_target(server: Server, folder: Path, visitors: list[tuple[str, str]]) -> Target:
    script = folder / f"{server.name.replace('/', '-')}.lua"
    script.write_text(wrk_script("GET", "/", None, visitors))
    return Target(server.name, server, script)


def _summary(target: Target) -> dict[str, Any]:
    runs = target.runs
    return {
        "rps": statistics.median(r.rps for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "requests": sum(r.requests for r in runs),
        "non_2xx": sum(r.non_2xx for r in runs),
        "socket_errors": {k: sum(r.socket_errors[k] for r in runs) for k in runs[0].socket_errors},
        "runs": [asdict(r) for r in runs],
        "warmup": asdict(target.warmup) if target.warmup else None,
        "url": target.server.url,
        "server": target.server.command,
        "wrk": target.wrk,
        **target.checks,
    }


def _measure(
    targets: list[Target], rounds: int, seconds: int, warmup: int, connections: int, threads: int
) -> None:
    for target in targets:
        target.warmup = run_wrk(target, warmup, connections, threads)
    for _ in range(rounds):  # alternately, so that every configuration sees the same machine
        for target in targets:
            target.runs.append(run_wrk(target, seconds, connections, threads))


def run(
    duration: float = 10,
    connections: int = 32,
    threads: int = 2,
    workers: tuple[int, ...] = (1, 2),
    *,
    rounds: int = 3,
    warmup: float = 3,
    visitors: int = 500,
    variants: tuple[tuple[str, str], ...] = (("asyncio", "h11"),),
    stores: bool = True,
) -> dict[str, Any]:
    """Requests/s, p50 and p99 (medians of ``rounds`` wrk runs of ``duration`` seconds) of the
    bare app and the edge for each worker count, their ratio, the edge (1 worker) with each
    (loop, http) of ``variants`` against the defaults, and with ``stores`` the edge on memory
    and SQLite side by side; with the commands used."""
    seconds, warm = max(1, round(duration)), max(1, round(warmup))
    configs: dict[str, dict[str, Any]] = {}
    result: dict[str, Any] = {
        "settings": {
            "duration_s": seconds,
            "warmup_s": warm,
            "rounds": rounds,
            "connections": connections,
            "threads": threads,
            "visitors": visitors,
            "cpus": os.cpu_count(),
            "wrk": _wrk_version(),
            "body": json.dumps(BODY),
            "headers": HEADERS,
        },
        "configs": configs,
    }
    with tempfile.TemporaryDirectory(prefix="opmaat-bench-http-") as tmp:
        folder = Path(tmp)
        config, count = campaign_folder(folder / "site")
        result["settings"]["campaigns"] = count
        result["settings"]["config"] = "prepare_demo + bench.decide's 200 campaigns on " + (
            "hero/sidebar/offer"
        )
        with running([]) as servers:
            for n in workers:
                store, redis = "memory://", None
                if n > 1:
                    redis = redis_server(folder)
                    servers.append(redis)
                    redis.start()
                    wait_for_redis(redis)
                    store = f"redis://127.0.0.1:{redis.port}/0"
                phase = [bare_server(n, folder), edge_server(config, n, store, folder)]
                if n == 1:
                    phase += [edge_variant(config, loop, http, folder) for loop, http in variants]
                naive = [naive_server(folder)] if n == 1 else []
                servers.extend([*phase, *naive])
                up([*phase, *naive])
                edges = [edge_target(s.name, s, folder, visitors) for s in phase[1:]]
                targets = [bare_target(phase[0], folder, edges[0].visitors), *edges]
                scale = [naive_target(s, folder, edges[0].visitors) for s in naive]
                _measure([*targets, *scale], rounds, seconds, warm, connections, threads)
                for target in scale:
                    result["naive"] = {**_summary(target), "log_problems": target.server.problems()}
                for target in edges:
                    target.checks["pageviews_after"] = pageviews(
                        target.server.url, target.visitors[0][0]
                    )
                for target in targets:
                    configs[target.name] = _summary(target)
                    configs[target.name]["store"] = store if target in edges else None
                    configs[target.name]["log_problems"] = target.server.problems()
                for server in [*phase, *naive, *([redis] if redis else [])]:
                    server.stop()  # the next phase gets the machine to itself
                if n > 1:  # what `opmaat serve` made for its workers' metrics, and left
                    metrics = Path(tempfile.gettempdir()) / f"opmaat-metrics-{phase[1].port}"
                    shutil.rmtree(metrics, ignore_errors=True)
                result.setdefault("round_ratios", {})[str(n)] = [
                    e.rps / b.rps for e, b in zip(edges[0].runs, targets[0].runs, strict=True)
                ]
            if stores:
                timing = (rounds, seconds, warm, connections, threads)
                _stores_phase(config, folder, servers, configs, visitors, timing)
                result.setdefault("round_ratios", {})["sqlite"] = [
                    sqlite["rps"] / memory["rps"]
                    for sqlite, memory in zip(
                        configs["sqlite/2"]["runs"], configs["memory/1"]["runs"], strict=True
                    )
                ]
    _conclude(result, workers, variants)
    return result


def _stores_phase(
    config: Path,
    folder: Path,
    servers: list[Server],
    configs: dict[str, dict[str, Any]],
    visitors: int,
    timing: tuple[int, int, int, int, int],
) -> None:
    """The edge on the memory store and on SQLite files, measured alternately."""
    rounds, seconds, warm, connections, threads = timing
    phase = []
    for name, n, kind in STORE_TARGETS:
        store = (
            "memory://" if kind == "memory" else f"sqlite://{folder / name.replace('/', '-')}.db"
        )
        phase.append(edge_server(config, n, store, folder, name))
    servers.extend(phase)
    up(phase)
    targets = [edge_target(s.name, s, folder, visitors) for s in phase]
    _measure(targets, rounds, seconds, warm, connections, threads)
    for target, (_, _, kind) in zip(targets, STORE_TARGETS, strict=True):
        target.checks["pageviews_after"] = pageviews(target.server.url, target.visitors[0][0])
        configs[target.name] = _summary(target)
        configs[target.name]["store"] = f"{kind}://"
        configs[target.name]["log_problems"] = target.server.problems()
    for server in phase:
        server.stop()


def _wrk_version() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        return "not installed"
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).splitlines()[0] if done.stdout + done.stderr else "?"


def _conclude(result: dict[str, Any], workers: tuple[int, ...], variants: Any) -> None:
    configs = result["configs"]
    result["ratios"] = {
        str(n): configs[f"edge/{n}"]["rps"] / configs[f"bare/{n}"]["rps"] for n in workers
    }
    result["budget"] = {
        str(n): {
            "ratio_ok": result["ratios"][str(n)] >= BUDGET_RATIO,
            "p99_ok": configs[f"edge/{n}"]["p99_ms"] <= BUDGET_P99_MS,
        }
        for n in workers
    }
    if 1 in workers and 2 in workers:
        share = result["ratios"]["2"] / result["ratios"]["1"]
        result["redis_share"] = {"share": share, "ok": share >= BUDGET_REDIS_SHARE}
    if 1 in workers:
        default = configs["edge/1"]
        result["loop_http"] = {
            f"{loop}+{http}": {
                "rps_default_over_variant": default["rps"]
                / configs[f"edge/1 {loop}+{http}"]["rps"],
                "p50_ms_saved": configs[f"edge/1 {loop}+{http}"]["p50_ms"] - default["p50_ms"],
                "p99_ms_saved": configs[f"edge/1 {loop}+{http}"]["p99_ms"] - default["p99_ms"],
            }
            for loop, http in variants
        }
    if "naive" in result:
        naive = result["naive"]
        naive["over_bare"] = naive["rps"] / configs["bare/1"]["rps"]
        naive["edge_over_naive"] = configs["edge/1"]["rps"] / naive["rps"]
    if "sqlite/2" in configs:
        ratio = configs["sqlite/2"]["rps"] / configs["memory/1"]["rps"]
        result["sqlite"] = {"ratio": ratio, "ok": ratio >= BUDGET_SQLITE}


def table(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        f"wrk -t{s['threads']} -c{s['connections']} -d{s['duration_s']}s, median of "
        f"{s['rounds']} runs each; {s['campaigns']} campaigns, 3 slots, {s['visitors']} "
        f"returning visitors; {s['cpus']} CPUs",
        f"{'configuration':<32}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
        f"{'sock err':>10}{'log err':>9}",
    ]
    for name, c in result["configs"].items():
        label = f"{name} ({c['store'].split(':')[0]})" if c.get("store") else name
        lines.append(
            f"{label:<32}{c['rps']:>10,.0f}{c['p50_ms']:>9.2f}{c['p99_ms']:>9.2f}"
            f"{c['non_2xx']:>9}{sum(c['socket_errors'].values()):>10}{len(c['log_problems']):>9}"
        )
    for n, ratio in result["ratios"].items():
        budget = result["budget"][n]
        lines.append(
            f"edge/bare, {n} worker(s): {ratio:.2f} (budget ≥ {BUDGET_RATIO:.2f}: "
            f"{'ok' if budget['ratio_ok'] else 'MISSED'}); edge p99 ≤ {BUDGET_P99_MS:g} ms: "
            f"{'ok' if budget['p99_ok'] else 'MISSED'}"
        )
    if "redis_share" in result:
        lines.append(
            f"2 workers on Redis against 1 on memory, edge/bare ratio: "
            f"{result['redis_share']['share']:.2f} (budget ≥ {BUDGET_REDIS_SHARE:.2f}: "
            f"{'ok' if result['redis_share']['ok'] else 'MISSED'})"
        )
    if "naive" in result:
        naive = result["naive"]
        lines.append(
            f"naive route (cookie check, 50 rules, JSON), 1 worker: {naive['rps']:,.0f} req/s, "
            f"p99 {naive['p99_ms']:.2f} ms; naive/bare {naive['over_bare']:.2f}, edge/naive "
            f"{naive['edge_over_naive']:.2f}"
        )
    if "sqlite" in result:
        lines.append(
            f"sqlite/2 over memory/1, req/s: {result['sqlite']['ratio']:.2f} (budget ≥ "
            f"{BUDGET_SQLITE:.2f}: {'ok' if result['sqlite']['ok'] else 'MISSED'})"
        )
    for variant, gain in result.get("loop_http", {}).items():
        lines.append(
            f"uvloop+httptools against {variant} (edge, 1 worker): x"
            f"{gain['rps_default_over_variant']:.2f} req/s, p50 {gain['p50_ms_saved']:+.2f} ms "
            f"and p99 {gain['p99_ms_saved']:+.2f} ms saved"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = run()
    print(table(outcome))
    if "--json" in sys.argv[1:]:
        print(json.dumps(outcome, indent=2))
