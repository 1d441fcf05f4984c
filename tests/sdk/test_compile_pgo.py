"""scripts/compile builds the decide path twice, guided by a profile of training requests, and
falls back to one plain build whenever the compiler or the training cannot make a profile.

The builds and the training are replaced here (a real build takes a minute and a half, and
would replace the extensions this test run imports); `make test` itself compiles for real."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "compile_native_under_test", ROOT / "scripts" / "compile_native.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # The script sets OPMAAT_PURE and sys.path for its own process: both are put back after.
    monkeypatch.setenv("OPMAAT_PURE", os.environ.get("OPMAAT_PURE", ""))
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec.loader.exec_module(module)
    # Nothing of the real build is touched: no extension removed, no stamp written.
    monkeypatch.setattr(module, "clean", lambda: None)
    monkeypatch.setattr(module, "write_stamp", lambda digest: True)
    monkeypatch.setattr(module, "up_to_date", lambda: False)
    monkeypatch.setattr(module, "missing_tools", lambda: "")
    monkeypatch.setattr(module.compiled, "sources_digest", lambda: "digest")
    monkeypatch.setattr(module.compiled, "STAMP", tmp_path / "opmaat_native.json")
    return module


class Builds:
    """The builds asked for, by their C flags; ``fail`` names flags whose build fails."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, work: Path, cflags: str = "", ldflags: str = "") -> None:
        self.calls.append(cflags)
        if self.fail and self.fail in cflags:
            raise RuntimeError(f"cc: unknown option {self.fail}")


def training(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch, builds: Builds, *, code: int, counts: bool
) -> list[Any]:
    """Replace the training run: it exits with ``code`` and, with ``counts``, leaves what
    gcc's instrumented code writes at exit under -fprofile-generate=DIR."""
    ran: list[Any] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        ran.append((argv, kwargs))
        if counts:
            flag = next(c for c in builds.calls if c.startswith("-fprofile-generate="))
            folder = Path(flag.split("=", 1)[1]) / "build"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "engine.gcda").write_bytes(b"counts")
        return subprocess.CompletedProcess(argv, code, "", "" if code == 0 else "training broke")

    monkeypatch.setattr(script.subprocess, "run", run)
    return ran


def use(script: ModuleType, monkeypatch: pytest.MonkeyPatch, builds: Builds) -> Builds:
    monkeypatch.setattr(script, "build", builds)
    return builds


def test_the_build_is_instrumented_trained_then_guided(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    builds = use(script, monkeypatch, Builds())
    ran = training(script, monkeypatch, builds, code=0, counts=True)
    assert script.main([]) == 0
    assert len(builds.calls) == 2
    assert builds.calls[0].startswith("-fprofile-generate=")
    assert "-fprofile-use=" in builds.calls[1]
    assert "-fprofile-partial-training" in builds.calls[1]
    # The training runs the instrumented build itself, not plain Python.
    argv, kwargs = ran[0]
    assert argv[-1] == script.TRAINING
    assert "OPMAAT_PURE" not in kwargs["env"]
    assert kwargs["cwd"] == script.ROOT
    # This checkout's packages are the ones trained, whatever else the venv points at.
    assert kwargs["env"]["PYTHONPATH"].split(os.pathsep)[:2] == [
        str(script.ROOT / "sdk"),
        str(script.ROOT / "edge"),
    ]
    assert "(profile-guided)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("code", "counts", "fail"),
    [
        (1, False, ""),  # the training fails
        (0, False, ""),  # it ran, but nothing counted (a compiler that writes no .gcda)
        (0, True, "-fprofile-use"),  # the compiler cannot use the profile
        (0, True, "-fprofile-generate"),  # nor make the instrumented build
    ],
)
def test_without_a_profile_there_is_one_plain_build(
    script: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: int,
    counts: bool,
    fail: str,
) -> None:
    builds = use(script, monkeypatch, Builds(fail))
    training(script, monkeypatch, builds, code=code, counts=counts)
    assert script.main([]) == 0
    assert builds.calls[-1] == ""  # the last build is a plain one
    out = capsys.readouterr().out
    assert "(without a profile)" in out
    assert "plain Python" not in out  # still compiled


def test_opmaat_pgo_0_builds_once_without_a_profile(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = use(script, monkeypatch, Builds())
    ran = training(script, monkeypatch, builds, code=0, counts=True)
    monkeypatch.setenv("OPMAAT_PGO", "0")
    assert script.main([]) == 0
    assert builds.calls == [""]
    assert ran == []
