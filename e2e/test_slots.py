"""A person opening the demo shop in Chromium sees slots filled (or left alone) by the edge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Browser, Page, Route, expect

GOOGLE = "https://www.google.com/"


def test_visitor_from_google_search_sees_search_hero(
    browser: Browser, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    context = browser.new_context(base_url=edge_url)
    page = context.new_page()
    errors = console_of(page)
    page.goto("/", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_have_attribute("data-opmaat-campaign", "search-hero")
    expect(hero).to_contain_text("Found us on Google?")
    assert errors == []
    context.close()


def test_direct_visitor_sees_default_hero(page: Page, console_errors: list[str]) -> None:
    page.goto("/")
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_have_attribute("data-opmaat-filled", "")
    expect(hero).to_contain_text("Welcome to the Opmaat shop")
    expect(hero).not_to_have_attribute("data-opmaat-campaign", "search-hero")
    assert console_errors == []


def test_default_content_stays_when_edge_unreachable(page: Page, console_errors: list[str]) -> None:
    def abort(route: Route) -> None:
        route.abort("connectionrefused")

    page.route("**/v1/decide", abort)
    page.goto("/", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_be_visible()
    expect(hero).to_contain_text("Welcome to the Opmaat shop")
    expect(hero).not_to_have_attribute("data-opmaat-campaign", "search-hero")
    page.wait_for_timeout(300)
    expect(hero).to_contain_text("Welcome to the Opmaat shop")
    errors = [e for e in console_errors if "ERR_CONNECTION_REFUSED" not in e]
    assert errors == []


def test_amsterdam_visitor_through_trusted_proxy(browser: Browser, edge_url: str) -> None:
    context = browser.new_context(
        base_url=edge_url, extra_http_headers={"X-Forwarded-For": "203.0.113.7"}
    )
    page = context.new_page()
    page.goto("/")
    expect(page.locator("[data-opmaat-slot=hero]")).to_contain_text("Goedendag, Amsterdam!")
    context.close()


def test_one_decide_request_for_all_slots(page: Page) -> None:
    seen: list[Any] = []
    page.on("request", lambda r: seen.append(r) if "/v1/decide" in r.url else None)
    page.goto("/")
    expect(page.locator("[data-opmaat-slot=sidebar]")).to_have_attribute("data-opmaat-filled", "")
    assert len(seen) == 1
    slots = ["hero", "offer", "picks", "promo", "sidebar", "store"]
    assert sorted(seen[0].post_data_json["slots"]) == slots


def test_runs_in_debians_chromium(browser: Browser) -> None:
    import subprocess

    out = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout
    assert browser.version in out
