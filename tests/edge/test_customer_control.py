"""The customer in control, over HTTP: favourites and ratings from the page, the site's own
preference fields, channels and moments on /me and through /v1/me, a server decision that
obeys them and says why, what each channel decided, and export and delete of all of it.

Each test runs on a small campaign file (``CONFIG``) with its offers file, so expectations are
exact; server calls carry no cookie, so they know the visitor only through the customer link.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from opmaat.channels import customer_visitor_id
from opmaat_edge.cockpit.campaign_list import held_back_counts
from tests.edge.conftest import KEYS, MakeClient
from tests.edge.test_server_api import AUTH, KEY, no_cookies, record, state, store

PAGE = "http://127.0.0.1/"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CONFIG = """\
site: {consent_default: full}
preferences:
  fields:
    size: {label: Size, values: [41, 42, 43], column: sizes}
    budget: {label: Budget, type: number, min: 0, max: 500, column: price}
  offers: offers.csv
slots:
  hero: {default: "<p>hero</p>"}
  mail: {default: "<p>mail</p>"}
  picks: {default: ""}
campaigns:
  - id: mail-offer
    label: Our mail offer
    slot: mail
    channels: [email, app, web]
    variants: [{key: a, html: "<b>offer</b>"}]
  - id: welcome
    label: A welcome
    slot: hero
    variants: [{key: a, html: "<b>hi</b>"}]
  - id: picked
    label: Picked for you
    slot: picks
    audience: {prefs.size: {$exists: true}}
    variants:
      - key: a
        html: "{% for item in offers[:3] %}<li>{{ item.name }}: {{ item.reason }}</li>{% endfor %}"
