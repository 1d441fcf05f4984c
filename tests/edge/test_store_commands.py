"""Where `opmaat serve` keeps its data, and the commands that keep it safe and move it:
`backup`, `restore`, `export profiles`, `import profiles`; `pause` and `stats` on the same
file as `serve`."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from opmaat.sqlite_store import SQLiteStore
from opmaat.store import ProfileStore
from opmaat_edge import data_dir
from opmaat_edge.cli import main
from opmaat_edge.resources import DEMO_CAMPAIGNS


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`opmaat serve` up to uvicorn.run, which records what it was given."""
    import uvicorn

    ran: dict[str, Any] = {}
    monkeypatch.setattr(os, "environ", {**os.environ, "OPMAAT_SECRET_KEYS": "k" * 20})
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(kw, app=app))
    return ran


def test_serve_keeps_its_data_in_a_sqlite_file_in_the_data_directory(
    serve: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "state" / "opmaat"
    os.environ["OPMAAT_DATA_DIR"] = str(folder)
    assert main(["serve", "--config", str(DEMO_CAMPAIGNS), "--workers", "2"]) == 0
    assert serve["workers"] == 2  # the workers share the file
    db = folder / "opmaat.db"
    assert os.environ["OPMAAT_STORE"] == f"sqlite://{db}"  # what the workers open
    assert f"opmaat: data in {db} (SQLite" in capsys.readouterr().out
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_data_dir_flag_and_a_named_store_come_first(
    serve: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--config", str(DEMO_CAMPAIGNS), "--data-dir", str(tmp_path / "flag")]
    assert main(argv) == 0
    assert os.environ["OPMAAT_STORE"] == f"sqlite://{tmp_path / 'flag' / 'opmaat.db'}"
    assert main([*argv, "--store", "memory://"]) == 0
    assert os.environ["OPMAAT_STORE"] == "memory://"
    assert "data in this process's memory only" in capsys.readouterr().out


def test_the_data_directory_by_default() -> None:
    assert data_dir.data_dir({"OPMAAT_DATA_DIR": "/srv/opmaat"}) == Path("/srv/opmaat")
    systemd = {"STATE_DIRECTORY": "/var/lib/opmaat:/var/lib/other"}
    assert data_dir.data_dir(systemd) == Path("/var/lib/opmaat")
    assert data_dir.data_dir(systemd, "/given") == Path("/given")
    expected = Path("/var/lib/opmaat") if os.geteuid() == 0 else Path("/home/me/.state/opmaat")
    assert data_dir.data_dir({"XDG_STATE_HOME": "/home/me/.state"}) == expected


def test_serve_refuses_a_named_file_in_a_missing_folder(
    serve: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite://{tmp_path / 'no-such-folder' / 'opmaat.db'}"
    assert main(["serve", "--config", str(DEMO_CAMPAIGNS), "--store", url]) == 2
    assert "does not exist: make it, or use --data-dir" in capsys.readouterr().err
    assert serve == {}


def test_serve_starts_on_a_damaged_file_and_says_so(
    serve: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "opmaat.db"
    db.write_bytes(b"garbage" * 1000)
    assert main(["serve", "--config", str(DEMO_CAMPAIGNS), "--store", f"sqlite://{db}"]) == 0
    assert "not a SQLite database" in capsys.readouterr().err
    assert serve["workers"] == 1


def run(store: ProfileStore, work: Any) -> Any:
    async def go() -> Any:
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


async def fill(store: ProfileStore) -> None:
    await store.store_if("anna", {"visits": 3, "name": "Ånna"}, 3600, None)
    await store.store_if("bob", {"visits": 1}, 600, None)
    await store.tally("sale", "a", "impressions")
    await store.set_paused("sale", True)


def test_backup_while_serving_and_restore_into_the_running_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite://{tmp_path / 'opmaat.db'}"
    backup = tmp_path / "backup.db"

    async def scenario(store: ProfileStore) -> None:
        await fill(store)
        assert main(["backup", str(backup), "--store", url]) == 0  # the store stays open
        await store.store_if("carla", {"visits": 1}, 3600, None)
        await store.delete("anna")
        assert main(["restore", str(backup), "--store", url]) == 0
        assert await store.get("anna") == {"visits": 3, "name": "Ånna"}  # seen at once
        assert await store.get("carla") is None  # made after the backup
        assert (await store.tallies(["sale"]))["sale"]["a"]["impressions"] == 1
        assert await store.paused() == {"sale"}

    run(SQLiteStore(tmp_path / "opmaat.db"), scenario)
    out = capsys.readouterr().out
    assert f"{backup}: backup of {tmp_path / 'opmaat.db'}, 2 profile(s)" in out
    assert "restored from" in out
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backup", "x.db", "--store", "memory://"], "works on the SQLite store"),
        (["restore", "x.db", "--store", "redis://127.0.0.1:1/0"], "works on the SQLite store"),
        (["export", "profiles", "--store", "memory://"], "lives inside the edge's process"),
        (["import", "profiles", "x.jsonl", "--store", "memory://"], "lives inside"),
    ],
)
def test_commands_that_cannot_work_on_a_store_say_so(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_restore_refuses_what_is_no_backup_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite://{tmp_path / 'opmaat.db'}"
    run(SQLiteStore(tmp_path / "opmaat.db"), fill)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a backup" * 100)
    assert main(["restore", str(junk), "--store", url]) == 1
    assert "cannot be read as a database" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "missing.db"), "--store", url]) == 1
    assert run(SQLiteStore(tmp_path / "opmaat.db"), lambda s: s.get("anna")) == {
        "visits": 3,
        "name": "Ånna",
    }
    assert main(["backup", str(tmp_path / "b.db"), "--store", f"sqlite://{tmp_path}/none.db"]) == 2


