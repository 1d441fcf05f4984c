"""The visitor's data: /v1/me (export, preferences, delete) and the /me privacy page."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from opmaat.identity import COOKIE_NAME
from tests.edge.test_consent import kept_for

HOME = "http://127.0.0.1/"
AMSTERDAM = {"X-Forwarded-For": "203.0.113.7"}


def browse(client: TestClient, path: str = "/c/running", category: str | None = "running") -> Any:
    body = {
        "slots": ["hero", "sidebar"],
        "url": "http://127.0.0.1" + path,
        "referrer": "https://www.google.com/search?q=trail+shoes",
        "page": {"category": category} if category else {},
    }
    r = client.post("/v1/decide", content=json.dumps(body), headers=AMSTERDAM)
    assert r.status_code == 200
    return r.json()


def patch(client: TestClient, body: Any) -> Any:
    return client.patch("/v1/me", content=json.dumps(body))


def test_export_has_the_profile_the_decisions_and_the_record(client: TestClient) -> None:
    browse(client)
    me = client.get("/v1/me", headers=AMSTERDAM)
    assert me.headers["cache-control"] == "private, no-store"
    data = me.json()
    assert data["geo"]["city"] == "Amsterdam"
    assert data["interests"] == {"running": 1.0, "top": "running"}
    assert {d["slot"] for d in data["decisions"]} == {"hero", "sidebar"}
    hero = next(d for d in data["decisions"] if d["slot"] == "hero")
    assert hero["campaign"] == "search-hero"
    assert "Google search" in hero["reason"]
    assert hero["consent"] == "full"
    assert data["stored"]["visits"] == 1
    download = client.get("/v1/me?download=1")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.json()["stored"] == data["stored"]


def test_interests_drive_the_demo_sidebar_and_preferences_override_them(
    client: TestClient,
) -> None:
    browse(client)
    sidebar = browse(client, "/", None)["slots"]["sidebar"]
    assert sidebar["campaign"] == "interest-sidebar"
    assert 'more <a href="/c/running">running' in sidebar["html"]
    data = patch(client, {"prefs": {"interests": {"cycling": "more", "running": "less"}}}).json()
    assert data["prefs"] == {"interests": {"cycling": "more", "running": "less"}}
    assert data["interests"]["top"] == "cycling"
    assert "running" not in data["interests"]
    assert "cycling</a>" in browse(client, "/", None)["slots"]["sidebar"]["html"]
    # A later patch changes only what it names.
    data = patch(client, {"prefs": {"interests": {"hiking": "more"}}}).json()
    assert data["prefs"] == {"interests": {"cycling": "more", "running": "less", "hiking": "more"}}
    data = patch(client, {"prefs": {"interests": {"running": None, "hiking": None}}}).json()
    assert data["prefs"] == {"interests": {"cycling": "more"}}
    assert list(data["interests"]) == ["cycling", "running", "top"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "'prefs' and/or 'consent'"),
        ({"name": "x"}, 400, "'prefs' and/or 'consent'"),
        ({"prefs": []}, 400, "prefs must be an object"),
        ({"prefs": {"colour": "red"}}, 400, "unknown preference"),
        ({"prefs": {"interests": {"Bad Name!": "more"}}}, 400, "not a category"),
        ({"prefs": {"interests": {"running": "lots"}}}, 400, "'more', 'less' or null"),
        ({"prefs": {"interests": {f"c{i}": "more" for i in range(31)}}}, 400, "at most 30"),
        ({"consent": "maybe"}, 400, "consent must be one of"),
    ],
)
def test_bad_patches_are_refused_and_nothing_is_lost(
    client: TestClient, body: Any, status: int, message: str
) -> None:
    browse(client)
    patch(client, {"prefs": {"interests": {"hiking": "more"}}})
    r = patch(client, body)
    assert r.status_code == status
    assert message in r.json()["error"]
    data = client.get("/v1/me").json()
    assert data["prefs"] == {"interests": {"hiking": "more"}}
    assert data["session"]["pageviews"] == 1


def test_preferences_need_consent_to_be_kept(client: TestClient) -> None:
    client.post("/v1/consent", content=json.dumps({"tier": "none"}))
    r = patch(client, {"prefs": {"interests": {"running": "more"}}})
    assert r.status_code == 409
    assert "consent" in r.json()["error"]


def test_patch_can_change_consent(client: TestClient) -> None:
    browse(client)
    assert patch(client, {"consent": "session"}).json()["consent"]["tier"] == "session"
    assert browse(client)["consent"] == "session"


def test_delete_forgets_everything_and_the_old_cookie_finds_nothing(client: TestClient) -> None:
    browse(client)
    patch(client, {"prefs": {"interests": {"cycling": "more"}}})
    old = client.cookies[COOKIE_NAME]
    r = client.delete("/v1/me")
    assert r.json() == {"deleted": True}
    assert any(
        c.startswith(f"{COOKIE_NAME}=") and "Max-Age=0" in c
        for c in r.headers.get_list("set-cookie")
    )
    assert COOKIE_NAME not in client.cookies
    assert len(client.app.state.edge.personalizer.store) == 0  # type: ignore[attr-defined]
    client.cookies.set(COOKIE_NAME, old)
    data = client.get("/v1/me").json()
    assert data["stored"] == {}
    assert data["visitor"]["visits"] == 0
    assert data["prefs"] == {"interests": {}}
    assert data["decisions"] == []
    assert client.delete("/v1/me").json() == {"deleted": False}


def token_of(html: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def form(client: TestClient, **fields: str) -> Any:
    return client.post(
        "/me",
        data=fields,
        headers={**AMSTERDAM, "Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def test_privacy_page_says_what_is_known_and_why(client: TestClient) -> None:
    browse(client)
    r = client.get("/me", headers=AMSTERDAM)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "private, no-store"
    html = r.text
    assert "Amsterdam, NL" in html
    assert "from a search on Google, for “trail shoes”" in html
    assert "<td>running</td>" in html
    # The campaign's label, never the marketers' name for it.
    assert "A welcome for visitors from a search engine" in html
    assert "Visitors from a search engine" not in html
    assert "you came from a Google search for &#39;trail shoes&#39;" in html
    assert 'href="v1/me?download=1"' in html
    # Every form control has a label.
    ids = re.findall(r'<(?:select|input)[^>]* id="([^"]+)"', html)
    assert ids
    assert all(f'for="{i}"' in html for i in ids)


def test_privacy_page_forms_change_preferences_consent_and_delete(client: TestClient) -> None:
    browse(client)
    token = token_of(client.get("/me").text)
    r = form(
        client,
        token=token,
        action="prefs",
        **{"interest.running": "less", "add_interest": "Trail Running"},
    )
    assert (r.status_code, r.headers["location"]) == (303, "me?done=prefs")
    prefs = client.get("/v1/me").json()["prefs"]
    assert prefs == {"interests": {"running": "less", "trail-running": "more"}}
    assert "Your preferences are saved." in client.get("/me?done=prefs").text
    r = form(client, token=token, action="consent", consent="session")
    assert r.status_code == 303
    assert client.get("/v1/me").json()["consent"]["tier"] == "session"
    r = form(client, token=token, action="delete")
    assert r.status_code == 303
    assert client.get("/v1/me").json()["stored"] == {}
    assert "Everything we kept about you is deleted." in client.get("/me?done=delete").text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token": "forged", "action": "delete"}, "expired"),
        ({"token": "", "action": "delete"}, "expired"),
        ({"action": "explode"}, "Action must be one of"),
        ({"action": "consent", "consent": "sometimes"}, "Choose one of the options"),
        ({"action": "prefs", "add_interest": "<script>"}, "is not a topic name"),
    ],
)
def test_bad_forms_show_the_page_again_and_change_nothing(
    client: TestClient, fields: dict[str, str], message: str
) -> None:
    browse(client)
    fields.setdefault("token", token_of(client.get("/me").text))
    r = form(client, **fields)
    assert r.status_code == 400
    assert message in r.text
    assert "<script>" not in r.text
    assert client.get("/v1/me").json()["session"]["pageviews"] == 1


def test_a_form_made_for_one_visitor_does_not_work_for_another(make_client: Any) -> None:
    first, second = make_client(), make_client()
    browse(first)
    browse(second)
    token = token_of(first.get("/me").text)
    r = form(second, token=token, action="delete")
    assert r.status_code == 400
    assert "another visitor" in r.text
    assert second.get("/v1/me").json()["stored"] != {}


def test_privacy_page_form_refuses_other_encodings(client: TestClient) -> None:
    r = client.post("/me", content=b'{"action": "delete"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert "x-www-form-urlencoded" in r.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"consent": "off", "prefs": {"interests": {"x": "more"}}},
        {"consent": "none", "prefs": {"bad": 1}},
        {"consent": "sometimes", "prefs": {"interests": {"x": "more"}}},
    ],
)
def test_a_refused_patch_changes_nothing_at_all(client: TestClient, body: Any) -> None:
    browse(client)
    r = patch(client, body)
    assert r.status_code in (400, 409)
    assert "opmaat_consent" not in client.cookies
    data = client.get("/v1/me").json()
    assert data["session"]["pageviews"] == 1
    assert data["consent"]["choice"] is None


def test_the_privacy_page_refuses_forms_from_another_site(client: TestClient) -> None:
    # A visitor without a cookie gets a token that fits every such visitor; the origin check
    # is what keeps another site from using it.
    token = token_of(client.get("/me").text)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        r = client.post(
            "/me",
            data={"token": token, "action": "consent", "consent": "full"},
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert r.status_code == 403
    assert "opmaat_consent" not in client.cookies


def test_opening_the_privacy_page_with_gpc_shortens_what_is_kept(client: TestClient) -> None:
    browse(client)
    client.get("/me", headers={"Sec-GPC": "1"})
    store = client.app.state.edge.personalizer.store  # type: ignore[attr-defined]
    assert kept_for(store) == {30 * 60}


def test_the_privacy_page_cannot_be_framed_or_run_scripts(client: TestClient) -> None:
    r = client.get("/me")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # default-src 'none' covers scripts: none run
    assert "default-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert client.get("/v1/me").headers["x-content-type-options"] == "nosniff"


# --- what a visitor trips over on the privacy page ----------------------------------------------

LABELS = """site: {consent_default: full, allowed_origins: ["https://www.shop.example"]}
slots: {hero: {}, promo: {}}
campaigns:
  - {id: internal-7, name: Which promo gets clicked, label: This week's offer, slot: promo,
     variants: [{key: a, html: offer}]}
  - {id: test-b, name: Internal test B, slot: hero, variants: [{key: a, html: hi}]}
