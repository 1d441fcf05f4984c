"""A new user's first hour, in Chromium at a phone's width and a desktop's: pages that fit the
screen, the simulated search arrival, the privacy page's labels, way back and two-step delete
(without JavaScript too), the cockpit preview, and the demo's holdout with its seeded numbers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from opmaat.bucketing import in_holdout
from opmaat_edge.cli import DEMO_PASSWORD

WIDTHS = (390, 1280)
NOW = time.time()
SHOP_PAGES = [
    "/",
    "/?demo_search=tent",
    "/campaigns",
    "/c/running",
    "/c/camping",
    "/product/trail-runner",
    "/cart",
    "/banner",
    "/ssr/",
    "/me",
    "/me?confirm=delete",
]
COCKPIT_PAGES = [
    "/cockpit",
    "/cockpit/preview",
    "/cockpit/preview?country=NL&city=Utrecht&cart_items=3&cart_value=120&cart_abandoned=1",
]
SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"

Contexts = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser, edge_url: str) -> Iterator[Contexts]:
    """Fresh visitors. The page's clock stands still (as in test_campaign_types.py), so a busy
    machine never runs out the snippet's 300 ms budget: every slot waits for its answer."""
    made: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        context = browser.new_context(base_url=edge_url, **options)
        if options.get("java_script_enabled", True):
            context.clock.install(time=NOW)
            context.clock.pause_at(NOW + 1)
        made.append(context)
        return context

    yield new
    for context in made:
        context.close()


def filled(page: Page, slot: str) -> Locator:
    element = page.locator(f"[data-opmaat-slot={slot}]")
    expect(element).to_have_attribute("data-opmaat-filled", "")
    return element


def log_in(page: Page) -> None:
    page.goto("/cockpit/login")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(new_context: Contexts, width: int) -> None:
    context = new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    wide = {}
    for path in SHOP_PAGES:
        page.goto(path)
        if page.evaluate(SIDEWAYS) > 0:
            wide[path] = page.evaluate(SIDEWAYS)
    log_in(page)
    for path in COCKPIT_PAGES:
        page.goto(path)
        if page.evaluate(SIDEWAYS) > 0:
            wide[path] = page.evaluate(SIDEWAYS)
    assert wide == {}


