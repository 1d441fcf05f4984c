"""Cockpit sessions live in the profile store: a logout is final, a restart of the memory store
ends them, and a store that cannot be reached lets nobody in."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from opmaat.store import MemoryStore
from tests.edge.conftest import MakeClient
from tests.edge.test_cockpit import PASSWORD, csrf, login, login_token, section

COOKIE = "opmaat_cockpit"


@pytest.fixture
def cockpit(make_client: MakeClient) -> TestClient:
    return make_client(cockpit_password=PASSWORD)


def store_of(client: TestClient) -> MemoryStore:
    store: MemoryStore = client.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    return store


def session_id(client: TestClient) -> str:
    found = client.app.state.cockpit.sessions.check(client.cookies.get(COOKIE))  # type: ignore[attr-defined]
    assert isinstance(found, str)
    return found


def kept(client: TestClient, session: str) -> str | None:
    name = "cockpit-session:" + hashlib.sha256(session.encode()).hexdigest()
    value: str | None = client.portal.call(store_of(client).get_expiring, name)  # type: ignore[union-attr]
    return value


def logged_in(client: TestClient) -> bool:
    return client.get("/cockpit", follow_redirects=False).status_code == 200


def with_cookie(client: TestClient, cookie: str) -> TestClient:
    client.cookies.set(COOKIE, cookie, path="/cockpit")
    return client


def test_a_session_is_kept_in_the_store_and_a_logout_deletes_it(cockpit: TestClient) -> None:
    assert login(cockpit) == 303
    session = session_id(cockpit)
    assert kept(cockpit, session) == "live"
    assert session not in str(store_of(cockpit)._expiring.items())  # only its hash
    copied = cockpit.cookies.get(COOKIE)
    assert copied
    assert cockpit.post("/cockpit/logout", data={"csrf": csrf(cockpit)}).status_code == 200
    assert kept(cockpit, session) is None
    assert not logged_in(with_cookie(cockpit, copied))


def test_a_session_the_store_no_longer_keeps_is_over_at_once(cockpit: TestClient) -> None:
    # What another node's logout, or the session's time running out in the store, looks like.
    login(cockpit)
    token = csrf(cockpit)
    name = "cockpit-session:" + hashlib.sha256(session_id(cockpit).encode()).hexdigest()
    assert cockpit.portal.call(store_of(cockpit).delete_expiring, name)  # type: ignore[union-attr]
    assert not logged_in(cockpit)
    answer = cockpit.post("/cockpit/campaigns/search-hero/pause", data={"csrf": token})
    assert answer.status_code == 401


@pytest.mark.parametrize("log_out_first", [True, False])
def test_a_restart_of_the_memory_store_ends_every_session(
    make_client: MakeClient, log_out_first: bool
) -> None:
    before = make_client(cockpit_password=PASSWORD)
    login(before)
    cookie = before.cookies.get(COOKIE)
    assert cookie
    if log_out_first:
        before.post("/cockpit/logout", data={"csrf": csrf(before)})
    after = make_client(cockpit_password=PASSWORD)  # the same keys, a new process
    assert not logged_in(with_cookie(after, cookie))


class Down:
    """Stands in for a store call that cannot reach the store."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, *args: Any) -> Any:
        self.calls += 1
        raise ConnectionError("redis: TimeoutError")


def assert_unavailable(answer: Any) -> None:
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "30"
    assert "cannot reach its store" in answer.text
    assert "no-store" in answer.headers["cache-control"]
    assert "search-hero" not in answer.text


def test_with_the_store_down_nobody_gets_in_and_nothing_changes(
    cockpit: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    login(cockpit)
    token = csrf(cockpit)
    store = store_of(cockpit)
    down = Down()
    monkeypatch.setattr(store, "get_expiring", down)
    with caplog.at_level(logging.ERROR):
        for method, path, data in [
            ("GET", "/cockpit", None),
            ("GET", "/cockpit/preview?country=NL", None),
            ("POST", "/cockpit/campaigns/search-hero/pause", {"csrf": token}),
            ("POST", "/cockpit/logout", {"csrf": token}),
        ]:
            assert_unavailable(cockpit.request(method, path, data=data, follow_redirects=False))
    assert down.calls == 4
    assert "the store failed" in caplog.text
    assert all(record.exc_info is None for record in caplog.records)  # no traceback
    assert PASSWORD not in caplog.text
    monkeypatch.undo()
    assert 'data-status="running"' in section(cockpit.get("/cockpit").text, "search-hero")


def test_without_a_session_cookie_the_store_is_not_asked(
    cockpit: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = Down()
    monkeypatch.setattr(store_of(cockpit), "get_expiring", down)
    assert cockpit.get("/cockpit", follow_redirects=False).status_code == 303
    with_cookie(cockpit, "eyJ.forged.value")
    assert cockpit.get("/cockpit/preview", follow_redirects=False).status_code == 401
    assert down.calls == 0


def test_a_login_the_store_cannot_keep_is_refused(
    cockpit: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_of(cockpit), "put_expiring", Down())
    answer = cockpit.post(
        "/cockpit/login",
        data={"token": login_token(cockpit), "password": PASSWORD},
        follow_redirects=False,
    )
    assert_unavailable(answer)
    assert COOKIE not in answer.cookies
    monkeypatch.undo()
    assert not logged_in(cockpit)
    assert login(cockpit) == 303  # the right password did not count as a failure


def test_a_logout_the_store_cannot_keep_keeps_the_session(
    cockpit: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(cockpit)
    monkeypatch.setattr(store_of(cockpit), "delete_expiring", Down())
    assert_unavailable(cockpit.post("/cockpit/logout", data={"csrf": csrf(cockpit)}))
    monkeypatch.undo()
    assert logged_in(cockpit)  # so the logout can be tried again, and this time it works
    cockpit.post("/cockpit/logout", data={"csrf": csrf(cockpit)})
    assert not logged_in(cockpit)
