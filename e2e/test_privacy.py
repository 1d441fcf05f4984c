"""The visitor in control, in Chromium: GPC, the privacy page, export, delete and opt-out."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

GOOGLE = "https://www.google.com/search?q=trail+shoes"
AMSTERDAM = {"X-Forwarded-For": "203.0.113.7"}

# Contrast ratios (WCAG 2) of every visible text element against the background it sits on.
CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll("h1,h2,p,li,td,th,label,a,button,legend,caption")) {
    if (!el.getClientRects().length || !el.textContent.trim()) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push([el.tagName + ": " + el.textContent.trim().slice(0, 30), ratio]);
  }
  return out;
}"""

UNLABELLED = """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
  .map((el) => el.outerHTML)"""

HEADINGS = """() => [...document.querySelectorAll("h1,h2,h3,h4,h5,h6")].map((h) => +h.tagName[1])"""


def visitor(browser: Browser, edge_url: str, **options: Any) -> BrowserContext:
    headers = {**AMSTERDAM, **options.pop("headers", {})}
    return browser.new_context(base_url=edge_url, extra_http_headers=headers, **options)


def browse_running(page: Page) -> None:
    page.goto("/c/running", referer=GOOGLE)
    expect(page.locator("[data-opmaat-slot=hero]")).to_have_attribute("data-opmaat-filled", "")


def test_gpc_visitor_gets_no_persistent_cookie(browser: Browser, edge_url: str) -> None:
    context = visitor(browser, edge_url, headers={"Sec-GPC": "1"})
    page = context.new_page()
    browse_running(page)
    (cookie,) = [c for c in context.cookies() if c["name"] == "opmaat"]
    assert cookie["expires"] == -1  # a session cookie: gone when the browser closes
    me = page.request.get("/v1/me").json()
    assert me["consent"]["tier"] == "session"
    assert me["consent"]["capped_by"] == "gpc"
    page.goto("/me")
    expect(page.locator("#consent-state")).to_contain_text("Global Privacy Control")
    context.close()


def test_without_gpc_the_cookie_persists(browser: Browser, edge_url: str) -> None:
    context = visitor(browser, edge_url)
    browse_running(context.new_page())
    (cookie,) = [c for c in context.cookies() if c["name"] == "opmaat"]
    assert cookie["expires"] > time.time() + 300 * 86400
    context.close()


def test_privacy_page_shows_why_exports_and_deletes(
    browser: Browser, edge_url: str, tmp_path: Path, console_of: Callable[[Any], list[str]]
) -> None:
    context = visitor(browser, edge_url, accept_downloads=True)
    page = context.new_page()
    errors = console_of(page)
    browse_running(page)
    page.get_by_role("link", name="Your data and why you see what you see").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data and personalization")
    expect(page.locator("#where + ul")).to_contain_text("Amsterdam, NL")
    expect(page.get_by_role("cell", name="running", exact=True)).to_be_visible()
    why = page.locator("#why + div table")
    expect(why).to_contain_text("A welcome for visitors from a search engine")  # its label
    expect(why).not_to_contain_text("Visitors from a search engine")  # the marketers' name
    expect(why).to_contain_text("you came from a Google search for 'trail shoes'")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download everything as JSON").click()
    saved = tmp_path / "me.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["stored"]["visits"] == 1
    assert exported["interests"]["top"] == "running"
    assert any(d["campaign"] == "search-hero" for d in exported["decisions"])

    page.get_by_role("button", name="Delete everything about me").click()
    expect(page.get_by_role("alert")).to_contain_text("Delete everything we keep about you?")
    assert page.request.get("/v1/me").json()["stored"]["visits"] == 1  # only asked so far
    page.get_by_role("button", name="Yes, delete everything").click()
    expect(page.get_by_role("status")).to_have_text("Everything we kept about you is deleted.")
    assert not [c for c in context.cookies() if c["name"] == "opmaat"]
    after = page.request.get("/v1/me").json()
    assert after["stored"] == {}
    assert after["visitor"]["visits"] == 0
    assert after["interests"] == {"top": None}
    assert errors == []
    context.close()


def test_a_visitor_who_opts_out_sees_only_default_content(browser: Browser, edge_url: str) -> None:
    context = visitor(browser, edge_url)
    page = context.new_page()
    page.goto("/", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_contain_text("Found us on Google?")
    page.goto("/me")
    page.get_by_label("Off: always show me the standard content").check()
    page.get_by_role("button", name="Save my choice").click()
    expect(page.locator("#consent-state")).to_contain_text("Personalization is off")
    page.goto("/", referer=GOOGLE)
    expect(hero).to_have_attribute("data-opmaat-filled", "")
    expect(hero).to_contain_text("Welcome to the Opmaat shop")
    expect(hero).not_to_have_attribute("data-opmaat-campaign", "search-hero")
    assert not [c for c in context.cookies() if c["name"] == "opmaat"]
    context.close()


def test_interest_preferences_change_what_the_sidebar_shows(
    browser: Browser, edge_url: str
) -> None:
    context = visitor(browser, edge_url)
    page = context.new_page()
    browse_running(page)
    page.goto("/")
    sidebar = page.locator("[data-opmaat-slot=sidebar]")
    expect(sidebar).to_contain_text("Picked for you: more running")
    page.goto("/me")
    page.get_by_label("Add a topic you like").fill("cycling")
    page.get_by_label("Your choice for running").select_option("less")
    page.get_by_role("button", name="Save my interests").click()
    expect(page.get_by_role("status")).to_have_text("Your preferences are saved.")
    page.goto("/")
    expect(sidebar).to_contain_text("Picked for you: more cycling")
    context.close()


def test_privacy_page_reads_well_on_a_phone(
    browser: Browser, edge_url: str, pytestconfig: pytest.Config
) -> None:
    context = visitor(browser, edge_url, viewport={"width": 375, "height": 740})
    page = context.new_page()
    browse_running(page)
    page.goto("/me")
    artifacts = Path(str(pytestconfig.getoption("--output")))
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / "privacy-page-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.evaluate(UNLABELLED) == []
    levels = page.evaluate(HEADINGS)
    assert levels[0] == 1
    assert levels.count(1) == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels))
    low = [(what, round(r, 2)) for what, r in page.evaluate(CONTRAST) if r < 4.5]
    assert low == []
    assert page.evaluate("document.documentElement.lang") == "en"
    context.close()