def test_a_search_arrival_works_as_the_home_page_tells_it(
    new_context: Contexts, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    # The home page's link, opened as the first page of a visit (a private window).
    link = new_context().new_page()
    link.goto("/")
    target = link.get_by_role("link", name="Arrive from a Google search for “tent”")
    href = target.get_attribute("href")
    assert href == "/?demo_search=tent"
    page = new_context().new_page()
    errors = console_of(page)
    page.goto(href)
    expect(page).to_have_url(f"{edge_url}/")  # the simulation leaves no trace in the address
    hero = filled(page, "hero")
    expect(hero).to_have_attribute("data-opmaat-campaign", "search-hero")
    expect(hero).to_contain_text("Everything for “tent”")
    expect(page.locator("#search-bar")).to_contain_text("Simulated")
    assert errors == []


def test_a_search_mid_visit_keeps_welcome_until_a_new_visit(new_context: Contexts) -> None:
    page = new_context().new_page()
    page.goto("/")  # a visit begins (a page with slots)
    filled(page, "hero")
    page.goto("/campaigns")
    explained = page.locator("#search")
    expect(explained).to_contain_text("In the middle of a visit the hero keeps “Welcome”")
    explained.get_by_role("link", name="Arrive from a Google search for “tent”").click()
    hero = filled(page, "hero")
    expect(hero).to_contain_text("Welcome to the Opmaat shop")
    page.goto("/campaigns")
    page.locator("#search-arrival-new-visit").click()
    hero = filled(page, "hero")
    expect(hero).to_have_attribute("data-opmaat-campaign", "search-hero")
    expect(hero).to_contain_text("Everything for “tent”")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_privacy_page_names_labels_leads_back_and_asks_before_deleting(
    new_context: Contexts, edge_url: str, width: int
) -> None:
    context = new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto("/c/running", referer="https://www.google.com/search?q=trail+shoes")
    filled(page, "hero")
    page.goto("/me")
    why = page.locator("#why + div table")
    expect(why).to_contain_text("A welcome for visitors from a search engine")
    expect(page.locator("main")).not_to_contain_text("search-hero")
    page.get_by_role("button", name="Delete everything about me").click()
    expect(page.get_by_role("alert")).to_contain_text("Delete everything we keep about you?")
    page.get_by_role("link", name="No, keep it").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    assert page.request.get("/v1/me").json()["stored"]["visits"] == 1
    page.get_by_role("link", name="← Back to Opmaat demo shop").first.click()
    expect(page).to_have_url(f"{edge_url}/")


def test_delete_everything_asks_first_without_javascript(new_context: Contexts) -> None:
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto("/ssr/")  # filled on the server: a profile without any script
    page.goto("/me")
    expect(page.locator("#where + ul")).to_contain_text("Visits: 1")
    page.get_by_role("button", name="Delete everything about me").click()
    expect(page).to_have_url(re.compile(r"/me\?confirm=delete#your-data$"))
    page.get_by_role("button", name="Yes, delete everything").click()
    expect(page.get_by_role("status")).to_have_text("Everything we kept about you is deleted.")
    assert not [c for c in context.cookies() if c["name"] == "opmaat"]


def test_with_personalization_off_no_topic_is_offered(new_context: Contexts) -> None:
    page = new_context().new_page()
    page.goto("/me")
    page.get_by_label("Off: always show me the standard content").check()
    page.get_by_role("button", name="Save my choice").click()
    expect(page.locator("#consent-state")).to_contain_text("Personalization is off")
    expect(page.get_by_label("Add a topic you like")).to_have_count(0)
    expect(page.locator("#interests + p")).to_contain_text("choose “On” under")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_cockpit_preview_places_utrecht_shows_text_and_logs_out(
    new_context: Contexts, edge_url: str, width: int
) -> None:
    page = new_context(viewport={"width": width, "height": 800}).new_page()
    log_in(page)
    page.get_by_role("link", name="Preview as a visitor").click()
    page.get_by_label("Country (two letters)").fill("NL")
    page.get_by_label("City").fill("Utrecht")
    page.get_by_label("Items in cart").fill("2")
    page.get_by_label("Cart abandoned").check()
    page.get_by_role("button", name="Show what they would see").click()
    store = page.locator("#preview-results tr[data-slot=store]")
    expect(store).to_have_attribute("data-campaign", "nearest-store")
    expect(store.locator("[data-cell=content]")).to_contain_text("Our Utrecht store is 0.0 km")
    hero = page.locator("#preview-results tr[data-slot=hero]")
    expect(hero.locator("[data-cell=reason]")).not_to_contain_text("<")
    expect(hero.locator("[data-cell=content]")).to_contain_text("Trail Runner 3, Road Racer")
    expect(hero.locator("[data-cell=content] pre")).not_to_be_visible()  # behind "HTML"
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{edge_url}/cockpit/login")


def test_the_cockpit_shows_the_demos_uplift_marked_as_seeded(new_context: Contexts) -> None:
    page = new_context().new_page()
    log_in(page)
    card = page.locator("#c-third-visit")
    expect(card.locator("[data-field=seeded]")).to_contain_text("Seeded demo data")
    # Other browser tests may add a visitor or two to these numbers: the shape, not the digits.
    uplift = card.locator('tr[data-arm="a"] [data-cell=uplift]')
    expect(uplift).to_have_text(re.compile(r"^\+\d+\.\d% \(95% CI [+-]\d+\.\d% to \+\d+\.\d%\)$"))
    expect(card.locator("figure")).to_have_count(3)  # the rate chart with its intervals
    expect(card.locator("[data-field=label]")).to_contain_text("A discount on your third visit")


def test_the_third_visit_shows_the_code_or_the_holdout_as_the_visitor_id_says(
    new_context: Contexts,
) -> None:
    # Which arm a visitor is in follows from their id (the engine's own bucketing), so the test
    # knows which of the two this visitor must see: never a random outcome.
    page = new_context().new_page()
    for visit in ("one", "two", "three"):
        page.goto(f"/?utm_campaign={visit}")
        offer = filled(page, "offer")
    me = page.request.get("/v1/me").json()
    assert me["visitor"]["visits"] == 3
    expect(offer).to_have_attribute("data-opmaat-campaign", "third-visit")
    if in_holdout("third-visit", me["visitor"]["id"], 0.2):
        expect(offer).not_to_have_attribute("data-opmaat-variant", re.compile(".+"))
        expect(offer).to_have_text("")
    else:
        expect(offer).to_have_attribute("data-opmaat-variant", "a")
        expect(offer).to_contain_text("Third time here")
