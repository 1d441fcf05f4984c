"""Users and roles: logging in by name (and with the shared password, as before), what each
role may do on every route (a matrix), what a viewer is shown, managing users, and sessions
that end when a user is removed or given a new password."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from opmaat_edge.cockpit import access
from opmaat_edge.cockpit.ledger import AuditEntry
from tests.edge.cockpit_helpers import (
    PASSWORD,
    ROLES,
    SHARED,
    Cockpit,
    add_users,
    demo_copy,
    first,
    ledger_of,
    logged_in,
    texts,
)
from tests.edge.conftest import MakeClient

# (method, path, the least role that may)
ROUTES = [
    ("GET", "/cockpit", "viewer"),
    ("GET", "/cockpit/drafts", "viewer"),
    ("GET", "/cockpit/versions", "viewer"),
    ("GET", "/cockpit/versions/1", "viewer"),
    ("GET", "/cockpit/audit", "viewer"),
    ("GET", "/cockpit/audit.jsonl", "viewer"),
    ("GET", "/cockpit/preview", "viewer"),
    ("GET", "/cockpit/campaigns/new", "editor"),
    ("GET", "/cockpit/campaigns/search-hero/edit", "editor"),
    ("POST", "/cockpit/campaigns/new", "editor"),
    ("POST", "/cockpit/campaigns/search-hero/edit", "editor"),
    ("POST", "/cockpit/campaigns/search-hero/archive", "editor"),
    ("POST", "/cockpit/drafts/search-hero/rebase", "editor"),
    ("POST", "/cockpit/drafts/search-hero/discard", "editor"),
    ("POST", "/cockpit/drafts/search-hero/publish", "publisher"),
    ("POST", "/cockpit/campaigns/search-hero/pause", "publisher"),
    ("POST", "/cockpit/campaigns/search-hero/resume", "publisher"),
    ("POST", "/cockpit/versions/1/restore", "publisher"),
    ("GET", "/cockpit/campaigns/spring-mailing/purl", "publisher"),
    ("POST", "/cockpit/campaigns/spring-mailing/purl", "publisher"),
    ("GET", "/cockpit/campaigns/spring-mailing/purl/links.csv", "publisher"),
    ("GET", "/cockpit/users", "admin"),
    ("POST", "/cockpit/users", "admin"),
    ("POST", "/cockpit/users/viewer-user", "admin"),
    ("POST", "/cockpit/users/nobody/remove", "admin"),
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    made = demo_copy(tmp_path)
    add_users(made, *ROLES)
    return made


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_its_role_allows(
    make_client: MakeClient, config: Path, role: str
) -> None:
    cockpit = logged_in(make_client, config, f"{role}-user")
    token = cockpit.csrf()
    cockpit.get("/cockpit/versions")  # the first version exists from here
    for method, path, least in ROUTES:
        if method == "GET":
            answer = cockpit.get(path)
        else:
            answer = cockpit.post(path, {"csrf": token, "revision": "0", "head": "1"})
        allowed = ROLES.index(role) >= ROLES.index(least)
        if allowed:
            assert answer.status_code not in (401, 403), (method, path, answer.status_code)
            assert answer.status_code < 500, (method, path, answer.text)
        else:
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert "Your role is " + role in answer.text, (method, path)


@pytest.mark.parametrize(("method", "path", "least"), ROUTES)
def test_without_the_csrf_token_or_a_session_nothing_changes(
    make_client: MakeClient, config: Path, method: str, path: str, least: str
) -> None:
    if method != "POST":
        return
    cockpit = logged_in(make_client, config, "admin-user")
    assert cockpit.post(path, {"csrf": "wrong"}).status_code == 403
    stranger = Cockpit(make_client(config, cockpit_password=SHARED))
    assert stranger.post(path, {"csrf": "anything"}).status_code == 401


def test_a_viewer_sees_no_edit_controls(make_client: MakeClient, config: Path) -> None:
    editor = logged_in(make_client, config, "editor-user")
    assert (
        editor.submit("/cockpit/campaigns/search-hero/edit", "save", priority="31").status_code
        == 303
    )
    viewer = logged_in(make_client, config, "viewer-user")
    page = viewer.get("/cockpit").text
    assert texts(page, "#new-campaign") == []
    assert texts(page, '[data-field="edit"] a[href$="/edit"]') == []
    assert texts(page, "#campaigns form button") == []  # no pause, no resume
    assert "Draft by editor-user" in first(page, '[data-draft="edit"]')
    assert texts(page, 'a[href="/cockpit/users"]') == []
    draft = viewer.get("/cockpit/drafts/search-hero").text
    assert texts(draft, "main form") == []
    assert '<pre class="diff">' in draft  # what it changes can be read
    version = viewer.get("/cockpit/versions/1").text
    assert texts(version, "#restore-button") == []
    admin = logged_in(make_client, config, "admin-user")
    assert texts(admin.get("/cockpit").text, "#new-campaign") == ["New campaign"]


def test_users_log_in_by_name_and_the_shared_password_still_works(
    make_client: MakeClient, config: Path
) -> None:
    client = make_client(config, cockpit_password=SHARED)
    cockpit = Cockpit(client)
    wrong = cockpit.login("editor-user", "not the password")
    assert wrong.status_code == 401
    assert "Wrong user name or password." in wrong.text
    assert cockpit.login("nobody", PASSWORD).status_code == 401
    assert cockpit.login("editor-user", PASSWORD).status_code == 303
    assert first(cockpit.get("/cockpit").text, ".who") == "editor-user · editor"
    shared = Cockpit(make_client(config, cockpit_password=SHARED))
    assert shared.login("", SHARED).status_code == 303
    assert first(shared.get("/cockpit").text, ".who") == "admin (shared password) · admin"
    named = Cockpit(make_client(config, cockpit_password=SHARED))
    assert named.login("admin", SHARED).status_code == 303


def test_with_users_only_the_cockpit_is_on_and_wants_a_name(
    make_client: MakeClient, config: Path
) -> None:
    cockpit = Cockpit(make_client(config))
    assert cockpit.get("/cockpit/login").status_code == 200
    answer = cockpit.login("", PASSWORD)
    assert answer.status_code == 400
    assert "Please type your user name." in answer.text
    assert cockpit.login("viewer-user", PASSWORD).status_code == 303


def test_without_users_or_password_the_cockpit_is_off(
    make_client: MakeClient, tmp_path: Path
) -> None:
    cockpit = Cockpit(make_client(demo_copy(tmp_path)))
    assert cockpit.get("/cockpit/login").status_code == 404


def test_admins_manage_users_and_every_change_is_audited(
    make_client: MakeClient, config: Path
) -> None:
    admin = logged_in(make_client, config, "admin-user")
    token = admin.csrf()
    for name, password, said in (
        ("Bad Name!", "long enough", "a user name is"),
        ("anna", "short", "8 to"),
        ("editor-user", "long enough", "already a user"),
        ("admin", "long enough", "shared password's name"),
    ):
        answer = admin.post(
            "/cockpit/users", {"csrf": token, "name": name, "role": "editor", "password": password}
        )
        assert answer.status_code == 400
        assert said in first(answer.text, "#add-user .field-error")
    added = admin.post(
        "/cockpit/users",
        {"csrf": token, "name": "Anna", "role": "editor", "password": "anna's password"},
    )
    assert added.status_code == 303
    anna = Cockpit(make_client(config, cockpit_password=SHARED))
    assert anna.login("anna", "anna's password").status_code == 303
    assert anna.get("/cockpit/campaigns/new").status_code == 200
    made_viewer = admin.post("/cockpit/users/anna", {"csrf": token, "role": "viewer"})
    assert made_viewer.status_code == 303
    anna.client.app.state.cockpit.forget_users()  # type: ignore[attr-defined]
    assert anna.get("/cockpit/campaigns/new").status_code == 403
    new_password = admin.post("/cockpit/users/anna", {"csrf": token, "password": "a new one!"})
    assert new_password.status_code == 303
    anna.client.app.state.cockpit.forget_users()  # type: ignore[attr-defined]
    assert anna.get("/cockpit").status_code == 303  # the old session ended: to the login
    assert anna.login("anna", "a new one!").status_code == 303
    assert admin.post("/cockpit/users/anna/remove", {"csrf": token}).status_code == 303
    anna.client.app.state.cockpit.forget_users()  # type: ignore[attr-defined]
    assert anna.get("/cockpit/drafts").status_code == 401
    yourself = admin.post("/cockpit/users/admin-user/remove", {"csrf": token})
    assert yourself.status_code == 400
    actions = [e.action for e in _entries(config)]
    assert actions[:4] == ["user remove", "login", "user password", "user role"]


def _entries(config: Path) -> list[AuditEntry]:
    return asyncio.run(ledger_of(config).audit_entries(None, 50))


def test_a_role_change_reaches_the_other_nodes_within_seconds(
    make_client: MakeClient, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access, "USERS_SECONDS", 0.2)
    editor = logged_in(make_client, config, "editor-user")
    assert editor.get("/cockpit/campaigns/new").status_code == 200
    admin = logged_in(make_client, config, "admin-user")
    assert (
        admin.post(
            "/cockpit/users/editor-user", {"csrf": admin.csrf(), "role": "viewer"}
        ).status_code
        == 303
    )
    time.sleep(0.3)
    assert editor.get("/cockpit/campaigns/new").status_code == 403


def test_in_the_demo_editor_publisher_and_viewer_log_in_with_the_shared_password(
    make_client: MakeClient, config: Path
) -> None:
    for role in ("editor", "publisher", "viewer"):
        cockpit = Cockpit(make_client(config, cockpit_password=SHARED))
        assert cockpit.login(role, SHARED).status_code == 303
        assert first(cockpit.get("/cockpit").text, ".who") == f"{role} · {role}"
    elsewhere = Cockpit(make_client(config, cockpit_password=SHARED, demo=False))
    assert elsewhere.login("viewer", SHARED).status_code == 401
