"""`opmaat import customers` and `opmaat purl create`, run as the command line runs them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from opmaat.campaigns import load_campaigns
from opmaat.customers import load_table
from opmaat.purl import PurlSigner, Recipient, unsigned_key
from opmaat_edge.cli import main

KEY_NEW = "cli-purl-key-new-0123456789abcdef"
KEY_OLD = "cli-purl-key-old-0123456789abcdef"
BASE = "https://go.shop.example"

CAMPAIGNS = """site:
  hosts: [shop.example]
  customers: customers.json
slots: {hero: {}}
campaigns:
  - id: spring
    slot: hero
    variants: [{key: x, html: hi}]
    purl: {recipients: recipients.csv, landing: /welcome}
  - id: plain
    slot: hero
    variants: [{key: x, html: hi}]
"""

CUSTOMERS = """customer_id,recency_days,frequency,monetary,segments,city
c1,5,12,900,vip,Utrecht
c2,40,3,120,,Delft
c3,300,1,15,newsletter,
"""

Capsys = pytest.CaptureFixture[str]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "campaigns.yaml"
    path.write_text(CAMPAIGNS)
    return path


def write_csv(folder: Path, text: str, name: str = "in.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def import_customers(config: Path, csv_path: Path) -> int:
    return main(["import", "customers", "--config", str(config), str(csv_path)])


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


# --- opmaat import customers ------------------------------------------------------------------


def test_import_writes_the_table_and_counts(config: Path, capsys: Capsys) -> None:
    source = write_csv(config.parent, CUSTOMERS)
    assert import_customers(config, source) == 0
    captured = capsys.readouterr()
    target = config.parent / "customers.json"
    assert captured.out.strip() == f"imported 3 customer(s) from 3 row(s) into {target}"
    assert captured.err == ""
    table = load_table(target)
    assert sorted(table) == ["c1", "c2", "c3"]
    assert table["c1"]["fields"] == {"city": "Utrecht"}
    assert table["c1"]["rfm"]["segment"] == "champions"
    assert "vip" in table["c1"]["segments"]
    # The campaign file now loads with the table.
    assert sorted(load_campaigns(config).customers) == ["c1", "c2", "c3"]


def test_rows_with_mistakes_are_listed_and_left_out(config: Path, capsys: Capsys) -> None:
    source = write_csv(
        config.parent,
        "customer_id,recency_days,frequency,monetary\n"
        "c1,5,12,900\n"
        "c2,soon,3,120\n"
        "c3,300,1,-5\n"
        "c4,10,2\n"
        "c5,20,2,50\n",
    )
    assert import_customers(config, source) == 4
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{source}:3: recency_days: 'soon' is not a whole number >= 0",
        f"{source}:4: monetary: '-5' is not a finite number >= 0",
        f"{source}:5: row: has 3 cells, the header has 4",
        "3 row(s) left out",
    ]
    assert "imported 2 customer(s) from 5 row(s)" in captured.out
    assert sorted(load_table(config.parent / "customers.json")) == ["c1", "c5"]


def test_a_customer_whose_new_row_is_bad_keeps_the_previous_entry(
    config: Path, capsys: Capsys
) -> None:
    assert import_customers(config, write_csv(config.parent, CUSTOMERS)) == 0
    target = config.parent / "customers.json"
    before = load_table(target)
    capsys.readouterr()

    source = write_csv(
        config.parent,
        "customer_id,recency_days,frequency,monetary\nc1,1,x,10\nc2,2,9,999\nc7,3,1,1\n",
        "update.csv",
    )
    assert import_customers(config, source) == 4
    captured = capsys.readouterr()
    assert f"{source}:2: frequency: 'x' is not a whole number >= 0" in captured.err
    assert "imported 2 customer(s) from 3 row(s), 1 kept from the previous import" in captured.out
    after = load_table(target)
    assert after["c1"] == before["c1"]
    assert after["c2"]["frequency"] == 9
    # A customer missing from the new export is gone: the export is the whole table.
    assert sorted(after) == ["c1", "c2", "c7"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,email\nAnn,a@x\n", "1: header: no customer_id column (or id)"),
        ("customer_id,frequency\nc1,x\n", "1: header: no valid row"),
        ("customer_id,frequency\n", "1: header: no data rows"),
        ("   \n", "1: header: the file is empty"),
    ],
)
def test_a_file_nothing_can_be_made_of_changes_nothing(
    config: Path, capsys: Capsys, text: str, message: str
) -> None:
    assert import_customers(config, write_csv(config.parent, CUSTOMERS)) == 0
    target = config.parent / "customers.json"
    before = target.read_bytes()
    capsys.readouterr()

    source = write_csv(config.parent, text, "garbage.csv")
    assert import_customers(config, source) == 1
    captured = capsys.readouterr()
    assert f"{source}:{message}" in captured.err
    assert f"opmaat: nothing imported; {target} is unchanged" in captured.err
    assert captured.out == ""
    assert target.read_bytes() == before


def test_a_config_without_a_customer_table_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(CAMPAIGNS.replace("  customers: customers.json\n", ""))
    assert import_customers(config, write_csv(tmp_path, CUSTOMERS)) == 2
    err = capsys.readouterr().err
    assert f"opmaat: {config} names no customer table" in err
    assert "customers: customers.json" in err
    assert not (tmp_path / "customers.json").exists()


def test_an_unreadable_csv_is_refused(config: Path, capsys: Capsys) -> None:
    missing = config.parent / "missing.csv"
    assert import_customers(config, missing) == 2
    assert f"opmaat: cannot read {missing}: No such file or directory" in capsys.readouterr().err

    latin = config.parent / "latin1.csv"
    latin.write_bytes("customer_id,city\nc1,Zürich\n".encode("latin-1"))
    assert import_customers(config, latin) == 2
    assert f"{latin}:1: file: not UTF-8 text" in capsys.readouterr().err
    assert not (config.parent / "customers.json").exists()


def test_a_utf8_bom_and_semicolons_are_read(config: Path, capsys: Capsys) -> None:
    source = config.parent / "excel.csv"
    source.write_bytes("\ufeffcustomer_id;city\nc1;Zürich\n".encode())
    assert import_customers(config, source) == 0
    assert load_table(config.parent / "customers.json")["c1"]["fields"] == {"city": "Zürich"}


def test_a_broken_campaign_file_is_refused(config: Path, capsys: Capsys) -> None:
    config.write_text(CAMPAIGNS.replace("slot: hero", "slot: heor", 1))
    assert import_customers(config, write_csv(config.parent, CUSTOMERS)) == 2
    err = capsys.readouterr().err
    assert f"{config}:7: campaigns[0].slot: slot 'heor' is not declared" in err
    assert f"opmaat: fix {config} first" in err
    assert not (config.parent / "customers.json").exists()


def test_a_corrupt_previous_table_is_replaced_by_a_new_import(config: Path, capsys: Capsys) -> None:
    # BUG (data_cli.py, import_customers, lines 59-70): the campaign file loads the table it
    # names, so a corrupt customers.json makes _campaigns() fail (exit 2, "fix campaigns.yaml
    # first") and the "previous table is unreadable; importing without it" branch is never
    # reached: the import that would repair the table is refused.
    target = config.parent / "customers.json"
    target.write_text('{"format": "opmaat-customers/1", "customers": [')
    assert import_customers(config, write_csv(config.parent, CUSTOMERS)) == 0
    assert "previous table is unreadable" in capsys.readouterr().err
    assert sorted(load_table(target)) == ["c1", "c2", "c3"]


# --- opmaat purl create -----------------------------------------------------------------------

RECIPIENTS = "id,first_name,customer_id\nr1,Ann,c1\nr2,Bob,\n"


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPMAAT_SECRET_KEYS", f"{KEY_NEW}, {KEY_OLD}")


def create(config: Path, csv_path: Path, *extra: str, campaign: str = "spring") -> int:
    argv = ["purl", "create", "--config", str(config), "--campaign", campaign]
    return main([*argv, "--csv", str(csv_path), "--base-url", BASE, *extra])


def token_of(url: str) -> str:
    assert url.startswith(f"{BASE}/p/")
    return url.removeprefix(f"{BASE}/p/")


@pytest.mark.usefixtures("keys")
def test_purl_create_adds_signed_links(config: Path, capsys: Capsys) -> None:
    source = write_csv(config.parent, RECIPIENTS, "recipients-in.csv")
    assert create(config, source) == 0
    target = config.parent / "recipients.csv"
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"2 new link(s) for campaign spring in {target}",
        f"spring: its links land on {BASE}/welcome: this must be a page of your shop",
    ]
    # The link's host is not the shop's: on an edge of its own, /welcome is the edge's page.
    assert captured.err.splitlines() == [
        "opmaat: warning: go.shop.example is not one of site.hosts, so unless this edge is "
        f"served under your shop's host, {BASE}/welcome is the edge's own page, not your "
        "shop's: make purl.landing a full URL on one of site.landing_hosts "
        "(docs/campaign-types.md)"
    ]
    written = rows(target)
    assert [(r["id"], r["first_name"], r["customer_id"]) for r in written] == [
        ("r1", "Ann", "c1"),
        ("r2", "Bob", ""),
    ]
    signer = PurlSigner([KEY_NEW])
    tokens = [token_of(r["url"]) for r in written]
    found = [signer.verify(token, max_age_seconds=3600) for token in tokens]
    assert [status for _, status in found] == ["ok", "ok"]
    assert [key for key, _ in found] == [unsigned_key(token) for token in tokens]
    assert len({key for key, _ in found}) == 2
    # Signed with the first key of OPMAAT_SECRET_KEYS, not the older one.
    assert PurlSigner([KEY_OLD]).verify(tokens[0], max_age_seconds=3600) == (None, "invalid")


@pytest.mark.usefixtures("keys")
def test_running_purl_create_again_keeps_the_links(config: Path, capsys: Capsys) -> None:
    assert create(config, write_csv(config.parent, RECIPIENTS, "recipients-in.csv")) == 0
    target = config.parent / "recipients.csv"
    first = rows(target)
    capsys.readouterr()

    # The written file, with one more recipient, is the next run's input.
    grown = target.read_text(encoding="utf-8") + "r3,Cas,c3,\n"
    assert create(config, write_csv(config.parent, grown, "next.csv")) == 0
    assert "1 new link(s) for campaign spring" in capsys.readouterr().out
    second = rows(target)
    assert [r["url"] for r in second[:2]] == [r["url"] for r in first]
    assert second[2]["id"] == "r3"
    assert second[2]["url"] not in {r["url"] for r in first}

    assert create(config, target) == 0
    assert "0 new link(s)" in capsys.readouterr().out
    assert rows(target) == second


@pytest.mark.usefixtures("keys")
def test_rejected_recipients_are_listed_and_get_no_link(config: Path, capsys: Capsys) -> None:
    source = write_csv(config.parent, "id,first_name\nr1,Ann\n,Nobody\nr1,Again\n")
    assert create(config, source) == 4
    captured = capsys.readouterr()
    assert captured.err.splitlines()[:3] == [
        f"{source}:3: id: empty id",
        f"{source}:4: id: duplicate id, first on line 2",
        "2 recipient(s) left out",
    ]
    written = rows(config.parent / "recipients.csv")
    assert [bool(r["url"]) for r in written] == [True, False, False]
    loaded = load_campaigns(config).recipients
    assert [r.id for _, r in loaded.values()] == ["r1"]


@pytest.mark.parametrize("value", [None, "", " , "])
def test_purl_create_needs_the_signing_keys(
    config: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("OPMAAT_SECRET_KEYS", raising=False)
    else:
        monkeypatch.setenv("OPMAAT_SECRET_KEYS", value)
    assert create(config, write_csv(config.parent, RECIPIENTS)) == 2
    assert "set OPMAAT_SECRET_KEYS" in capsys.readouterr().err
    assert not (config.parent / "recipients.csv").exists()


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize(
    ("campaign", "message"),
    [("nope", "has no campaign 'nope'"), ("plain", "has no purl section for campaign 'plain'")],
)
def test_purl_create_needs_a_campaign_with_a_purl_section(
    config: Path, capsys: Capsys, campaign: str, message: str
) -> None:
    assert create(config, write_csv(config.parent, RECIPIENTS), campaign=campaign) == 2
    assert f"opmaat: {config} {message}" in capsys.readouterr().err
    assert not (config.parent / "recipients.csv").exists()


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize(
    "base_url",
    ["go.shop.example", "ftp://go.shop.example", "https://go.shop.example/?x=1", "https:// x"],
)
def test_purl_create_refuses_a_bad_base_url(config: Path, capsys: Capsys, base_url: str) -> None:
    source = write_csv(config.parent, RECIPIENTS)
    argv = ["purl", "create", "--config", str(config), "--campaign", "spring"]
    assert main([*argv, "--csv", str(source), "--base-url", base_url]) == 1
    err = capsys.readouterr().err
    assert f"{source}:1: base_url: " in err
    assert "opmaat: no links made" in err
    assert not (config.parent / "recipients.csv").exists()


@pytest.mark.usefixtures("keys")
def test_purl_create_refuses_an_unreadable_csv_or_a_broken_config(
    config: Path, capsys: Capsys
) -> None:
    latin = config.parent / "latin1.csv"
    latin.write_bytes("id,first_name\nr1,Zoë\n".encode("latin-1"))
    assert create(config, latin) == 2
    assert f"{latin}:1: file: not UTF-8 text" in capsys.readouterr().err

    config.write_text(CAMPAIGNS.replace("landing: /welcome", "landing: //evil.example"))
    assert create(config, write_csv(config.parent, RECIPIENTS)) == 2
    err = capsys.readouterr().err
    assert f"{config}:9: campaigns[0].purl.landing:" in err
    assert f"opmaat: fix {config} first" in err
    assert not (config.parent / "recipients.csv").exists()


@pytest.mark.usefixtures("keys")
def test_purl_create_out_elsewhere_says_where_the_edge_reads(
    config: Path, tmp_path: Path, capsys: Capsys
) -> None:
    elsewhere = tmp_path / "mailing" / "links.csv"
    elsewhere.parent.mkdir()
    assert create(config, write_csv(config.parent, RECIPIENTS), "--out", str(elsewhere)) == 0
    out = capsys.readouterr().out.splitlines()
    target = config.parent / "recipients.csv"
    assert out[:2] == [
        f"2 new link(s) for campaign spring in {elsewhere}",
        f"the edge reads {target.resolve()}; copy the file there to use the links",
    ]
    assert not target.exists()
    assert [r["id"] for r in rows(elsewhere)] == ["r1", "r2"]

    # --out naming the file the edge reads gives no hint.
    assert create(config, write_csv(config.parent, RECIPIENTS), "--out", str(target)) == 0
    assert "copy the file" not in capsys.readouterr().out


@pytest.mark.usefixtures("keys")
def test_purl_create_out_into_a_missing_folder_is_an_error_not_a_crash(
    config: Path, tmp_path: Path, capsys: Capsys
) -> None:
    # BUG (data_cli.py, create_purls, write_atomic(target, ...)): an --out whose folder does
    # not exist raises FileNotFoundError out of main() (a traceback) instead of saying so.
    elsewhere = tmp_path / "no-such-folder" / "links.csv"
    assert create(config, write_csv(config.parent, RECIPIENTS), "--out", str(elsewhere)) == 2
    assert str(elsewhere.parent) in capsys.readouterr().err


@pytest.mark.usefixtures("keys")
def test_written_recipients_load_with_the_campaign_file(config: Path, capsys: Capsys) -> None:
    assert create(config, write_csv(config.parent, RECIPIENTS)) == 0
    written = rows(config.parent / "recipients.csv")
    recipients = load_campaigns(config).recipients
    signer = PurlSigner([KEY_NEW, KEY_OLD])
    for row in written:
        key, status = signer.verify(token_of(row["url"]), max_age_seconds=3600)
        assert status == "ok"
        assert key is not None
        campaign, recipient = recipients[key]
        assert campaign == "spring"
        assert recipient.id == row["id"]
        assert recipient.key == key
    first_key = unsigned_key(token_of(written[0]["url"]))
    assert first_key is not None
    assert recipients[first_key] == ("spring", Recipient(first_key, "r1", {}))  # none exposed
    assert len(recipients) == 2


def test_purl_create_again_keeps_every_printed_link_and_adds_new_ones(tmp_path: Path) -> None:
    from opmaat.purl import links_by_id
    from opmaat_edge.data_cli import create_purls, prepare_demo

    keys = ["k" * 20]
    config = prepare_demo(tmp_path, "http://edge.example", keys)
    assert config is not None
    links = tmp_path / "recipients-links.csv"
    before = links_by_id(links.read_text(encoding="utf-8"))
    assert len(before) == 3
    recipients = tmp_path / "recipients.csv"
    recipients.write_text(recipients.read_text(encoding="utf-8") + "r-004,Noor,,SPRING-5,\n")
    assert (
        create_purls(
            str(config), "spring-mailing", str(recipients), "http://edge.example", str(links), keys
        )
        == 0
    )
    after = links_by_id(links.read_text(encoding="utf-8"))
    assert {k: after[k] for k in before} == before
    assert set(after) == {*before, "r-004"}


def test_purl_create_where_no_row_gets_a_link_changes_nothing(tmp_path: Path) -> None:
    from opmaat_edge.data_cli import create_purls, prepare_demo

    keys = ["k" * 20]
    config = prepare_demo(tmp_path, "http://edge.example", keys)
    assert config is not None
    links = tmp_path / "recipients-links.csv"
    written = links.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,first_name\n,Ann\n,Bob\n", encoding="utf-8")
    assert (
        create_purls(
            str(config), "spring-mailing", str(bad), "http://edge.example", str(links), keys
        )
        == 1
    )
    assert links.read_bytes() == written


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize(
    ("landing", "base_url", "lands"),
    [
        ("/welcome", "https://shop.example", "https://shop.example/welcome"),
        ("/welcome", "https://shop.example/_opmaat", "https://shop.example/welcome"),
        ("https://shop.example/spring", BASE, "https://shop.example/spring"),
    ],
)
def test_purl_create_says_where_links_land_without_a_warning_when_that_is_the_shop(
    config: Path, capsys: Capsys, landing: str, base_url: str, lands: str
) -> None:
    config.write_text(CAMPAIGNS.replace("landing: /welcome", f"landing: '{landing}'"))
    source = write_csv(config.parent, RECIPIENTS, "recipients-in.csv")
    argv = ["purl", "create", "--config", str(config), "--campaign", "spring"]
    assert main([*argv, "--csv", str(source), "--base-url", base_url]) == 0
    captured = capsys.readouterr()
    assert f"spring: its links land on {lands}" in captured.out
    assert captured.err == ""


def test_without_a_base_url_a_path_lands_on_the_host_in_the_links_url() -> None:
    # What `opmaat check` can say of a campaign: it knows no --base-url.
    from opmaat.purl import where_links_land

    assert where_links_land("/welcome", ("shop.example",)) == (
        "its links land on /welcome of the host in their URL (the --base-url of "
        "`opmaat purl create`): that must be a page of your shop",
        None,
    )
    assert where_links_land("https://shop.example/spring", ()) == (
        "its links land on https://shop.example/spring",
        None,
    )
    lands, warning = where_links_land("/", ("shop.example:8443",), "https://shop.example:8443")
    assert (lands, warning) == (
        "its links land on https://shop.example:8443/: this must be a page of your shop",
        None,
    )


@pytest.mark.usefixtures("keys")
def test_purl_create_refuses_a_csv_without_a_column_the_campaign_exposes(
    config: Path, capsys: Capsys
) -> None:
    # The edge would refuse the links file, and with it the whole campaign file.
    exposed = "landing: /, expose: [first_name, offer]"
    config.write_text(CAMPAIGNS.replace("landing: /welcome", exposed))
    source = write_csv(config.parent, RECIPIENTS, "recipients-in.csv")
    assert create(config, source) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"{source}:1: offer: the campaign's purl.expose lists this column, but the file has "
        "none (it has id, first_name, customer_id)"
    )
    assert err[-1] == "opmaat: no links made"
    assert not (config.parent / "recipients.csv").exists()
