"""Which build runs (opmaat/compiled.py): compiled modules only with the sources they were made
from, plain Python otherwise, and a process can always tell which."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import opmaat.engine
from opmaat import compiled

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = compiled.SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so


@pytest.fixture
def package(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A package ``fake_native`` with a module and a broken "extension" beside it: imported
    as it is, Python would try the extension first and fail."""
    folder = tmp_path / "fake_native"
    (folder / "inner").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "inner" / "__init__.py").write_text("")
    (folder / "hot.py").write_text("WHERE = 'source'\n")
    (folder / f"hot{SUFFIX}").write_bytes(b"not an ELF file")
    (folder / "inner" / "deep.py").write_text("WHERE = 'source'\n")
    (folder / "inner" / f"deep{SUFFIX}").write_bytes(b"not an ELF file")
    (folder / f"orphan{SUFFIX}").write_bytes(b"no source beside it")
    sys.path.insert(0, str(tmp_path))
    yield tmp_path, "fake_native"
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("fake_native")]:
        del sys.modules[name]


def test_extensions_are_found_beside_their_sources(package: tuple[Path, str]) -> None:
    root, name = package
    found = compiled.extensions([package])
    assert found == {
        "fake_native.hot": root / name / "hot.py",
        "fake_native.inner.deep": root / name / "inner" / "deep.py",
    }


def test_the_source_finder_imports_the_py_never_the_extension(
    package: tuple[Path, str],
) -> None:
    with pytest.raises(ImportError):
        importlib.import_module("fake_native.hot")  # the broken extension, as Python would
    del sys.modules["fake_native"]
    finder = compiled.Sources(compiled.extensions([package]))
    sys.meta_path.insert(0, finder)
    try:
        assert importlib.import_module("fake_native.hot").WHERE == "source"
        assert importlib.import_module("fake_native.inner.deep").WHERE == "source"
    finally:
        sys.meta_path.remove(finder)


def test_a_stamp_holds_only_for_the_sources_it_was_made_from(
    package: tuple[Path, str], tmp_path: Path
) -> None:
    found = compiled.extensions([package])
    stamp = tmp_path / "stamp.json"
    assert "missing" in compiled.stale(found, stamp, [package])
    stamp.write_text("{not json")
    assert "missing or unreadable" in compiled.stale(found, stamp, [package])
    digest = compiled.sources_digest([package])
    made = {"digest": digest, "modules": sorted(found), "group": "fake_group"}
    stamp.write_text(json.dumps(made))
    assert (
        compiled.stale(found, stamp, [package])
        == "the library the compiled modules share is missing"
    )
    (tmp_path / f"fake_group__mypyc{SUFFIX}").write_bytes(b"")
    assert compiled.stale(found, stamp, [package]) == ""
    stamp.write_text(json.dumps({**made, "modules": ["fake_native.hot"]}))
    assert "not the ones" in compiled.stale(found, stamp, [package])
    stamp.write_text(json.dumps(made))
    (package[0] / "fake_native" / "inner" / "deep.py").write_text("WHERE = 'edited'\n")
    assert compiled.stale(found, stamp, [package]) == "the sources changed since they were compiled"
    assert compiled.sources_digest([package]) != digest


def test_a_new_source_file_changes_the_digest(package: tuple[Path, str]) -> None:
    before = compiled.sources_digest([package])
    (package[0] / "fake_native" / "new.py").write_text("")
    assert compiled.sources_digest([package]) != before


def test_this_process_runs_the_build_it_says() -> None:
    ran = Path(opmaat.engine.__file__ or "")
    assert compiled.build in ("compiled", "pure")
    assert ran.suffix == (".so" if compiled.build == "compiled" else ".py")
    up_to_date = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compile_native.py"), "--check"], check=False
    )
    if compiled.build == "compiled":
        assert up_to_date.returncode == 0


def test_opmaat_pure_runs_plain_python_and_says_so_on_healthz() -> None:
    code = (
        "import json, opmaat.engine, opmaat_edge.direct as d, opmaat.compiled as c;"
        "print(json.dumps([c.build, c.reason, opmaat.engine.__file__, d.__file__]))"
    )
    env = {**os.environ, "OPMAAT_PURE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    build, reason, engine, direct = json.loads(done.stdout)
    assert (build, reason) == ("pure", "OPMAAT_PURE is set" if compiled.extensions() else "")
    assert engine.endswith("engine.py")
    assert direct.endswith("direct.py")
    assert "plain Python" not in done.stderr  # asked for: no warning


def test_healthz_names_the_build() -> None:
    from starlette.testclient import TestClient

    from opmaat_edge.app import create_app
    from opmaat_edge.settings import EdgeSettings

    config = ROOT / "tests" / "edge" / "replay" / "campaigns.yaml"
    settings = EdgeSettings(config=str(config), secret_keys=("k" * 32,), dev=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["build"] == compiled.build


def test_a_stale_build_is_said_once_when_a_personalizer_is_made_not_at_import(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At import logging is often not set up: the edge's log lines must all be JSON.
    from opmaat.personalizer import Personalizer
    from opmaat_edge.resources import DEMO_CAMPAIGNS

    monkeypatch.setattr(compiled, "_unsaid", ["the sources changed since they were compiled"])
    with caplog.at_level("WARNING", logger="opmaat"):
        Personalizer(DEMO_CAMPAIGNS, secret_keys=["k" * 32])
        Personalizer(DEMO_CAMPAIGNS, secret_keys=["k" * 32])
    said = [r.getMessage() for r in caplog.records if "plain Python" in r.getMessage()]
    assert said == [
        "opmaat runs as plain Python: the sources changed since they were compiled; "
        "run scripts/compile to compile it again"
    ]
