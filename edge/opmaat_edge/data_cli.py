"""`opmaat import customers` and `opmaat purl create`: the data files campaigns join with.

Both write the file the campaign file names (``site.customers``, a campaign's
``purl.recipients``) atomically; a running edge reloads it within its reload interval. Rows
with mistakes are listed as ``file:line: field: message`` and left out; a file nothing can be
made of changes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from opmaat.campaigns import CampaignSet, load_campaigns
from opmaat.customers import load_table, parse_customers, write_table
from opmaat.errors import ConfigError, Problem
from opmaat.files import write_atomic
from opmaat.purl import PurlSigner, create_recipients, links_by_id, where_links_land
from opmaat_edge.resources import DEMO, DEMO_CAMPAIGNS

PARTIAL = 4  # exit status: written, but some rows were left out


def _say(*lines: object) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _campaigns(config: str) -> CampaignSet | None:
    # Without its data files: a broken table is what these commands may be run to repair.
    try:
        return load_campaigns(config, load_data=False)
    except ConfigError as exc:
        _say(exc, f"opmaat: fix {config} first")
        return None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        _say(f"opmaat: cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        _say(f"{path}:1: file: not UTF-8 text (export the CSV as UTF-8)")
    return None


def _report(problems: list[Problem], what: str) -> None:
    _say(*problems)
    if problems:
        _say(f"{len(problems)} {what} left out")


def import_customers(config: str, csv_path: str, today: dt.date | None = None) -> int:
    campaigns = _campaigns(config)
    if campaigns is None:
        return 2
    target = campaigns.site.customers
    if target is None:
        _say(f"opmaat: {config} names no customer table; add `customers: customers.json` to site")
        return 2
    text = _read(csv_path)
    if text is None:
        return 2
    try:
        previous = load_table(target) if target.exists() else {}
    except ConfigError as exc:
        _say(exc, "opmaat: the previous table is unreadable; importing without it")
        previous = {}
    try:
        result = parse_customers(
            text,
            filename=csv_path,
            today=today or dt.datetime.now(dt.UTC).date(),
            previous=previous,
        )
    except ConfigError as exc:
        _say(exc, f"opmaat: nothing imported; {target} is unchanged")
        return 1
    try:
        write_table(target, result, source=os.path.basename(csv_path))
    except OSError as exc:
        _say(f"opmaat: cannot write {target}: {exc.strerror or exc}")
        return 2
    _report(result.rejected, "row(s)")
    kept = f", {result.kept} kept from the previous import" if result.kept else ""
    print(
        f"imported {len(result.table) - result.kept} customer(s) from {result.rows} row(s)"
        f"{kept} into {target}"
    )
    return PARTIAL if result.rejected else 0


def create_purls(
    config: str,
    campaign_id: str,
    csv_path: str,
    base_url: str,
    out: str | None,
    secret_keys: Sequence[str] | None = None,
) -> int:
    campaigns = _campaigns(config)
    if campaigns is None:
        return 2
    campaign = next((c for c in campaigns.campaigns if c.id == campaign_id), None)
    if campaign is None or campaign.purl is None:
        why = "has no campaign" if campaign is None else "has no purl section for campaign"
        _say(f"opmaat: {config} {why} {campaign_id!r}")
        return 2
    if secret_keys is None:
        secret_keys = os.environ.get("OPMAAT_SECRET_KEYS", "").split(",")
    keys = [k.strip() for k in secret_keys if k.strip()]
    if not keys:
        _say("opmaat: set OPMAAT_SECRET_KEYS to the edge's signing keys (the links are signed)")
        return 2
    text = _read(csv_path)
    if text is None:
        return 2
    target = Path(out) if out else campaign.purl.recipients
    try:
        # The links already made for these recipients are kept: they may be printed.
        previous = links_by_id(target.read_text(encoding="utf-8")) if target.exists() else {}
    except (OSError, UnicodeDecodeError):
        previous = {}
    try:
        written, problems, issued = create_recipients(
            text,
            filename=csv_path,
            base_url=base_url,
            signer=PurlSigner(keys),
            previous=previous,
            expose=campaign.purl.expose,
        )
    except ConfigError as exc:
        _say(exc, "opmaat: no links made")
        return 1
    if not links_by_id(written):
        _say(*problems, f"opmaat: no recipient could get a link; {target} is unchanged")
        return 1
    try:
        write_atomic(target, written)
    except OSError as exc:
        _say(f"opmaat: cannot write {target}: {exc.strerror or exc}")
        return 2
    _report(problems, "recipient(s)")
    print(f"{issued} new link(s) for campaign {campaign_id} in {target}")
    if target.resolve() != campaign.purl.recipients.resolve():
        print(f"the edge reads {campaign.purl.recipients}; copy the file there to use the links")
    lands, warning = where_links_land(campaign.purl.landing, campaigns.site.hosts, base_url)
    print(f"{campaign_id}: {lands}")
    if warning:
        _say(f"opmaat: warning: {warning}")
    return PARTIAL if problems else 0


def prepare_demo(folder: Path, base_url: str, secret_keys: Sequence[str]) -> Path | None:
    """A copy of the demo's folder in ``folder`` with its data files made: what `opmaat demo`
    runs. Returns the campaign file, or None (said why) if a step failed."""
    # Without the cockpit records a run beside the packaged file may have left.
    ignore = shutil.ignore_patterns("*.cockpit", "*.users.json", "*.paused.json")
    shutil.copytree(DEMO, folder, dirs_exist_ok=True, ignore=ignore)
    config = folder / DEMO_CAMPAIGNS.name
    if import_customers(str(config), str(folder / "customers.csv")) not in (0, PARTIAL):
        return None
    made = create_purls(
        str(config),
        "spring-mailing",
        str(folder / "recipients.csv"),
        base_url,
        str(folder / "recipients-links.csv"),
        secret_keys,
    )
    return config if made in (0, PARTIAL) else None