"""
OFFERS = """id,name,url,price,category,sizes
shoe-a,Shoe A,/p/shoe-a,100,running,41|42
shoe-b,Shoe B,/p/shoe-b,90,running,43
shoe-c,Shoe C,/p/shoe-c,300,running,42
tent,Tent,/p/tent,150,outdoor,
"""


@pytest.fixture
def edge(make_client: MakeClient, tmp_path: Path) -> TestClient:
    (tmp_path / "campaigns.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "offers.csv").write_text(OFFERS, encoding="utf-8")
    return make_client(tmp_path / "campaigns.yaml", demo=False, api_keys=(KEY,))


def web_decide(client: TestClient, slots: list[str]) -> dict[str, Any]:
    r = client.post("/v1/decide", content=json.dumps({"slots": slots, "url": PAGE}))
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()["slots"]
    return answer


def goal(client: TestClient, name: str, props: Any) -> httpx.Response:
    body = {"type": "goal", "name": name, "props": props, "url": PAGE}
    return client.post("/v1/events", content=json.dumps(body))


def me(client: TestClient) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/v1/me").json()
    return data


def patch(client: TestClient, prefs: dict[str, Any]) -> httpx.Response:
    return client.patch("/v1/me", content=json.dumps({"prefs": prefs}))


def identify(client: TestClient, customer_id: str) -> None:
    proof = state(client).personalizer.identify_proof(customer_id)
    body = {"customer_id": customer_id, "proof": proof}
    assert client.post("/v1/identify", content=json.dumps(body)).json() == {"linked": True}


def server_decide(client: TestClient, channel: str, customer_id: str) -> dict[str, Any]:
    body = {"channel": channel, "customer_id": customer_id, "slots": ["mail"]}
    with no_cookies(client):
        r = client.post("/v1/decide", content=json.dumps(body), headers=AUTH)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def token_of(html: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def form(client: TestClient, **fields: Any) -> httpx.Response:
    fields.setdefault("token", token_of(client.get("/me").text))
    return client.post("/me", data=fields, headers=FORM, follow_redirects=False)


# --- favourites and ratings ---------------------------------------------------------------


def test_favourites_and_ratings_from_the_page_are_kept_and_lead_the_offers(
    edge: TestClient,
) -> None:
    web_decide(edge, ["hero"])
    assert goal(edge, "favourite", {"id": "tent"}).json() == {"ok": True, "stored": True}
    assert goal(edge, "rate", {"id": "shoe-b", "rating": 4}).json()["stored"] is True
    data = me(edge)
    assert data["prefs"] == {"interests": {}, "favourites": ["tent"], "ratings": {"shoe-b": 4}}
    assert data["events"]["favourite"]["count_1d"] == 1
    assert [(o["id"], o["reason"]) for o in data["offers"][:2]] == [
        ("tent", "because you saved it as a favourite"),
        ("shoe-b", "because you gave it 4 stars"),
    ]
    goal(edge, "unfavourite", {"id": "tent"})
    assert "favourites" not in me(edge)["prefs"]


@pytest.mark.parametrize(
    ("name", "props", "message"),
    [
        ("favourite", {"id": "hat"}, "'hat' is not a product of this site"),
        ("rate", {"id": "shoe-a", "rating": 6}, "rating must be a whole number from 1 to 5"),
        ("rate", {"id": "shoe-a", "rating": 0}, "rating must be"),
        ("rate", {"id": "shoe-a"}, "rating must be"),
        ("favourite", None, "needs props"),
        ("favourite", {"id": ""}, "product.id"),
    ],
)
def test_bad_favourites_and_ratings_are_refused_and_keep_nothing(
    edge: TestClient, name: str, props: Any, message: str
) -> None:
    web_decide(edge, ["hero"])
    r = goal(edge, name, props)
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert me(edge)["prefs"] == {"interests": {}}


def test_a_flood_of_favourites_is_refused_as_events_are(
    make_client: MakeClient, tmp_path: Path
) -> None:
    (tmp_path / "campaigns.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "offers.csv").write_text(OFFERS, encoding="utf-8")
    client = make_client(tmp_path / "campaigns.yaml", demo=False, events_per_minute=3)
    web_decide(client, ["hero"])
    codes = [goal(client, "favourite", {"id": "tent"}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_favourites_need_consent_that_keeps_them(edge: TestClient) -> None:
    edge.post("/v1/consent", content=json.dumps({"tier": "none"}))
    r = goal(edge, "favourite", {"id": "tent"})
    assert r.status_code == 200
    assert r.json() == {"ok": True, "stored": False}
    assert me(edge)["prefs"] == {"interests": {}}
    assert patch(edge, {"favourites": {"tent": None}}).status_code == 409


# --- the site's fields, channels and moments through /v1/me -------------------------------


def test_fields_filter_the_offers_and_explain_the_slot(edge: TestClient) -> None:
    web_decide(edge, ["hero"])
    r = patch(edge, {"size": "42", "budget": 150})
    assert r.status_code == 200, r.text
    data = r.json()
    assert (data["prefs"]["size"], data["prefs"]["budget"]) == ("42", 150)
    assert [(o["id"], o["reason"]) for o in data["offers"]] == [
        ("shoe-a", "because you chose size 42"),
        ("tent", "because you set your budget to 150"),
    ]
    picks = web_decide(edge, ["picks"])["picks"]
    assert picks["campaign"] == "picked"
    assert picks["reason"] == "you chose size 42"
    assert "Shoe A: because you chose size 42" in picks["html"]


@pytest.mark.parametrize(
    ("prefs", "field"),
    [
        ({"colour": "red"}, "'colour'"),
        ({"size": "47"}, "prefs.size"),
        ({"budget": 501}, "prefs.budget"),
        ({"channels": {"fax": {"personalized": False}}}, "prefs.channels.fax"),
        ({"channels": {"email": {"quiet_from": 21}}}, "prefs.channels.email"),
        ({"channels": {"email": {"per_week": 51}}}, "prefs.channels.email.per_week"),
        ({"time_zone": "Mars/Olympus"}, "prefs.time_zone"),
        ({"ratings": {"shoe-a": 5}}, "prefs.ratings.shoe-a"),
    ],
)
def test_bad_preferences_are_a_400_naming_the_field(
    edge: TestClient, prefs: dict[str, Any], field: str
) -> None:
    patch(edge, {"size": "41"})
    r = patch(edge, {"interests": {"running": "more"}, **prefs})
    assert r.status_code == 400
    assert field in r.json()["error"]
    assert me(edge)["prefs"] == {"interests": {}, "size": "41"}  # nothing of it changed


# --- the server API obeys the customer ------------------------------------------------------


def test_no_email_offers_holds_the_email_back_and_says_why(edge: TestClient) -> None:
    web_decide(edge, ["hero"])
    identify(edge, "c-7")
    assert server_decide(edge, "email", "c-7")["slots"]["mail"]["campaign"] == "mail-offer"
    assert patch(edge, {"channels": {"email": {"personalized": False}}}).status_code == 200
    answer = server_decide(edge, "email", "c-7")
    held = answer["slots"]["mail"]
    assert (held["campaign"], held["html"], held["token"]) == (None, None, None)
    assert held["reason"] == "you asked for no e-mail offers"
    assert answer["held_back"] == "you asked for no e-mail offers"
    # The app and the web still personalize: the choice was for e-mail only.
    assert server_decide(edge, "app", "c-7")["held_back"] is None
    assert web_decide(edge, ["mail"])["mail"]["campaign"] == "mail-offer"
    assert state(edge).personalizer.stats.held_back == {"email": 1}
    assert edge.get("/healthz").json()["counters"]["held_back"] == {"email": 1}
    # In the shared tallies too, which the cockpit reads: every node counts together.
    portal = edge.portal
    assert portal is not None
    held_back = portal.call(held_back_counts, store(edge))
    assert held_back == {"email": 1}


def test_quiet_hours_hold_back_in_the_customers_time_zone(edge: TestClient) -> None:
    web_decide(edge, ["hero"])
    identify(edge, "c-8")
    hour = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).hour
    quiet = {"quiet_from": hour, "quiet_until": (hour + 2) % 24}
    assert patch(edge, {"channels": {"app": quiet}, "time_zone": "Asia/Tokyo"}).status_code == 200
    said = f"between {hour:02d}:00 and {(hour + 2) % 24:02d}:00"
    assert (
        server_decide(edge, "app", "c-8")["held_back"]
        == f"you asked for no offers in the app {said}"
    )
    later = {"quiet_from": (hour + 2) % 24, "quiet_until": (hour + 4) % 24}
    patch(edge, {"channels": {"app": later}})
    assert server_decide(edge, "app", "c-8")["slots"]["mail"]["campaign"] == "mail-offer"


def test_at_most_so_many_emails_a_week(edge: TestClient) -> None:
    web_decide(edge, ["hero"])
    identify(edge, "c-9")
    patch(edge, {"channels": {"email": {"per_week": 1}}})
    assert server_decide(edge, "email", "c-9")["held_back"] is None
    reason = "you asked for at most 1 e-mail offer a week"
    assert server_decide(edge, "email", "c-9")["held_back"] == reason


def test_a_customer_who_never_logged_in_chose_nothing(edge: TestClient) -> None:
    answer = server_decide(edge, "email", "c-unknown")
    assert answer["held_back"] is None
    assert answer["slots"]["mail"]["campaign"] == "mail-offer"


# --- the privacy page, without JavaScript ------------------------------------------------


def test_the_page_lists_removes_and_sets_everything_by_forms(edge: TestClient) -> None:
    web_decide(edge, ["hero"])
    goal(edge, "favourite", {"id": "tent"})
    goal(edge, "favourite", {"id": "shoe-a"})
    goal(edge, "rate", {"id": "shoe-b", "rating": 2})
    page = edge.get("/me").text
    assert "Remove Tent" in page
    assert "Remove your 2 stars for Shoe B" in page
    r = form(edge, action="favourites", remove_favourite=["tent"], remove_rating=["shoe-b"])
    assert (r.status_code, r.headers["location"]) == (303, "me?done=favourites")
    assert me(edge)["prefs"] == {"interests": {}, "favourites": ["shoe-a"]}
    r = form(edge, **{"action": "settings", "pref.size": "43", "pref.budget": "99.5"})
    assert r.status_code == 303
    assert (me(edge)["prefs"]["size"], me(edge)["prefs"]["budget"]) == ("43", 99.5)
    choices = {
        "action": "channels",
        "channel.email.personalized": "no",
        "channel.email.quiet_from": "21",
        "channel.email.quiet_until": "8",
        "channel.app.per_week": "3",
        "time_zone": "Europe/Amsterdam",
    }
    assert form(edge, **choices).status_code == 303
    prefs = me(edge)["prefs"]
    assert prefs["channels"] == {
        "email": {"personalized": False, "per_week": None, "quiet_from": 21, "quiet_until": 8},
        "app": {"personalized": True, "per_week": 3, "quiet_from": None, "quiet_until": None},
    }
    assert prefs["time_zone"] == "Europe/Amsterdam"
    page = edge.get("/me?done=channels").text
    assert "Your choices for each channel are saved." in page
    assert '<option value="21" selected>21:00</option>' in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "settings", "pref.size": "47"}, "Size: choose one of 41, 42, 43"),
        ({"action": "settings", "pref.budget": "a lot"}, "Budget: choose a number from 0 to 500"),
        ({"action": "channels", "channel.email.quiet_from": "21"}, "E-mail: choose both when"),
        ({"action": "channels", "channel.web.quiet_from": "25"}, "whole hours from 0 to 23"),
        ({"action": "channels", "channel.app.per_week": "4"}, "The app: choose how often"),
        ({"action": "channels", "time_zone": "Mars"}, "“Mars” is not a time zone"),
    ],
)
def test_a_bad_form_shows_the_page_again_and_changes_nothing(
    edge: TestClient, fields: dict[str, str], message: str
) -> None:
    web_decide(edge, ["hero"])
    r = form(edge, **fields)
    assert r.status_code == 400
    assert message in r.text
    assert me(edge)["prefs"] == {"interests": {}}


def test_the_forms_are_refused_from_another_site_and_for_another_visitor(
    edge: TestClient, make_client: MakeClient, tmp_path: Path
) -> None:
    web_decide(edge, ["hero"])
    token = token_of(edge.get("/me").text)
    fields = {"token": token, "action": "channels", "channel.email.personalized": "no"}
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        r = edge.post("/me", data=fields, headers={**FORM, **headers}, follow_redirects=False)
        assert r.status_code == 403
    other = make_client(tmp_path / "campaigns.yaml", demo=False)
    web_decide(other, ["hero"])
    r = other.post("/me", data=fields, headers=FORM)
    assert r.status_code == 400  # the page again, saying why
    assert "this form was made for another visitor" in r.text.lower()
    assert me(edge)["prefs"] == {"interests": {}}


def test_without_consent_to_keep_them_the_page_offers_no_choices(edge: TestClient) -> None:
    edge.post("/v1/consent", content=json.dumps({"tier": "none"}))
    page = edge.get("/me").text
    assert "Choices for each channel can only be kept while personalization is on" in page
    r = form(edge, **{"action": "channels", "channel.email.personalized": "no"})
    assert r.status_code == 400  # the page again, saying why
    assert "Your choices can only be kept while personalization is on" in r.text


def test_the_page_shows_what_each_channel_decided_once_identified(edge: TestClient) -> None:
    web_decide(edge, ["hero"])
    assert "once you log in on this site" in edge.get("/me").text
    identify(edge, "c-10")
    server_decide(edge, "email", "c-10")
    patch(edge, {"channels": {"app": {"personalized": False}}})
    server_decide(edge, "app", "c-10")
    page = edge.get("/me").text
    assert "once you log in" not in page
    section = page.split('id="lately"', 1)[1]
    assert re.search(r"E-mail</td>.*Our mail offer</td>.*shown to every visitor", section, re.S)
    assert re.search(
        r"The app</td>.*nothing personal: held back</td>.*you asked for no offers in the app",
        section,
        re.S,
    )
    assert re.search(r"This website</td>.*A welcome</td>", section, re.S)


# --- export and delete ------------------------------------------------------------------------


def test_export_and_delete_take_everything(edge: TestClient) -> None:
    web_decide(edge, ["hero"])
    goal(edge, "favourite", {"id": "tent"})
    patch(edge, {"size": "42", "channels": {"email": {"per_week": 2}}, "time_zone": "UTC"})
    identify(edge, "c-11")
    server_decide(edge, "email", "c-11")
    with no_cookies(edge):  # what the e-mail kept for the customer on their own, before
        body = {"type": "goal", "name": "purchase", "customer_id": "c-12"}
        edge.post("/v1/events", content=json.dumps(body), headers=AUTH)
    exported = edge.get("/v1/me?download=1")
    assert "attachment" in exported.headers["content-disposition"]
    stored = exported.json()["stored"]
    assert stored["prefs"]["favourites"] == ["tent"]
    assert stored["prefs"]["channels"]["email"]["per_week"] == 2
    assert stored["contacts"]["email"]["lately"][0]["campaign"] == "mail-offer"
    visitor = exported.json()["visitor"]["id"]
    assert edge.delete("/v1/me").json() == {"deleted": True}
    assert record(edge, visitor) is None
    assert record(edge, customer_visitor_id(KEYS[0], "c-11")) is None
    assert me(edge)["prefs"] == {"interests": {}}
    # The e-mail no longer finds the profile: nothing of the customer's choices is left.
    assert server_decide(edge, "email", "c-11")["slots"]["mail"]["campaign"] == "mail-offer"
    assert all(v.get("prefs") is None for v in store(edge).dump().values() if isinstance(v, dict))
