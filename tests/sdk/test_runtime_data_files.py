"""RuntimeHolder.reload_if_changed follows the data files the campaign file names (the customer
table, PURL recipients) as well as the file itself."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from opmaat.campaigns import site_data
from opmaat.customers import load_table, parse_customers, write_table
from opmaat.purl import PurlSigner, create_recipients, unsigned_key
from opmaat.runtime import RuntimeHolder

CAMPAIGNS = """site:
  customers: customers.json
slots: {hero: {}}
campaigns:
  - id: mail
    slot: hero
    variants: [{key: x, html: hi}]
    purl: {recipients: recipients.csv, landing: /welcome}
"""
TODAY = dt.date(2024, 6, 1)
SIGNER = PurlSigner(["runtime-test-key-0123456789abcdef"])
_STAMPS = itertools.count(1)


def bump(path: Path) -> None:
    """Give ``path`` an mtime no earlier write had, whatever the clock's resolution."""
    stamp = 1_700_000_000 + 10 * next(_STAMPS)
    os.utime(path, (stamp, stamp))


def write_customers(folder: Path, csv_text: str) -> None:
    target = folder / "customers.json"
    write_table(target, parse_customers(csv_text, filename="crm.csv", today=TODAY), source="crm")
    bump(target)


def write_broken(path: Path, text: str) -> None:
    path.write_text(text)
    bump(path)


def write_recipients(folder: Path, csv_text: str) -> list[str]:
    """Writes the recipients file; returns the link keys in row order."""
    written, rejected, _ = create_recipients(
        csv_text, filename="in.csv", base_url="https://go.shop.example", signer=SIGNER
    )
    assert rejected == []
    target = folder / "recipients.csv"
    target.write_text(written)
    bump(target)
    keys = [unsigned_key(line.rsplit("/", 1)[-1]) for line in written.splitlines()[1:]]
    return [key for key in keys if key is not None]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "campaigns.yaml"
    path.write_text(CAMPAIGNS)
    bump(path)
    return tmp_path


def customers(holder: RuntimeHolder) -> dict[str, Any]:
    return dict(holder.current.campaigns.customers)


def recipient_ids(holder: RuntimeHolder) -> dict[str, str]:
    return {key: r.id for key, (_, r) in holder.current.campaigns.recipients.items()}


def test_a_customer_table_written_later_is_picked_up(folder: Path) -> None:
    config = folder / "campaigns.yaml"
    holder = RuntimeHolder(config)
    assert customers(holder) == {}
    assert not holder.reload_if_changed()  # nothing changed yet
    campaign_mtime = config.stat().st_mtime

    write_customers(folder, "customer_id,frequency\nc1,3\n")
    assert holder.reload_if_changed()
    assert list(customers(holder)) == ["c1"]
    assert customers(holder)["c1"]["frequency"] == 3
    assert (holder.reloads_ok, holder.reloads_failed) == (1, 0)
    assert not holder.reload_if_changed()
    assert holder.reloads_ok == 1

    write_customers(folder, "customer_id,frequency\nc1,4\nc2,1\n")
    assert holder.reload_if_changed()
    assert customers(holder)["c1"]["frequency"] == 4
    assert sorted(customers(holder)) == ["c1", "c2"]
    assert holder.reloads_ok == 2
    # The campaign file itself was never touched.
    assert config.stat().st_mtime == campaign_mtime
    assert holder.current.mtime == campaign_mtime


def test_a_broken_customer_table_is_rejected_once_and_the_last_good_one_serves(
    folder: Path,
) -> None:
    write_customers(folder, "customer_id,frequency\nc1,3\n")
    holder = RuntimeHolder(folder / "campaigns.yaml")
    running = holder.current
    assert list(customers(holder)) == ["c1"]

    table = folder / "customers.json"
    write_broken(table, '{"format": "opmaat-customers/1", "customers": [')
    for _ in range(4):
        assert not holder.reload_if_changed()
    assert holder.reloads_failed == 1
    assert holder.current is running
    assert list(customers(holder)) == ["c1"]
    assert holder.last_error is not None
    assert "customers.json" in holder.last_error

    write_customers(folder, "customer_id,frequency\nc1,5\nc9,1\n")
    assert holder.reload_if_changed()
    assert sorted(customers(holder)) == ["c1", "c9"]
    assert customers(holder)["c1"]["frequency"] == 5
    assert (holder.reloads_ok, holder.reloads_failed) == (1, 1)
    assert holder.last_error is None
    assert not holder.reload_if_changed()


def test_a_broken_table_is_tried_again_when_it_changes_again(folder: Path) -> None:
    write_customers(folder, "customer_id\nc1\n")
    holder = RuntimeHolder(folder / "campaigns.yaml")
    table = folder / "customers.json"
    write_broken(table, "not json")
    assert not holder.reload_if_changed()
    write_broken(table, "still not json")
    assert not holder.reload_if_changed()
    assert not holder.reload_if_changed()
    assert holder.reloads_failed == 2
    assert list(customers(holder)) == ["c1"]


