"""The customer in control, in Chromium: a visitor saves a favourite, says "no e-mail, quiet
hours 21-08" on /me, and the e-mail channel is then refused with that reason while the web
still personalizes; /me works with JavaScript off."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect

from opmaat_edge.cli import DEMO_API_KEY, DEMO_PASSWORD

AMSTERDAM = {"X-Forwarded-For": "203.0.113.7"}
NOW = time.time()
NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser, edge_url: str) -> Iterator[NewPage]:
    contexts: list[BrowserContext] = []

    def new(**options: Any) -> Page:
        context = browser.new_context(base_url=edge_url, extra_http_headers=AMSTERDAM, **options)
        contexts.append(context)
        if options.get("java_script_enabled", True):
            # Timers stand still, so a slot waits for its real answer on a busy machine.
            context.clock.install(time=NOW)
            context.clock.pause_at(NOW + 1)
        return context.new_page()

    yield new
    for context in contexts:
        context.close()


def goal_answered(name: str) -> Callable[[Response], bool]:
    def is_it(response: Response) -> bool:
        body = response.request.post_data_json if "/v1/events" in response.url else None
        return isinstance(body, dict) and body.get("name") == name

    return is_it


def email_decide(edge_url: str, customer_id: str) -> dict[str, Any]:
    """What the shop's mailer asks at send time: a server call with the demo's API key."""
    request = urllib.request.Request(
        edge_url + "/v1/decide",
        data=json.dumps(
            {"channel": "email", "customer_id": customer_id, "slots": ["hero"]}
        ).encode(),
        headers={"Authorization": f"Bearer {DEMO_API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        found: dict[str, Any] = json.load(answer)
    return found


def held_back_in_cockpit(page: Page, channel: str) -> int:
    """The cockpit's count of decisions for ``channel`` the customers' own choices held back
    (0 when it names none yet); logs in when it must."""
    page.goto("/cockpit")
    if "/cockpit/login" in page.url:
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
    expect(page.locator("[data-field=left-out]")).to_contain_text("Held back by the customer")
    count = page.locator(f'[data-field="held-back-{channel}"]')
    return int(count.inner_text()) if count.count() else 0


def test_no_email_and_quiet_hours_hold_the_email_back_while_the_web_personalizes(
    new_page: NewPage, edge_url: str
) -> None:
    page = new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.goto("/campaigns")
    with page.expect_response(lambda r: "/v1/identify" in r.url) as identified:
        page.get_by_role("button", name="I am c-1002").click()
    assert identified.value.ok
    assert email_decide(edge_url, "c-1002")["held_back"] is None

    page.goto("/product/trail-runner")
    expect(page.locator("[data-opmaat-slot=offer]")).to_have_attribute("data-opmaat-filled", "")
    with page.expect_response(goal_answered("favourite")) as saved:
        page.get_by_role("button", name="Save as favourite").click()
    assert saved.value.ok
    expect(page.get_by_role("button", name="Saved as favourite")).to_be_visible()

    page.goto("/me")
    expect(page.locator("#favourites + form")).to_contain_text("Remove Trail Runner 3")
    email = page.locator("#channel-email")
    email.get_by_label("Personalized for me").select_option("no")
    email.get_by_label("Quiet from").select_option("21")
    email.get_by_label("until").select_option("8")
    page.get_by_role("button", name="Save channels and quiet hours").click()
    expect(page.get_by_role("status")).to_have_text("Your choices for each channel are saved.")
    expect(page.get_by_label("Your time zone, for quiet hours")).to_have_value("Europe/Amsterdam")

    cockpit = new_page()
    held_before = held_back_in_cockpit(cockpit, "email")
    answer = email_decide(edge_url, "c-1002")
    assert answer["held_back"] == "you asked for no e-mail offers"
    # The marketer sees it counted, in the shared tallies every node reads.
    assert held_back_in_cockpit(cockpit, "email") == held_before + 1
    assert answer["slots"]["hero"]["campaign"] is None
    assert answer["slots"]["hero"]["reason"] == "you asked for no e-mail offers"

    page.goto("/")
    picks = page.locator("[data-opmaat-slot=picks]")
    expect(picks).to_have_attribute("data-opmaat-campaign", "picked-for-you")
    expect(picks).to_contain_text("Trail Runner 3")
    expect(picks).to_contain_text("because you saved it as a favourite")

    page.goto("/me")
    lately = page.locator("#lately + div table")
    expect(lately).to_contain_text("E-mail")
    expect(lately).to_contain_text("you asked for no e-mail offers")
    assert errors == []


def test_the_privacy_page_works_without_javascript(new_page: NewPage) -> None:
    page = new_page(java_script_enabled=False)
    page.goto("/me")
    email = page.locator("#channel-email")
    email.get_by_label("Personalized for me").select_option("no")
    email.get_by_label("Quiet from").select_option("21")
    email.get_by_label("until").select_option("8")
    page.get_by_role("button", name="Save channels and quiet hours").click()
    expect(page.get_by_role("status")).to_have_text("Your choices for each channel are saved.")
    page.get_by_label("Size").select_option("42")
    page.get_by_role("button", name="Save my settings").click()
    expect(page.get_by_role("status")).to_have_text("Your settings are saved.")
    prefs = page.request.get("/v1/me").json()["prefs"]
    assert prefs["channels"]["email"] == {
        "personalized": False,
        "per_week": None,
        "quiet_from": 21,
        "quiet_until": 8,
    }
    assert prefs["size"] == "42"
    assert prefs["time_zone"] == "Europe/Amsterdam"