def test_export_and_import_move_every_profile_and_pause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    out = tmp_path / "profiles.jsonl"
    run(SQLiteStore(old), fill)
    assert main(["export", "profiles", "--store", f"sqlite://{old}", "--out", str(out)]) == 0
    assert "exported 2 profile(s)" in capsys.readouterr().err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0] == {"opmaat_export": 1}
    assert {line.get("visitor") for line in lines[1:3]} == {"anna", "bob"}
    assert lines[-1] == {"paused": "sale"}
    run(SQLiteStore(new), lambda s: s.store_if("bob", {"visits": 9}, 600, None))
    assert main(["import", "profiles", str(out), "--store", f"sqlite://{new}"]) == 0
    assert "imported 1 profile(s), 1 already in the store" in capsys.readouterr().out

    async def check(store: ProfileStore) -> None:
        assert await store.get("anna") == {"visits": 3, "name": "Ånna"}
        assert await store.get("bob") == {"visits": 9}  # the store's own was kept
        assert await store.paused() == {"sale"}
        ttls = {visitor: ttl async for visitor, _, ttl in store.profiles()}
        # The time it had left (each SQLite store rounds an expiry up by a 16th at most).
        assert 3000 < ttls["anna"] <= 3600 * (17 / 16) ** 2

    run(SQLiteStore(new), check)


def test_import_leaves_out_bad_lines_and_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite://{tmp_path / 'opmaat.db'}"
    export = tmp_path / "profiles.jsonl"
    lines = [
        {"opmaat_export": 1},
        {"visitor": "ok", "ttl": 60, "profile": {"visits": 1}},
        {"visitor": "", "ttl": 60, "profile": {}},
        {"visitor": "x", "ttl": -1, "profile": {}},
        {"visitor": "y", "ttl": 60, "profile": [1]},
        {"visitor": "z", "ttl": 60, "profile": {"pad": "x" * 20_000}},
    ]
    export.write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n")
    assert main(["import", "profiles", str(export), "--store", url]) == 4
    err = capsys.readouterr().err
    for number, says in [
        (3, "visitor: not an id"),
        (4, "ttl: not a number"),
        (5, "profile: not an object"),
        (6, "profile: over 16 KB"),
        (7, "not a line of JSON"),
    ]:
        assert f"{export}:{number}: {says}" in err
    assert run(SQLiteStore(tmp_path / "opmaat.db"), lambda s: s.get("ok")) == {"visits": 1}
    export.write_text('{"visitor": "ok", "ttl": 60, "profile": {}}\n')
    assert main(["import", "profiles", str(export), "--store", url]) == 1
    assert "not a file of `opmaat export profiles`" in capsys.readouterr().err


def test_pause_and_stats_use_the_file_serve_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPMAAT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("OPMAAT_STORE", raising=False)
    assert main(["pause", "search-hero", "--config", str(DEMO_CAMPAIGNS)]) == 0
    assert f"for every edge on {tmp_path / 'opmaat.db'}" in capsys.readouterr().out
    assert run(SQLiteStore(tmp_path / "opmaat.db"), lambda s: s.paused()) == {"search-hero"}
    assert main(["stats", "--config", str(DEMO_CAMPAIGNS)]) == 0
    assert "search-hero" in json.loads(capsys.readouterr().out)