def test_recipients_written_later_are_picked_up(folder: Path) -> None:
    holder = RuntimeHolder(folder / "campaigns.yaml")
    assert recipient_ids(holder) == {}

    keys = write_recipients(folder, "id,first_name\nr1,Ann\nr2,Bob\n")
    assert holder.reload_if_changed()
    assert recipient_ids(holder) == {keys[0]: "r1", keys[1]: "r2"}
    assert holder.current.campaigns.recipients[keys[0]][0] == "mail"
    assert not holder.reload_if_changed()


def test_a_broken_recipients_file_is_rejected_once_and_the_last_good_one_serves(
    folder: Path,
) -> None:
    first = write_recipients(folder, "id,first_name\nr1,Ann\n")
    holder = RuntimeHolder(folder / "campaigns.yaml")
    running = holder.current
    assert recipient_ids(holder) == {first[0]: "r1"}

    recipients = folder / "recipients.csv"
    write_broken(recipients, "id,first_name\nr1,Ann\n")  # no url column
    for _ in range(4):
        assert not holder.reload_if_changed()
    assert holder.reloads_failed == 1
    assert holder.current is running
    assert recipient_ids(holder) == {first[0]: "r1"}
    assert holder.last_error is not None
    assert "recipients.csv" in holder.last_error

    fixed = write_recipients(folder, "id,first_name\nr7,Eve\n")
    assert holder.reload_if_changed()
    assert recipient_ids(holder) == {fixed[0]: "r7"}
    assert (holder.reloads_ok, holder.reloads_failed) == (1, 1)
    assert not holder.reload_if_changed()


def test_a_data_file_change_does_not_undo_a_rejected_campaign_file(folder: Path) -> None:
    config = folder / "campaigns.yaml"
    holder = RuntimeHolder(config)
    config.write_text(CAMPAIGNS.replace("slot: hero", "slot: heor"))
    bump(config)
    assert not holder.reload_if_changed()
    assert holder.reloads_failed == 1

    # The table changes while the campaign file is still broken: nothing new runs, the
    # running campaigns stay, and the pair is not tried over and over.
    write_customers(folder, "customer_id\nc1\n")
    assert not holder.reload_if_changed()
    assert not holder.reload_if_changed()
    assert holder.reloads_failed == 2
    assert customers(holder) == {}

    config.write_text(CAMPAIGNS)
    bump(config)
    assert holder.reload_if_changed()
    assert list(customers(holder)) == ["c1"]


def test_a_table_written_while_the_campaign_file_loads_is_not_missed(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BUG (runtime.py, Runtime.load): the data files' mtimes are taken after the campaign file
    # (and so the data files) were read. A table written between the read and the stat is
    # stamped as seen, and reload_if_changed never loads it.
    write_customers(folder, "customer_id\nold\n")
    real_load = load_table
    writes = iter([True])

    def load_then_import(path: Path) -> dict[str, dict[str, Any]]:
        table = real_load(path)
        if next(writes, False):  # `opmaat import customers` finishes just after the read
            write_customers(folder, "customer_id\nnew\n")
        return table

    monkeypatch.setattr(site_data, "load_table", load_then_import)
    holder = RuntimeHolder(folder / "campaigns.yaml")
    assert list(customers(holder)) == ["old"]
    assert list(load_table(folder / "customers.json")) == ["new"]
    holder.reload_if_changed()
    assert list(customers(holder)) == ["new"]


def test_a_data_file_change_keeps_a_campaign_file_adopted_from_another_node(
    tmp_path: Path,
) -> None:
    from opmaat.store import SharedConfig

    (tmp_path / "campaigns.yaml").write_text(CAMPAIGNS)
    write_customers(tmp_path, "customer_id,frequency\nc1,1\n")
    holder = RuntimeHolder(tmp_path / "campaigns.yaml")
    shared = CAMPAIGNS.replace("html: hi", "html: from the other node")
    assert holder.adopt(SharedConfig("v-other", shared, 2_000_000_000.0))
    write_customers(tmp_path, "customer_id,frequency\nc1,1\nc2,2\n")
    assert holder.reload_if_changed()
    current = holder.current
    assert current.shared
    assert current.text == shared
    assert set(current.campaigns.customers) == {"c1", "c2"}


def test_what_adaptive_campaigns_learned_survives_a_reload(tmp_path: Path) -> None:
    from opmaat.adaptive import Posterior

    config = tmp_path / "campaigns.yaml"
    adaptive = (
        "slots: {hero: {}}\ncampaigns:\n  - id: ab\n    slot: hero\n    allocation: adaptive\n"
        "    variants: [{key: x, html: x}, {key: y, html: y}]\n"
    )
    config.write_text(adaptive)
    holder = RuntimeHolder(config)
    holder.current.engine.learn({"ab": {"y": {"impressions": 100, "conversions": 40}}})
    learned = holder.current.engine.posteriors["ab"]
    assert learned[1] == Posterior(41.0, 61.0)
    config.write_text(
        adaptive + "  - id: other\n    slot: hero\n    variants: [{key: a, html: a}]\n"
    )
    bump(config)
    assert holder.reload_if_changed()
    assert holder.current.engine.posteriors["ab"] == learned
    config.write_text(adaptive.replace("{key: y, html: y}", "{key: z, html: z}"))
    bump(config)
    assert holder.reload_if_changed()
    assert "ab" not in holder.current.engine.posteriors  # the variants changed: start over
