"""Real Redis servers for the tests: one single server, and a three-master cluster."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REDIS = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    port: int
    workdir: Path
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS is not None
        self.proc = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not ping(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """The URL of a server that takes connections and never answers (nor reads)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = silent.accept()
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    silent.close()
    for conn in held:
        conn.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three masters (no replicas), joined with redis-cli --cluster create."""
    base = tmp_path_factory.mktemp("cluster")
    servers: list[RedisServer] = []
    try:
        yield _start_cluster(base, servers)
    finally:
        for server in servers:
            server.stop()


def _start_cluster(base: Path, servers: list[RedisServer]) -> str:
    for _ in range(3):
        port = cluster_port()
        workdir = base / str(port)
        workdir.mkdir()
        server = RedisServer(
            port,
            workdir,
            ("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
        )
        servers.append(server)
        server.start()
    assert REDIS_CLI is not None
    subprocess.run(
        [
            REDIS_CLI,
            "--cluster",
            "create",
            *(f"127.0.0.1:{s.port}" for s in servers),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    deadline = time.monotonic() + 15
    while True:
        info = subprocess.run(
            [REDIS_CLI, "-p", str(servers[0].port), "cluster", "info"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        if "cluster_state:ok" in info:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the redis cluster did not come up")
        time.sleep(0.1)
    return f"redis-cluster://127.0.0.1:{servers[0].port}"
