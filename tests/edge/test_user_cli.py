"""`opmaat user add|remove|list`: users beside the campaign file (or in Redis), with scrypt
hashes, every change in the cockpit's audit log; the cockpit lets them in."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

import pytest

from opmaat_edge import user_cli
from opmaat_edge.cockpit.auth import check_password
from tests.edge.cockpit_helpers import Cockpit, demo_copy, ledger_of
from tests.edge.conftest import MakeClient


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return demo_copy(tmp_path)


def typed(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_add_list_remove(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed(monkeypatch, "anna's long password\n")
    assert user_cli.add(str(config), "memory://", "Anna", "editor") == 0
    assert capsys.readouterr().out == "anna: editor\n"
    stored = json.loads((config.parent / "campaigns.users.json").read_text())["users"]
    assert [(u["name"], u["role"]) for u in stored] == [("anna", "editor")]
    assert check_password("anna's long password", stored[0]["hash"])
    assert "long password" not in (config.parent / "campaigns.users.json").read_text()
    assert user_cli.listing(str(config), "memory://") == 0
    assert capsys.readouterr().out == "anna\teditor\n"
    assert user_cli.remove(str(config), "memory://", "anna") == 0
    assert user_cli.listing(str(config), "memory://") == 0
    assert capsys.readouterr().out.endswith("no users\n")
    entries = asyncio.run(ledger_of(config).audit_entries(None, 10))
    assert [(e.action, e.target) for e in entries] == [
        ("user remove", "anna"),
        ("user add", "anna"),
    ]
    assert entries[0].user.startswith("(command line)")


@pytest.mark.parametrize(
    ("name", "role", "password", "said"),
    [
        ("Bad Name", "editor", "long enough", "a user name is"),
        ("admin", "editor", "long enough", "shared password's name"),
        ("anna", "editor", "short", "8 to"),
    ],
)
def test_what_cannot_be_a_user_is_said(
    config: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    role: str,
    password: str,
    said: str,
) -> None:
    assert user_cli.add(str(config), "memory://", name, role, password) != 0
    assert said in capsys.readouterr().err


def test_a_user_twice_and_a_missing_user_are_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert user_cli.add(str(config), "memory://", "anna", "viewer", "long enough") == 0
    assert user_cli.add(str(config), "memory://", "anna", "admin", "long enough") == 1
    assert user_cli.remove(str(config), "memory://", "ben") == 1
    assert "no user named ben" in capsys.readouterr().err


def test_the_command_s_arguments(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")

    def store_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store")

    user_cli.add_parser(sub, store_arguments)
    args = parser.parse_args(
        ["user", "add", "anna", "--role", "publisher", "--config", str(config)]
    )
    typed(monkeypatch, "a good password\n")
    assert user_cli.run(args, "memory://") == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["user", "add", "anna", "--role", "boss", "--config", str(config)])


def test_a_user_added_by_the_command_logs_into_the_cockpit(
    config: Path, make_client: MakeClient
) -> None:
    assert user_cli.add(str(config), "memory://", "anna", "publisher", "a good password") == 0
    cockpit = Cockpit(make_client(config))  # no shared password: users only
    assert cockpit.login("anna", "a good password").status_code == 303
    assert cockpit.get("/cockpit").status_code == 200
