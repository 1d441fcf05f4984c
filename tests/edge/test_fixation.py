"""Cookie fixation: a visitor id planted in the browser (a second cookie from a sibling
subdomain, a cookie set before the visitor arrived) must not follow them into a login or a
higher consent tier, where whoever planted it could read their profile."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from opmaat.consent import CONSENT_COOKIE
from opmaat.identity import COOKIE_NAME
from tests.edge.test_consent import decide, linking, set_cookie_header, store_of


def visitor_id(client: TestClient, cookie: str | None = None) -> str | None:
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}"} if cookie else {}
    found = client.get("/v1/me", headers=headers).json()["visitor"]["id"]
    return found if isinstance(found, str) else None


def cookie_value(r: object) -> str:
    header = set_cookie_header(r, COOKIE_NAME)
    assert header is not None
    return header.split(";", 1)[0].split("=", 1)[1]


def test_of_two_visitor_cookies_the_first_counts(client: TestClient) -> None:
    own = cookie_value(decide(client))
    client.cookies.clear()
    planted = cookie_value(decide(client))
    client.cookies.clear()
    mine = visitor_id(client, own)
    assert mine is not None
    assert mine != visitor_id(client, planted)
    both = {"Cookie": f"{COOKIE_NAME}={own}; {COOKIE_NAME}={planted}"}
    assert client.get("/v1/me", headers=both).json()["visitor"]["id"] == mine


def test_identify_gives_the_visitor_a_new_id_and_empties_the_old_one(
    client: TestClient,
) -> None:
    planted = cookie_value(decide(client))  # the attacker's own, placed in the victim's browser
    before = visitor_id(client)
    r = client.post("/v1/identify", content=linking(client, "alice@example.com"))
    assert r.json() == {"linked": True}
    rotated = cookie_value(r)
    assert rotated != planted
    after = visitor_id(client)
    assert after is not None
    assert after != before
    me = client.get("/v1/me").json()
    assert me["customer"] == {"id": "alice@example.com"}
    assert me["session"]["pageviews"] == 1  # the profile moved along
    client.cookies.clear()
    theirs = client.get("/v1/me", headers={"Cookie": f"{COOKIE_NAME}={planted}"}).json()
    assert theirs["customer"] == {}
    assert theirs["stored"] == {}
    # Linking the same customer again keeps the id (no churn on every logged-in page).
    client.cookies.set(COOKIE_NAME, rotated)
    again = client.post("/v1/identify", content=linking(client, "alice@example.com"))
    assert again.json() == {"linked": True}
    assert visitor_id(client) == after


def test_a_consent_upgrade_gives_the_visitor_a_new_id(client: TestClient) -> None:
    client.cookies.set(CONSENT_COOKIE, "session")
    planted = cookie_value(decide(client))
    before = visitor_id(client)
    r = client.post("/v1/consent", content=json.dumps({"tier": "full"}))
    assert r.status_code == 200, r.text
    assert cookie_value(r) != planted
    assert visitor_id(client) not in (None, before)
    assert client.get("/v1/me").json()["session"]["pageviews"] == 1


def test_erasure_reaches_the_events_of_the_ids_a_profile_had(client: TestClient) -> None:
    decide(client)
    old = visitor_id(client)
    click = {"type": "goal", "name": "newsletter_signup"}
    assert client.post("/v1/events", content=json.dumps(click)).status_code in (200, 400)
    client.post("/v1/identify", content=linking(client, "C-1"))
    assert client.delete("/v1/me").status_code == 200
    assert not [e for e in store_of(client).events if e.get("visitor") == old]
