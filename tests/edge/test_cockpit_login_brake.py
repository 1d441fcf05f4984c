"""The cockpit's login brake over HTTP: junk counts nowhere, one address cannot lock out
the others, and many addresses guessing still make new addresses wait."""

from __future__ import annotations

import asyncio
import re

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from tests.edge.conftest import MakeClient
from tests.edge.test_cockpit import PASSWORD, login, login_token


@pytest.fixture
def cockpit(make_client: MakeClient) -> TestClient:
    return make_client(cockpit_password=PASSWORD)


def at(cockpit: TestClient, address: str) -> TestClient:
    """A browser at ``address`` on the same edge."""
    return TestClient(cockpit.app, client=(address, 50000), base_url="http://127.0.0.1")


def test_junk_posts_count_nowhere(cockpit: TestClient) -> None:
    async def fresh_token(sender: httpx.AsyncClient) -> str:
        found = re.search(
            r'name="token" value="([^"]+)"', (await sender.get("/cockpit/login")).text
        )
        assert found is not None
        return found.group(1)

    async def junk(sender: httpx.AsyncClient, kind: int) -> int:
        url = "/cockpit/login"
        if kind == 0:  # no token
            answer = await sender.post(url, data={"password": PASSWORD + "?"})
        elif kind == 1:  # a token we never made
            answer = await sender.post(url, data={"token": "forged", "password": "x"})
        elif kind == 2:  # the form's own token, but no password
            answer = await sender.post(url, data={"token": await fresh_token(sender)})
        elif kind == 3:
            answer = await sender.post(
                url, data={"token": await fresh_token(sender), "password": ""}
            )
        else:  # not a form at all
            answer = await sender.post(url, content=b'{"password": "x"}')
        return answer.status_code

    async def thousand() -> list[int]:
        # In one event loop (a TestClient request costs ten times as much).
        senders = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(cockpit.app, client=(f"198.51.100.{i}", 5000)),
                base_url="http://127.0.0.1",
            )
            for i in range(50)
        ]
        try:
            return [await junk(senders[n % 50], n % 5) for n in range(1000)]
        finally:
            for sender in senders:
                await sender.aclose()

    answers = asyncio.run(thousand())
    assert answers.count(403) == 400
    assert answers.count(400) == 400  # "Please type the password."
    assert answers.count(415) == 200
    # Neither the site nor one of the senders waits: the right password still gets in.
    assert login(at(cockpit, "203.0.113.9")) == 303
    assert login(at(cockpit, "198.51.100.7")) == 303


def test_an_empty_password_is_not_an_attempt(cockpit: TestClient) -> None:
    answer = cockpit.post("/cockpit/login", data={"token": login_token(cockpit), "password": ""})
    assert answer.status_code == 400
    assert "type the password" in answer.text
    assert 'name="token"' in answer.text  # the form again, with a fresh token
    for attempt in range(4):
        assert login(cockpit, f"guess {attempt}") == 401
    assert login(cockpit) == 303  # four wrong ones: the fifth would have been the brake


def test_one_address_guessing_waits_alone(cockpit: TestClient) -> None:
    guesser = at(cockpit, "198.51.100.66")
    statuses = [login(guesser, f"guess {n}") for n in range(80)]
    assert statuses.count(401) == 5
    assert statuses.count(429) == 75
    assert login(guesser) == 429  # even the right password waits, there
    assert login(at(cockpit, "203.0.113.9")) == 303


def test_many_addresses_guessing_hold_up_new_addresses_but_not_known_ones(
    cockpit: TestClient,
) -> None:
    marketer = at(cockpit, "192.0.2.10")
    assert login(marketer) == 303  # logged in from here before: known
    for i in range(61):
        assert login(at(cockpit, f"198.51.100.{i}"), "a guess") == 401
    # More than 60 wrong passwords in a minute: a new address waits, even with the right one.
    newcomer = at(cockpit, "203.0.113.9")
    answer = newcomer.post(
        "/cockpit/login", data={"token": login_token(newcomer), "password": PASSWORD}
    )
    assert answer.status_code == 429
    assert 0 < int(answer.headers["retry-after"]) <= 60
    assert login(at(cockpit, "198.51.100.200"), "one more guess") == 429
    # The address that logged in before is not held up.
    assert login(at(cockpit, "192.0.2.10")) == 303
