"""`opmaat check` with warnings and --strict (opmaat_edge.check_cli), and a geo database that
does not exist said the same way by check, at start-up and on a hot reload."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opmaat.context import GeoReader
from opmaat_edge.check_cli import check
from opmaat_edge.cli import main
from opmaat_edge.data_cli import prepare_demo
from opmaat_edge.resources import DEMO_CAMPAIGNS
from tests.edge.conftest import KEYS, MakeClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "campaigns.yaml"
GOOD = "slots:\n  hero: {default: x}\ncampaigns:\n  - {id: a, slot: hero, variants: [{key: a, html: hi}]}\n"  # noqa: E501
NO_GEO = "site:\n  name: shop\n  geo_database: GeoLite2-City.mmdb\n" + GOOD
WARNED = GOOD.replace("html: hi", "html: '{{ geo.cty }}'")


def test_warnings_are_printed_and_fail_only_a_strict_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(WARNED)
    warning = (
        f"{path}:4: campaigns[0].variants[0].html: warning: the template reads geo.cty: "
        "unknown attribute 'geo.cty'; did you mean 'geo.city'?"
    )
    assert check(str(path)) == 0
    assert capsys.readouterr().out.splitlines() == [
        warning,
        f"{path}: ok (1 warning(s); --strict fails on them)",
    ]
    assert check(str(path), strict=True) == 1
    printed = capsys.readouterr()
    assert printed.out.splitlines() == [warning]
    assert printed.err == f"1 warning(s) in {path}\n"


def test_errors_fail_and_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(WARNED.replace("slot: hero", "slot: heor"))
    assert check(str(path)) == 1
    printed = capsys.readouterr()
    assert printed.out.splitlines()[0].endswith("did you mean 'hero'?")
    assert printed.err == f"1 problem(s) and 1 warning(s) in {path}\n"


@pytest.mark.parametrize("path", [DEMO_CAMPAIGNS, EXAMPLES], ids=["demo", "examples"])
def test_the_shipped_campaign_files_pass_a_strict_check(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(str(path), strict=True) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"{path}: ok"
    # The demo's data files are made when `opmaat demo` starts: notes, not warnings.
    assert all(": note: no file " in line for line in lines[:-1])


def test_the_demo_as_opmaat_demo_runs_it_has_nothing_to_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = prepare_demo(tmp_path, "http://127.0.0.1:8000", KEYS)
    assert config is not None
    capsys.readouterr()
    assert check(str(config), strict=True) == 0
    assert capsys.readouterr().out == f"{config}: ok\n"


def test_check_fails_on_a_geo_database_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(NO_GEO)
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"{path}:3: site.geo_database: no such file {tmp_path}/GeoLite2-City.mmdb: download a "
        "GeoLite2 or GeoIP2 City database (docs/edge.md#geo-ip), or leave geo_database out\n"
    )


def test_serve_says_which_geo_database_is_missing_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(NO_GEO)
    monkeypatch.setenv("OPMAAT_SECRET_KEYS", "a-long-enough-signing-key")
    assert main(["serve", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"opmaat: {path}:3: site.geo_database: no such file {tmp_path}/GeoLite2-City.mmdb: "
        "download a GeoLite2 or GeoIP2 City database (docs/edge.md#geo-ip), or leave "
        "geo_database out\n"
    )


def test_a_reload_without_its_geo_database_keeps_the_last_good_file(
    make_client: MakeClient, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    client = make_client(path, demo=False)
    holder = client.app.state.edge.runtime  # type: ignore[attr-defined]
    version = holder.current.campaigns.version
    path.write_text(NO_GEO)
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))
    assert not holder.reload_if_changed()
    assert holder.current.campaigns.version == version
    assert client.get("/healthz").json()["last_reload_error"] == holder.last_error
    assert holder.last_error == (
        f"{path}:3: site.geo_database: no such file {tmp_path}/GeoLite2-City.mmdb: download a "
        "GeoLite2 or GeoIP2 City database (docs/edge.md#geo-ip), or leave geo_database out"
    )
    assert _decides(client)


def _decides(client: TestClient) -> bool:
    r = client.post("/v1/decide", content=json.dumps({"slots": ["hero"]}))
    return bool(r.status_code == 200 and r.json()["slots"]["hero"]["campaign"] == "a")


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("nope.mmdb", None, "no such file {folder}/nope.mmdb"),
        ("bad.mmdb", b"not a database", "{folder}/bad.mmdb is not a MaxMind DB file ("),
        ("dir.mmdb", "folder", "{folder}/dir.mmdb is a folder, not a MaxMind DB file"),
    ],
)
def test_the_geo_reader_says_what_is_wrong_without_an_errno(
    tmp_path: Path, name: str, content: bytes | str | None, said: str
) -> None:
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises((OSError, ValueError)) as caught:
        GeoReader(path)
    assert str(caught.value).startswith(said.format(folder=tmp_path))
    assert "Errno" not in str(caught.value)
    assert "b'" not in str(caught.value)


def test_a_campaign_file_gone_at_a_reload_is_said_without_an_errno(
    make_client: MakeClient, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    holder = make_client(path, demo=False).app.state.edge.runtime  # type: ignore[attr-defined]
    path.unlink()
    said = f"{path}:1: file: cannot read the file: No such file or directory"
    assert not holder.reload()  # kill -HUP
    assert holder.last_error == said
    assert not holder.reload_if_changed()  # the watcher
    assert holder.last_error == said
