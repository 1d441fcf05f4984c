"""A regular (non-editable) install serves the demo and the snippet from package data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status, r.read()


def test_wheel_install_serves_demo_and_snippet(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("opmaat-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    # The installed copy comes first on the path and the checkout is not the working directory.
    # TMPDIR: the demo's folder goes where pytest cleans up.
    env = {**os.environ, "PYTHONPATH": str(target), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, opmaat_edge; assert opmaat_edge.__file__.startswith(sys.argv[1]), "
            "opmaat_edge.__file__; from opmaat_edge.cli import main; "
            "sys.exit(main(['demo', '--port', sys.argv[2]]))",
            str(target),
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                _get(base + "/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "installed edge did not come up"
                time.sleep(0.1)
        status, home = _get(base + "/")
        assert status == 200
        assert b'data-opmaat-slot="hero"' in home
        status, js = _get(base + "/opmaat.js")
        assert status == 200
        assert b"data-opmaat-slot" in js
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
