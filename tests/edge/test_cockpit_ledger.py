"""The cockpit's ledger in files beside the campaign file: the promises every ledger keeps
(tests/edge/ledger_contract.py), and what files add (private users file, atomic writes, a
broken file said, not overwritten)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from opmaat.store import MemoryStore
from opmaat_edge.cockpit import ledger_files
from opmaat_edge.cockpit.ledger import LedgerUnavailable, UserRecord, open_ledger
from opmaat_edge.cockpit.ledger_files import FileLedger
from tests.edge import ledger_contract
from tests.edge.ledger_contract import Scenario


def ledger_in(folder: Path) -> FileLedger:
    ledger = open_ledger(MemoryStore(), folder / "campaigns.yaml")
    assert isinstance(ledger, FileLedger)
    return ledger


@pytest.mark.parametrize("scenario", ledger_contract.SCENARIOS, ids=lambda s: s.__name__)
def test_files_keep_the_ledger_s_promises(scenario: Scenario, tmp_path: Path) -> None:
    asyncio.run(scenario(ledger_in(tmp_path)))


def test_the_files_are_beside_the_campaign_file(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    user = UserRecord("anna", "editor", "scrypt$x", "s", 1.0, "tests")
    asyncio.run(ledger.put_user(user))
    asyncio.run(ledger_contract.versions_are_numbered_without_gaps(ledger))
    assert (tmp_path / "campaigns.users.json").exists()
    assert sorted(p.name for p in (tmp_path / "campaigns.cockpit" / "versions").iterdir()) == [
        "000001.json",
        "000002.json",
    ]
    mode = stat.S_IMODE((tmp_path / "campaigns.users.json").stat().st_mode)
    assert mode == 0o600  # the password hashes are nobody else's


def test_a_held_lock_makes_another_process_wait_then_give_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_files, "LOCK_WAIT_SECONDS", 0.2)
    asyncio.run(
        ledger_contract.a_held_publish_lock_times_out(ledger_in(tmp_path), ledger_in(tmp_path))
    )


def test_a_broken_file_is_said_and_left_alone(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    (tmp_path / "campaigns.users.json").write_text("{not json")
    with pytest.raises(LedgerUnavailable, match="is not JSON"):
        asyncio.run(ledger.users())
    with pytest.raises(LedgerUnavailable):
        asyncio.run(ledger.put_user(UserRecord("a", "viewer", "h", "s", 1.0, "t")))
    assert (tmp_path / "campaigns.users.json").read_text() == "{not json"


def test_a_draft_for_a_name_that_is_no_campaign_id_is_refused(tmp_path: Path) -> None:
    ledger = ledger_in(tmp_path)
    assert asyncio.run(ledger.draft("../../etc/passwd")) is None
    with pytest.raises(ValueError, match="not a campaign id"):
        asyncio.run(ledger.drop_draft("../x"))
