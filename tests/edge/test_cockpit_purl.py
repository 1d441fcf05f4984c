"""Personal links in the cockpit: upload a recipients CSV, download it back with a link per
recipient (by the rules of `opmaat purl create`), and the links work."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from opmaat_edge.cockpit.preview import AGENTS
from opmaat_edge.data_cli import create_purls
from tests.edge.cockpit_helpers import Cockpit, add_users, demo_copy, first, logged_in
from tests.edge.conftest import KEYS, MakeClient

PAGE = "/cockpit/campaigns/spring-mailing/purl"
RECIPIENTS = (
    "id,first_name,company,offer,customer_id\n"
    "r-001,Marieke,Fietsfabriek,SPRING-25,c-1002\n"
    "r-002,Tom,,SPRING-10,\n"
    ",Nobody,,,\n"
)


@pytest.fixture
def publisher(make_client: MakeClient, tmp_path: Path) -> Cockpit:
    config = demo_copy(tmp_path)
    add_users(config, "publisher", "editor")
    return logged_in(make_client, config, "publisher-user")


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def upload(cockpit: Cockpit, text: str) -> str:
    answer = cockpit.post(
        PAGE, {"csrf": cockpit.csrf(), "csv": text, "base_url": "http://127.0.0.1"}
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def test_an_uploaded_list_comes_back_with_a_link_per_recipient(
    publisher: Cockpit, tmp_path: Path
) -> None:
    page = upload(publisher, RECIPIENTS)
    said = first(page, "#purl-result")
    assert said.startswith("2 new link(s).")
    assert "left out" in page
    download = publisher.get(PAGE + "/links.csv")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == (
        'attachment; filename="spring-mailing-links.csv"'
    )
    got = rows(download.text)
    assert [r["id"] for r in got if r["url"]] == ["r-001", "r-002"]
    assert all(r["url"].startswith("http://127.0.0.1/p/") for r in got if r["url"])
    # The same rules as the command: the same recipients get links, the same are left out.
    made = tmp_path / "by-command.csv"
    (tmp_path / "in.csv").write_text(RECIPIENTS)
    create_purls(
        str(tmp_path / "campaigns.yaml"),
        "spring-mailing",
        str(tmp_path / "in.csv"),
        "http://127.0.0.1",
        str(made),
        KEYS,
    )
    assert [(r["id"], bool(r["url"])) for r in rows(made.read_text())] == [
        (r["id"], bool(r["url"])) for r in got
    ]
    # A link lands, as a personal link of the campaign.
    path = urlsplit(got[0]["url"]).path
    landed = publisher.client.get(
        path, headers={"user-agent": AGENTS["desktop"]}, follow_redirects=False
    )
    assert landed.status_code == 303


def test_uploading_again_keeps_the_links_made_before(publisher: Cockpit) -> None:
    upload(publisher, RECIPIENTS)
    before = {r["id"]: r["url"] for r in rows(publisher.get(PAGE + "/links.csv").text)}
    page = upload(publisher, RECIPIENTS + "r-003,Lotte,,SPRING-15,\n")
    assert first(page, "#purl-result").startswith("1 new link(s).")
    after = {r["id"]: r["url"] for r in rows(publisher.get(PAGE + "/links.csv").text)}
    assert after["r-001"] == before["r-001"]
    assert after["r-003"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "Choose or paste a CSV"),
        ("first_name\nAnna\n", "no id column"),
        ("id,first_name,company,offer\n,Anna,,\n", "no recipient could get a link"),
    ],
)
def test_a_list_nothing_can_be_made_of_changes_nothing(
    publisher: Cockpit, text: str, said: str
) -> None:
    answer = publisher.post(PAGE, {"csrf": publisher.csrf(), "csv": text})
    assert answer.status_code == 400
    assert said.lower() in first(answer.text, "#purl-error").lower()
    assert publisher.get(PAGE + "/links.csv").status_code == 404


def test_only_campaigns_with_a_purl_section_have_links(publisher: Cockpit) -> None:
    assert publisher.get("/cockpit/campaigns/search-hero/purl").status_code == 404
