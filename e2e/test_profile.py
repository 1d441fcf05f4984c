"""What the edge learns about a visitor in Chromium shows up in /v1/me."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def test_amsterdam_mobile_visitor_from_google(browser: Browser, edge_url: str) -> None:
    context = browser.new_context(
        base_url=edge_url,
        user_agent=IPHONE,
        viewport={"width": 390, "height": 844},
        extra_http_headers={"X-Forwarded-For": "203.0.113.7"},
    )
    page = context.new_page()
    page.goto("/?utm_source=newsletter&utm_campaign=autumn", referer="https://www.google.com/")
    expect(page.locator("[data-opmaat-slot=sidebar]")).to_have_attribute("data-opmaat-filled", "")
    me = page.request.get("/v1/me").json()
    assert me["geo"]["city"] == "Amsterdam"
    assert me["geo"]["country"] == "NL"
    assert me["geo"]["timezone"] == "Europe/Amsterdam"
    assert me["referrer"]["medium"] == "search"
    assert me["referrer"]["source"] == "google"
    assert me["device"]["type"] == "mobile"
    assert me["utm"]["campaign"] == "autumn"
    assert me["visitor"]["visits"] == 1
    assert me["session"]["landing_url"].endswith("/?utm_source=newsletter&utm_campaign=autumn")
    # The mobile campaign fills the sidebar; the cookie is HttpOnly, so page scripts cannot read it.
    expect(page.locator("[data-opmaat-slot=sidebar]")).to_contain_text("Shopping on your phone?")
    assert page.evaluate("document.cookie") == ""
    context.close()
