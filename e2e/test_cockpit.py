"""The marketing cockpit in Chromium: login, live numbers, pause/resume, CSRF and preview."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, expect

from opmaat_edge.cli import DEMO_PASSWORD
from opmaat_edge.cockpit.preview import AGENTS

GOOGLE = "https://www.google.com/search?q=tent"
# Only test_profile.py looks at this campaign, and not while a test here has it paused.
PAUSABLE = "mobile-sidebar"

Contexts = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser, edge_url: str) -> Iterator[Contexts]:
    """Fresh browser contexts (a marketer, a visitor), closed after the test."""
    made: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        context = browser.new_context(base_url=edge_url, **options)
        made.append(context)
        return context

    yield new
    for context in made:
        context.close()


def log_in(page: Page, password: str = DEMO_PASSWORD) -> None:
    page.goto("/cockpit/login")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def section(page: Page, campaign: str) -> Locator:
    return page.locator(f"#c-{campaign}")


def cell(page: Page, campaign: str, arm: str, name: str) -> Locator:
    return section(page, campaign).locator(f'tr[data-arm="{arm}"] [data-cell="{name}"]')


def number(locator: Locator) -> int:
    return int(locator.inner_text().strip())


def decided(new_context: Contexts, edge_url: str, slot: str, **options: Any) -> str | None:
    """The campaign /v1/decide picks for ``slot`` for a new visitor (``referrer`` in the
    body, other options for the browser context)."""
    referrer = options.pop("referrer", None)
    context = new_context(**options)
    answer = context.request.post(
        edge_url + "/v1/decide",
        data={"slots": [slot], "url": edge_url + "/", "referrer": referrer},
    )
    assert answer.ok, answer.text()
    campaign: str | None = answer.json()["slots"][slot]["campaign"]
    return campaign


def csrf_of(page: Page) -> str:
    token = page.locator(f"#c-{PAUSABLE} input[name=csrf]").get_attribute("value")
    assert token
    return token


def resume(context: BrowserContext, edge_url: str, token: str, campaign: str) -> None:
    """Resume ``campaign`` whatever the page shows (a test's clean-up)."""
    answer = context.request.post(
        f"{edge_url}/cockpit/campaigns/{campaign}/resume", form={"csrf": token}
    )
    assert answer.ok, answer.status


def unexpected(errors: list[str], status: int) -> list[str]:
    """``errors`` but Chromium's note on a page it was meant to get with ``status``."""
    note = f"error: Failed to load resource: the server responded with a status of {status} "
    return [e for e in errors if not e.startswith(note)]


def event_answer(page: Page, kind: str) -> Any:
    """Waits for the answer to the snippet's ``kind`` event (impression, click)."""

    def is_it(response: Response) -> bool:
        if "/v1/events" not in response.url:
            return False
        body = response.request.post_data_json
        return isinstance(body, dict) and body.get("type") == kind

    return page.expect_response(is_it)


def test_nothing_without_a_login(
    new_context: Contexts, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    context = new_context()
    page = context.new_page()
    errors = console_of(page)
    page.goto("/cockpit")
    expect(page).to_have_url(f"{edge_url}/cockpit/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    answer = page.goto("/cockpit/preview")
    assert answer is not None
    assert answer.status == 401
    expect(page.get_by_role("heading", name="Please log in")).to_be_visible()
    expect(page.get_by_role("link", name="log in")).to_have_attribute("href", "/cockpit/login")
    expect(page.locator("#preview-results")).to_have_count(0)

    refused = context.request.post(
        f"{edge_url}/cockpit/campaigns/search-hero/pause",
        form={"csrf": "anything"},
        max_redirects=0,
    )
    assert refused.status == 401
    assert "Please log in" in refused.text()
    assert decided(new_context, edge_url, "hero", referrer=GOOGLE) == "search-hero"
    assert len(errors) == 1  # the 401 page's own
    assert unexpected(errors, 401) == []


def test_login_and_logout(
    new_context: Contexts, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    page = new_context().new_page()
    errors = console_of(page)
    log_in(page, "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong password.")
    expect(page).to_have_url(f"{edge_url}/cockpit/login")
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.locator("#campaigns")).to_have_count(0)

    log_in(page)
    expect(page).to_have_url(f"{edge_url}/cockpit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")
    search = section(page, "search-hero")
    expect(search).to_have_attribute("data-status", "running")
    expect(search.locator("[data-field=status]")).to_have_text("running")
    expect(search.locator("[data-field=audience]")).to_have_text(
        "Audience: traffic source is search"
    )
    expect(search.locator("h2")).to_contain_text("Visitors from a search engine")
    expect(section(page, "amsterdam-hero").locator("[data-field=audience]")).to_have_text(
        "Audience: country is NL"
    )
    expect(cell(page, "search-hero", "a", "impressions")).to_have_text(re.compile(r"^\d+$"))

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{edge_url}/cockpit/login")
    expect(page.get_by_label("Password")).to_be_visible()
    page.goto("/cockpit")
    expect(page).to_have_url(f"{edge_url}/cockpit/login")
    answer = page.goto("/cockpit/preview")
    assert answer is not None
    assert answer.status == 401
    assert unexpected(errors, 401) == []


def test_live_numbers_count_a_visitors_impression_and_click(
    new_context: Contexts, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    marketer = new_context()
    marketer.clock.install()  # the page's 10 s refresh runs when the test says so
    cockpit = marketer.new_page()
    cockpit_errors = console_of(cockpit)
    log_in(cockpit)
    impressions = cell(cockpit, "search-hero", "a", "impressions")
    clicks = cell(cockpit, "search-hero", "a", "clicks")
    expect(impressions).to_have_text(re.compile(r"^\d+$"))
    before = (number(impressions), number(clicks))
    cockpit.evaluate("window.notReloaded = true")

    shop = new_context().new_page()
    shop_errors = console_of(shop)
    with event_answer(shop, "impression") as seen:
        shop.goto("/", referer=GOOGLE)
        hero = shop.locator("[data-opmaat-slot=hero]")
        expect(hero).to_have_attribute("data-opmaat-filled", "")
        expect(hero).to_have_attribute("data-opmaat-campaign", "search-hero")
        expect(hero).to_contain_text("Found us on Google?")
    assert seen.value.ok
    assert seen.value.request.post_data_json["campaign"] == "search-hero"
    with event_answer(shop, "click") as clicked:
        hero.get_by_role("heading").click()
    assert clicked.value.ok

    with cockpit.expect_response(lambda r: r.url == f"{edge_url}/cockpit") as refreshed:
        cockpit.clock.run_for(10_500)
    assert refreshed.value.ok
    expect(impressions).not_to_have_text(str(before[0]))
    expect(clicks).not_to_have_text(str(before[1]))
    assert number(impressions) > before[0]
    assert number(clicks) > before[1]
    assert cockpit.evaluate("window.notReloaded") is True  # updated in place
    assert cockpit_errors == shop_errors == []


def test_pause_stops_a_campaign_until_resumed(
    new_context: Contexts, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    mobile = {"user_agent": AGENTS["mobile"], "viewport": {"width": 390, "height": 844}}
    assert decided(new_context, edge_url, "sidebar", **mobile) == PAUSABLE
    page = new_context().new_page()
    errors = console_of(page)
    log_in(page)
    token = csrf_of(page)
    campaign = section(page, PAUSABLE)
    expect(campaign).to_have_attribute("data-status", "running")
    try:
        campaign.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("status")).to_have_text(f"Mobile visitors ({PAUSABLE}) paused.")
        expect(campaign).to_have_attribute("data-status", "paused")
        expect(campaign.locator("[data-field=status]")).to_have_text("paused")

        assert decided(new_context, edge_url, "sidebar", **mobile) is None
        shop = new_context(**mobile).new_page()
        shop_errors = console_of(shop)
        shop.goto("/")
        sidebar = shop.locator("[data-opmaat-slot=sidebar]")
        expect(sidebar).to_have_attribute("data-opmaat-filled", "")
        expect(sidebar).not_to_have_attribute("data-opmaat-campaign", re.compile(".+"))
        expect(sidebar).to_have_text("Free shipping on orders over €50.")
        assert shop_errors == []

        campaign.get_by_role("button", name="Resume").click()
        expect(page.get_by_role("status")).to_have_text(f"Mobile visitors ({PAUSABLE}) resumed.")
        expect(campaign).to_have_attribute("data-status", "running")
        expect(campaign.get_by_role("button", name="Pause")).to_be_visible()
    finally:
        resume(page.context, edge_url, token, PAUSABLE)
    assert decided(new_context, edge_url, "sidebar", **mobile) == PAUSABLE
    assert errors == []


def test_form_posts_without_the_csrf_token_are_refused(
    new_context: Contexts, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    context = new_context()
    page = context.new_page()
    errors = console_of(page)
    log_in(page)
    token = csrf_of(page)
    pause = f"{edge_url}/cockpit/campaigns/{PAUSABLE}/pause"
    forms: list[dict[str, str | float | bool]] = [
        {"other": "1"},
        {"csrf": "not-" + token},
        {"csrf": ""},
    ]
    try:
        for form in forms:
            refused = context.request.post(pause, form=form, max_redirects=0)
            assert refused.status == 403, form
            assert "Form refused" in refused.text()
        page.reload()
        expect(section(page, PAUSABLE)).to_have_attribute("data-status", "running")
        assert decided(new_context, edge_url, "sidebar", user_agent=AGENTS["mobile"]) == PAUSABLE
        # The same post with the token is accepted: the refusals were the token's doing.
        accepted = context.request.post(pause, form={"csrf": token}, max_redirects=0)
        assert accepted.status == 303
    finally:
        resume(context, edge_url, token, PAUSABLE)
    page.reload()
    expect(section(page, PAUSABLE)).to_have_attribute("data-status", "running")
    assert errors == []


def test_preview_as_a_visitor_and_open_the_demo_as_them(
    new_context: Contexts, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    context = new_context()
    page = context.new_page()
    errors = console_of(page)
    log_in(page)
    page.get_by_role("link", name="Preview as a visitor").click()
    expect(page).to_have_url(f"{edge_url}/cockpit/preview")
    page.get_by_label("Country (two letters)").fill("NL")
    page.get_by_label("City").fill("Utrecht")
    page.get_by_role("button", name="Show what they would see").click()
    hero = page.locator("#preview-results tr[data-slot=hero]")
    expect(hero).to_have_attribute("data-campaign", "amsterdam-hero")
    expect(hero.locator("[data-cell=campaign]")).to_contain_text("amsterdam-hero")
    expect(hero.locator("[data-cell=variant]")).to_have_text("a")
    reason = hero.locator("[data-cell=reason]")
    expect(reason).to_contain_text("you are in Utrecht, the Netherlands")
    # What the slot says, as text; its HTML stays behind a toggle.
    expect(hero.locator("[data-cell=content]")).to_contain_text("Goedendag, Utrecht!")
    expect(hero.locator("[data-cell=content] pre")).to_contain_text("<h2>Goedendag, Utrecht!")

    page.get_by_label("Came from (referrer)").fill(GOOGLE)
    page.get_by_role("button", name="Show what they would see").click()
    expect(hero).to_have_attribute("data-campaign", "search-hero")
    expect(reason).to_contain_text("you came from a Google search for 'tent'")
    expect(page.locator("#preview-results")).to_contain_text("Utrecht, NL")

    # A visitor who viewed the Trail Runner 3: the demo's "viewed together" slot and each
    # strategy's list, with the reason per item.
    page.get_by_label("Viewed products (ids, newest first)").fill("trail-runner")
    page.get_by_role("button", name="Show what they would see").click()
    related = page.locator("#preview-results tr[data-slot=related]")
    expect(related).to_have_attribute("data-campaign", "viewed-together")
    expect(related.locator("[data-cell=content]")).to_contain_text("Viewed together")
    together = page.locator("[data-strategy-items=viewed-together] li").first
    expect(together).to_contain_text("people who viewed Trail Runner 3 also viewed this")
    page.get_by_label("Viewed products (ids, newest first)").fill("")
    page.get_by_role("button", name="Show what they would see").click()

    tabs: list[list[str]] = []
    context.on("page", lambda tab: tabs.append(console_of(tab)))
    with context.expect_page() as opened:
        page.locator("#open-as-visitor").click()
    shop = opened.value
    expect(shop).to_have_url(f"{edge_url}/")
    slot = shop.locator("[data-opmaat-slot=hero]")
    expect(slot).to_have_attribute("data-opmaat-filled", "")
    expect(slot).to_have_attribute("data-opmaat-campaign", "search-hero")
    expect(slot).to_contain_text("Found us on Google?")
    expect(slot).to_contain_text("Everything for “tent”")
    bar = shop.locator("#preview-bar")
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("Utrecht, NL")
    expect(bar).to_contain_text(f"from {GOOGLE}")

    bar.get_by_role("link", name="Stop the preview").click()
    expect(shop).to_have_url(f"{edge_url}/cockpit/preview")
    shop.goto("/")
    slot = shop.locator("[data-opmaat-slot=hero]")
    expect(slot).to_have_attribute("data-opmaat-filled", "")
    expect(shop.locator("#preview-bar")).to_have_count(0)
    expect(slot).not_to_have_attribute("data-opmaat-campaign", "search-hero")
    expect(slot).to_contain_text("Welcome to the Opmaat shop")
    assert errors == []
    (tab_errors,) = tabs
    assert tab_errors == []