"""


def event(client: TestClient, kind: str, campaign: str, decided: Any) -> None:
    slot = decided["slots"][{"internal-7": "promo", "test-b": "hero"}[campaign]]
    body = {"type": kind, "campaign": campaign, "variant": "a", "slot": slot["slot"]}
    body["token"] = slot.get("token")
    assert client.post("/v1/events", content=json.dumps(body)).status_code == 200


def test_visitors_see_campaign_labels_never_internal_names(make_client: Any, tmp_path: Any) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(LABELS)
    client = make_client(config, demo=False)
    for _ in range(2):
        decided = client.post(
            "/v1/decide",
            content=json.dumps({"slots": ["hero", "promo"], "url": "http://127.0.0.1/"}),
        ).json()
    event(client, "impression", "internal-7", decided)
    html = client.get("/me").text
    assert "This week&#39;s offer" in html
    assert "a promotion" in html  # test-b has no label
    for internal in ("Which promo gets clicked", "internal-7", "Internal test B", "test-b"):
        assert internal not in html
    # Seen counts what was on the screen; the table says so beside the decisions above it.
    seen = html[html.index('id="campaigns"') :]
    assert "<tr><td>This week&#39;s offer</td><td>1</td><td>0</td></tr>" in seen
    assert "a promotion</td>" not in seen  # decided twice, never on the screen
    assert "a page you left sooner" in seen
    # The way back to the shop: the origin its pages call the edge from.
    assert html.count('href="https://www.shop.example/">← Back to This site</a>') == 2


def test_the_way_back_is_the_home_page_of_the_edges_host_without_other_origins(
    client: TestClient,
) -> None:
    assert 'href="/">← Back to Opmaat demo shop</a>' in client.get("/me").text


def test_an_added_topic_shows_no_score_it_did_not_earn(client: TestClient) -> None:
    browse(client)  # one view of running
    token = token_of(client.get("/me").text)
    form(client, token=token, action="prefs", add_interest="camping")
    html = client.get("/me").text
    scores = dict(re.findall(r'<tr><td>([a-z-]+)</td><td data-cell="score">([^<]*)</td>', html))
    assert scores == {"camping": "—", "running": "1.0"}
    assert client.get("/v1/me").json()["interests"]["camping"] == 10.0  # what campaigns see


def test_the_sidebar_never_links_to_a_topic_the_shop_has_no_page_for(client: TestClient) -> None:
    patch(client, {"prefs": {"interests": {"camping": "more"}}})
    sidebar = browse(client, "/", None)["slots"]["sidebar"]
    assert sidebar["campaign"] != "interest-sidebar"
    assert "/c/camping" not in (sidebar["html"] or "")


def test_without_personalization_no_topic_can_be_added(client: TestClient) -> None:
    browse(client)
    token = token_of(client.get("/me").text)
    form(client, token=token, action="consent", consent="off")
    html = client.get("/me").text
    assert 'name="add_interest"' not in html
    assert "choose “On” under" in html
    # A form sent anyway answers in a sentence.
    r = form(client, token=token_of(html), action="prefs", add_interest="camping")
    assert r.status_code == 400
    assert (
        "Your interests can only be kept while personalization is on: choose “On” under "
        "Your choices first."
    ) in r.text


def test_errors_on_the_page_are_sentences() -> None:
    from opmaat_edge.privacy_page import _sentence

    assert _sentence("preferences are kept only with session or full consent") == (
        "Preferences are kept only with session or full consent."
    )
    assert _sentence("Already a sentence.") == "Already a sentence."


def test_delete_everything_asks_first_and_works_without_javascript(client: TestClient) -> None:
    browse(client)
    page = client.get("/me").text
    ask = page[page.index('id="your-data"') :]
    # The first button only asks (a GET): nothing on the page can delete in one step.
    assert '<form method="get" action="me#your-data">' in ask
    assert 'name="confirm" value="delete"' in ask
    assert 'name="action" value="delete"' not in page
    confirm = client.get("/me", params={"confirm": "delete"}).text
    assert "Delete everything we keep about you?" in confirm
    assert 'name="action" value="delete"' in confirm
    assert '<a href="me#your-data">No, keep it</a>' in confirm
    assert client.get("/v1/me").json()["stored"] != {}
    r = form(client, token=token_of(confirm), action="delete")
    assert (r.status_code, r.headers["location"]) == (303, "me?done=delete")
    assert client.get("/v1/me").json()["stored"] == {}
