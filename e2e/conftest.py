"""One real edge process (`opmaat demo`) and one Chromium per test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A person's browser: headless Chromium's own User-Agent says "HeadlessChrome", which the
    # edge takes for a crawler (standard content, nothing kept).
    "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"edge exited with {proc.returncode} before it was up")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"edge at {url} was not up within {timeout} s")


def start_edge(args: list[str], env: dict[str, str] | None = None) -> tuple[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opmaat_edge.cli", *args, "--port", str(port)],
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc)
    except Exception:
        proc.kill()
        raise
    return url, proc


def stop_edge(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def edge_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # `opmaat demo` makes its folder in TMPDIR; pytest's own folder for it is cleaned up.
    url, proc = start_edge(["demo"], {"TMPDIR": str(tmp_path_factory.mktemp("edge-tmp"))})
    yield url
    stop_edge(proc)


@pytest.fixture(scope="session")
def base_url(edge_url: str) -> str:
    return edge_url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def watch_console(page: Any) -> list[str]:
    """Console errors and warnings of ``page`` from now on; tests assert the list stays empty."""
    seen: list[str] = []
    page.on(
        "console",
        lambda msg: (
            seen.append(f"{msg.type}: {msg.text}") if msg.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda exc: seen.append(f"pageerror: {exc}"))
    return seen


@pytest.fixture
def console_errors(page: Any) -> Iterator[list[str]]:
    return watch_console(page)


@pytest.fixture
def console_of() -> Callable[[Any], list[str]]:
    """``watch_console`` for pages of contexts a test makes itself."""
    return watch_console
