from __future__ import annotations

import json
from pathlib import Path

import pytest

from opmaat_edge.cli import main
from opmaat_edge.resources import DEMO_CAMPAIGNS


def test_check_accepts_the_demo_campaigns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DEMO_CAMPAIGNS)]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_reports_file_line_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "slots:\n  hero: {default: x}\ncampaigns:\n  - id: a\n    slot: hero\n    priorty: 3\n"
        "    variants: [{key: a, html: x}]\n"
    )
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:6: campaigns[0].priorty:" in out
    assert "priority" in out


def test_serve_refuses_to_start_without_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPMAAT_SECRET_KEYS", raising=False)
    monkeypatch.delenv("OPMAAT_DEV", raising=False)
    assert main(["serve", "--config", str(DEMO_CAMPAIGNS)]) == 2
    assert "OPMAAT_SECRET_KEYS" in capsys.readouterr().err


def test_serve_refuses_a_bad_campaign_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("campaigns: 3\n")
    monkeypatch.setenv("OPMAAT_SECRET_KEYS", "a-long-enough-signing-key")
    assert main(["serve", "--config", str(path)]) == 2
    assert f"{path}:1" in capsys.readouterr().err


def test_help_explains_each_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "serve", "check"):
        assert f"opmaat {command}" in out


def test_serve_refuses_several_workers_on_the_memory_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPMAAT_SECRET_KEYS", "a-long-enough-signing-key")
    argv = ["serve", "--config", str(DEMO_CAMPAIGNS), "--workers", "2", "--store", "memory://"]
    assert main(argv) == 2
    assert "--workers needs a shared store" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pause", "no-such"], "has no campaign 'no-such'"),
        (["pause", "no-such", "--store", "redis://127.0.0.1:1/0"], "has no campaign 'no-such'"),
        (["resume", "search-hero", "--store", "ftp://x"], "unknown store"),
        (["stats", "--store", "redis://127.0.0.1:1/0?colour=red"], "unknown option"),
    ],
)
def test_pause_and_stats_explain_what_is_wrong(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--config", str(DEMO_CAMPAIGNS)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err + captured.out


def test_pause_on_the_memory_store_writes_the_file_a_single_edge_follows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPMAAT_PAUSED_FILE", raising=False)
    config = tmp_path / "shop.yaml"
    config.write_text(DEMO_CAMPAIGNS.read_text())
    memory = ["--config", str(config), "--store", "memory://"]
    assert main(["pause", "search-hero", *memory]) == 0
    assert json.loads((tmp_path / "shop.paused.json").read_text()) == ["search-hero"]
    assert main(["resume", "search-hero", *memory]) == 0
    assert json.loads((tmp_path / "shop.paused.json").read_text()) == []
    elsewhere = tmp_path / "paused-elsewhere.json"
    monkeypatch.setenv("OPMAAT_PAUSED_FILE", str(elsewhere))
    assert main(["pause", "cart-reminder", *memory]) == 0
    assert json.loads(elsewhere.read_text()) == ["cart-reminder"]


def test_hash_password_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from opmaat_edge.cockpit.auth import check_password

    monkeypatch.setattr("sys.stdin", io.StringIO("a good long password\n"))
    assert main(["hash-password"]) == 0
    hashed = capsys.readouterr().out.strip()
    assert check_password("a good long password", hashed)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["hash-password"]) == 1
    assert "8 to 1024" in capsys.readouterr().err


def test_stats_says_when_the_store_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    url = "redis://127.0.0.1:1/0?timeout_ms=50"
    assert main(["stats", "--config", str(DEMO_CAMPAIGNS), "--store", url]) == 1
    assert "redis" in capsys.readouterr().err
