"""Making, changing and publishing campaigns in the cockpit over HTTP: the editor's form and
audience builder, drafts, publishing exactly as `opmaat check` allows, conflicts with the file
and between editors, versions and restoring them, duplicates and archiving, escaping, and no
5xx for visitors while a publish lands."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from selectolax.lexbor import LexborHTMLParser
from starlette.testclient import TestClient

from opmaat_edge.cockpit.preview import AGENTS
from opmaat_edge.cockpit.review import check_text
from opmaat_edge.cockpit.yaml_edit import campaign_specs, find_spec
from tests.edge.cockpit_helpers import (
    Cockpit,
    add_users,
    demo_copy,
    first,
    form_fields,
    logged_in,
    replaced,
    texts,
)
from tests.edge.conftest import MakeClient

BERLIN = "192.0.2.10"  # the demo's geo database puts it in Berlin
NEW = "/cockpit/campaigns/new"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    made = demo_copy(tmp_path)
    add_users(made, "viewer", "editor", "publisher", "admin")
    return made


@pytest.fixture
def editor(make_client: MakeClient, config: Path) -> Cockpit:
    return logged_in(make_client, config, "editor-user")


def running(cockpit: Cockpit) -> Any:
    return cockpit.client.app.state.edge.runtime.current  # type: ignore[attr-defined]


def build_germany_phone_newsletter(cockpit: Cockpit) -> httpx.Response:
    """The editor builds "visitors from Germany on a phone who came from the newsletter" with
    a variant that greets their city, as a marketer clicks through the form."""
    page = cockpit.get(NEW)
    assert page.status_code == 200
    steps: list[tuple[str, dict[str, Any]]] = [
        ("add-rule:a", {}),
        ("refresh", {"a__0__attr": "geo.country"}),
        ("add-rule:a", {"a__0__v__0": "DE"}),
        ("refresh", {"a__1__attr": "device.type"}),
        ("add-rule:a", {"a__1__v__0": "mobile"}),
        ("refresh", {"a__2__attr": "utm.source"}),
    ]
    for act, changes in steps:
        page = cockpit.press(NEW, page.text, act, **changes)
        assert page.status_code == 200, page.text
    return cockpit.press(
        NEW,
        page.text,
        "sample",
        a__2__v__0="newsletter",
        id="germany-phone",
        name="Germany, phone, newsletter",
        label="A hello from us",
        slots="hero",
        priority="60",
        variant__0__html="<h2>Hallo {{ geo.city }}!</h2>",
        p_sample="Berlin, on a phone, from the newsletter",
    )


def decide_in_berlin(cockpit: Cockpit) -> Any:
    answer = cockpit.client.post(
        "/v1/decide",
        json={"slots": ["hero"], "url": "http://127.0.0.1/?utm_source=newsletter"},
        headers={"user-agent": AGENTS["mobile"], "x-forwarded-for": BERLIN},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["slots"]["hero"]


def test_an_editor_builds_a_campaign_and_a_publisher_publishes_it(
    make_client: MakeClient, config: Path, editor: Cockpit
) -> None:
    page = build_germany_phone_newsletter(editor)
    assert page.status_code == 200
    assert first(page.text, "#audience-words") == (
        "country is DE and device is mobile and UTM source is newsletter"
    )
    assert "no problem" in first(page.text, "#check-result")
    winner = texts(page.text, "#preview-results tr.winner td")
    assert winner[0] == "hero"
    assert "germany-phone" in winner[1]
    assert winner[2] == "a"
    assert winner[3]  # the reason the visitor reads
    assert winner[4].startswith("Hallo Berlin!")
    saved = editor.press(NEW, page.text, "save")
    assert saved.status_code == 303
    assert saved.headers["location"] == "/cockpit/drafts/germany-phone?saved=1"
    assert find_spec(config.read_text(), "germany-phone") is None  # a draft only
    draft = editor.get("/cockpit/drafts/germany-phone")
    assert "germany-phone" in first(draft.text, "pre.diff")
    assert texts(draft.text, "#publish") == []  # an editor cannot publish
    refused = editor.post(
        "/cockpit/drafts/germany-phone/publish", {"csrf": editor.csrf(), "revision": "1"}
    )
    assert refused.status_code == 403

    publisher = logged_in(make_client, config, "publisher-user")
    page = publisher.get("/cockpit/drafts/germany-phone")
    form = form_fields(page.text, 'form[action="/cockpit/drafts/germany-phone/publish"]')
    published = publisher.post("/cockpit/drafts/germany-phone/publish", form)
    assert published.status_code == 303
    spec = find_spec(config.read_text(), "germany-phone")
    assert spec is not None
    assert spec["audience"] == {
        "geo.country": "DE",
        "device.type": "mobile",
        "utm.source": "newsletter",
    }
    assert spec["variants"] == [{"key": "a", "html": "<h2>Hallo {{ geo.city }}!</h2>"}]
    assert running(publisher).engine.campaign("germany-phone") is not None
    hero = decide_in_berlin(publisher)
    assert hero["campaign"] == "germany-phone"
    assert hero["html"] == "<h2>Hallo Berlin!</h2>"
    version = publisher.get(published.headers["location"])
    assert "Published as version 2" in first(version.text, "#published")
    assert publisher.get("/cockpit/drafts/germany-phone").status_code == 404


def test_errors_appear_beside_the_field_with_their_line(editor: Cockpit) -> None:
    path = "/cockpit/campaigns/search-hero/edit"
    page = editor.submit(path, "check", variant__0__html="<p>{% if referrer.term %}</p>")
    assert page.status_code == 200
    said = texts(page.text, '[data-variant="0"] [data-problem="error"]')
    assert len(said) == 1
    assert said[0].startswith("Line ")
    assert "template syntax error" in said[0]
    assert "cannot be published" in first(page.text, "#check-result")


def test_nothing_that_opmaat_check_refuses_is_published(
    make_client: MakeClient, config: Path, editor: Cockpit
) -> None:
    before = config.read_text()
    saved = editor.submit(
        "/cockpit/campaigns/search-hero/edit", "save", variant__0__html="{{ utm.source }}"
    )
    assert saved.status_code == 303  # a draft may hold problems
    publisher = logged_in(make_client, config, "publisher-user")
    draft = publisher.get("/cockpit/drafts/search-hero")
    assert "utm" in first(draft.text, "#check-errors")
    assert texts(draft.text, "#publish") == []
    answer = publisher.post(
        "/cockpit/drafts/search-hero/publish", {"csrf": publisher.csrf(), "revision": "1"}
    )
    assert answer.status_code == 422
    assert config.read_text() == before


def test_two_editors_saving_the_same_campaign_get_a_conflict(
    make_client: MakeClient, config: Path, editor: Cockpit
) -> None:
    other = logged_in(make_client, config, "admin-user")
    path = "/cockpit/campaigns/amsterdam-hero/edit"
    mine, theirs = editor.get(path), other.get(path)
    first_save = other.press(path, theirs.text, "save", name="Their name")
    assert first_save.status_code == 303
    second = editor.press(path, mine.text, "save", name="My name")
    assert second.status_code == 409
    assert "admin-user saved this draft meanwhile" in first(second.text, "#note")
    assert "Their name" in first(second.text, "#their-draft")
    assert form_fields(second.text, "form#editor").count(("name", "My name")) == 1
    # Saving again, knowingly, puts mine over theirs.
    again = editor.press(path, second.text, "save")
    assert again.status_code == 303
    draft = editor.get("/cockpit/drafts/amsterdam-hero")
    assert "My name" in draft.text


def edit_file(config: Path, cockpit: Cockpit, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))
    cockpit.client.app.state.edge.runtime.reload()  # type: ignore[attr-defined]


def test_a_field_changed_in_the_file_and_the_draft_is_a_conflict_never_a_lost_edit(
    make_client: MakeClient, config: Path, editor: Cockpit
) -> None:
    path = "/cockpit/campaigns/amsterdam-hero/edit"
    assert editor.submit(path, "save", priority="21").status_code == 303
    edit_file(config, editor, "    priority: 20\n", "    priority: 25\n")
    publisher = logged_in(make_client, config, "publisher-user")
    draft = publisher.get("/cockpit/drafts/amsterdam-hero")
    assert texts(draft.text, "#conflict tr[data-field] td")[:4] == ["priority", "20", "25", "21"]
    answer = publisher.post(
        "/cockpit/drafts/amsterdam-hero/publish", {"csrf": publisher.csrf(), "revision": "1"}
    )
    assert answer.status_code == 409
    assert "    priority: 25\n" in config.read_text()  # the file's edit stays
    # The editor takes the file's value in; the draft's other changes would stay.
    rebased = editor.post(
        "/cockpit/drafts/amsterdam-hero/rebase", {"csrf": editor.csrf(), "revision": "1"}
    )
    assert rebased.status_code == 303
    assert texts(editor.get("/cockpit/drafts/amsterdam-hero").text, "#conflict") == []


def test_different_fields_changed_in_the_file_and_the_draft_are_both_kept(
    make_client: MakeClient, config: Path, editor: Cockpit
) -> None:
    path = "/cockpit/campaigns/amsterdam-hero/edit"
    assert editor.submit(path, "save", name="Dutch visitors").status_code == 303
    edit_file(config, editor, "    priority: 20\n", "    priority: 25\n")
    publisher = logged_in(make_client, config, "publisher-user")
    answer = publisher.post(
        "/cockpit/drafts/amsterdam-hero/publish", {"csrf": publisher.csrf(), "revision": "1"}
    )
    assert answer.status_code == 303
    spec = find_spec(config.read_text(), "amsterdam-hero")
    assert spec is not None
    assert (spec["name"], spec["priority"]) == ("Dutch visitors", 25)
    versions = texts(publisher.get("/cockpit/versions").text, "#versions tr[data-version]")
    assert "(the file)changed outside the cockpit: changed amsterdam-hero (priority)" in versions[1]


def test_a_file_on_disk_that_does_not_load_is_never_overwritten(
    make_client: MakeClient, config: Path, editor: Cockpit
) -> None:
    assert (
        editor.submit("/cockpit/campaigns/amsterdam-hero/edit", "save", name="Dutch").status_code
        == 303
    )
    publisher = logged_in(make_client, config, "publisher-user")
    edit_file(config, editor, "    priority: 20\n", "    priority: twenty\n")
    broken = config.read_text()
    answer = publisher.post(
        "/cockpit/drafts/amsterdam-hero/publish", {"csrf": publisher.csrf(), "revision": "1"}
    )
    assert answer.status_code == 409
    assert "on disk was changed" in first(answer.text, "#problem")
    assert config.read_text() == broken


def test_every_publish_is_a_version_and_any_version_comes_back_exactly(
    make_client: MakeClient, config: Path
) -> None:
    original = config.read_text()
    publisher = logged_in(make_client, config, "publisher-user")
    for priority in ("21", "22"):
        saved = publisher.submit(
            "/cockpit/campaigns/amsterdam-hero/edit", "save", priority=priority
        )
        assert saved.status_code == 303
        draft = publisher.get("/cockpit/drafts/amsterdam-hero")
        form = form_fields(draft.text, 'form[action="/cockpit/drafts/amsterdam-hero/publish"]')
        assert publisher.post("/cockpit/drafts/amsterdam-hero/publish", form).status_code == 303
    listed = texts(publisher.get("/cockpit/versions").text, "#versions tr[data-version]")
    assert len(listed) == 3
    assert listed[0].startswith("3running")
    assert "publisher-user" in listed[0]
    assert "changed amsterdam-hero (priority)" in listed[0]
    one = publisher.get("/cockpit/versions/1")
    assert texts(one.text, '#restore tr[data-field="priority"] td') == ["priority", "22", "20"]
    stale = publisher.post("/cockpit/versions/1/restore", {"csrf": publisher.csrf(), "head": "2"})
    assert stale.status_code == 409
    form = form_fields(one.text, 'form[action="/cockpit/versions/1/restore"]')
    restored = publisher.post("/cockpit/versions/1/restore", form)
    assert restored.status_code == 303
    assert restored.headers["location"] == "/cockpit/versions/4?published=1"
    assert config.read_text() == original  # byte for byte
    assert "restored version 1" in publisher.get("/cockpit/versions/4").text
    assert running(publisher).engine.campaign("amsterdam-hero").priority == 20


def test_duplicate_archive_and_bring_back(
    make_client: MakeClient, config: Path, editor: Cockpit
) -> None:
    page = editor.get("/cockpit/campaigns/new?from=search-hero")
    fields = dict(form_fields(page.text, "form#editor"))
    assert (fields["id"], fields["after"]) == ("search-hero-copy", "search-hero")
    assert fields["name"] == "Copy of Visitors from a search engine"
    assert editor.press(NEW, page.text, "save").status_code == 303
    archived = editor.post(
        "/cockpit/campaigns/mobile-sidebar/archive", {"csrf": editor.csrf(), "revision": "0"}
    )
    assert archived.status_code == 303
    publisher = logged_in(make_client, config, "publisher-user")
    for campaign in ("search-hero-copy", "mobile-sidebar"):
        answer = publisher.post(
            f"/cockpit/drafts/{campaign}/publish", {"csrf": publisher.csrf(), "revision": "1"}
        )
        assert answer.status_code == 303, answer.text
    ids = [c["id"] for c in campaign_specs(config.read_text())]
    assert ids[ids.index("search-hero") + 1] == "search-hero-copy"
    assert "mobile-sidebar" not in ids
    drafts = editor.get("/cockpit/drafts")
    assert "mobile-sidebar" in first(drafts.text, '[data-archived="mobile-sidebar"]')
    back = editor.get("/cockpit/campaigns/new?archived=mobile-sidebar")
    assert dict(form_fields(back.text, "form#editor"))["id"] == "mobile-sidebar"


def test_names_contents_and_conditions_are_escaped_everywhere(
    make_client: MakeClient, config: Path, editor: Cockpit
) -> None:
    evil = '<script>alert("x")</script>'
    page = editor.submit(
        "/cockpit/campaigns/search-hero/edit",
        "check",
        name=evil,
        a__0__v__0='"><img src=x onerror=alert(1)>',
    )
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    saved = editor.press("/cockpit/campaigns/search-hero/edit", page.text, "save")
    assert saved.status_code == 303
    for path in ("/cockpit/drafts/search-hero", "/cockpit/drafts", "/cockpit", "/cockpit/audit"):
        shown = editor.get(path).text
        assert "<script>alert" not in shown, path
        assert "<img src=x" not in shown, path


def test_a_publish_during_traffic_gives_no_5xx(make_client: MakeClient, config: Path) -> None:
    publisher = logged_in(make_client, config, "publisher-user")
    statuses: list[int] = []
    stop = threading.Event()

    def visitors() -> None:
        while not stop.is_set():
            answer = publisher.client.post(
                "/v1/decide",
                json={"slots": ["hero", "sidebar"], "url": "http://127.0.0.1/"},
                headers={"user-agent": AGENTS["desktop"]},
            )
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=visitors) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for priority in ("21", "22", "23"):
            publisher.submit("/cockpit/campaigns/amsterdam-hero/edit", "save", priority=priority)
            answer = publisher.post(
                "/cockpit/drafts/amsterdam-hero/publish",
                replaced(
                    form_fields(
                        publisher.get("/cockpit/drafts/amsterdam-hero").text,
                        'form[action="/cockpit/drafts/amsterdam-hero/publish"]',
                    )
                ),
            )
            assert answer.status_code == 303
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert statuses
    assert all(status < 500 for status in statuses), sorted(set(statuses))


def test_every_change_is_in_the_audit_log_with_an_address_of_its_own(
    make_client: MakeClient, config: Path
) -> None:
    publisher = logged_in(make_client, config, "publisher-user")
    token = publisher.csrf()
    assert (
        publisher.post("/cockpit/campaigns/search-hero/pause", {"csrf": token}).status_code == 303
    )
    assert (
        publisher.post("/cockpit/campaigns/search-hero/resume", {"csrf": token}).status_code == 303
    )
    page = publisher.get("/cockpit/audit")
    rows = LexborHTMLParser(page.text).css("#audit tr[data-entry]")
    actions = [row.attributes["data-action"] for row in rows]
    assert actions == ["resume", "pause", "login"]
    entry = publisher.get("/cockpit/audit/1")
    assert "logged in from" in entry.text
    lines = publisher.get("/cockpit/audit.jsonl")
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    assert [line.count('"action"') for line in lines.text.splitlines()] == [1, 1, 1]
    assert publisher.get("/cockpit/audit/999").status_code == 404


def test_the_estimate_counts_the_store_s_recent_visitors(editor: Cockpit) -> None:
    for n in range(5):
        source = "?utm_source=newsletter" if n < 3 else ""
        visitor = TestClient(editor.client.app, base_url="http://127.0.0.1")  # a new browser
        answer = visitor.post(
            "/v1/decide",
            json={"slots": ["hero"], "url": f"http://127.0.0.1/{source}"},
            headers={"user-agent": AGENTS["desktop"]},
        )
        assert answer.status_code == 200
    page = editor.submit(
        "/cockpit/campaigns/search-hero/edit",
        "check",
        a__0__attr="utm.source",
        a__0__op__0="is",
        a__0__v__0="newsletter",
    )
    assert first(page.text, "#reach") == (
        "3 of 5 stored visitors seen in the last 30 days match (60%)."
    )
    page = editor.press(
        "/cockpit/campaigns/search-hero/edit",
        page.text,
        "check",
        a__0__attr="geo.country",
        a__0__v__0="DE",
    )
    assert first(page.text, "#reach").startswith("0 of 5 stored visitors")
    assert "5 more may, depending on where they are" in first(page.text, "#reach")


def test_a_draft_that_cannot_be_checked_beside_the_file_is_said(tmp_path: Path) -> None:
    checked = check_text(tmp_path / "gone" / "campaigns.yaml", "campaigns: []\n")
    assert not checked.ok
    assert "cannot write beside the campaign file" in checked.errors[0].message
