"""Recommendations in Chromium: on the demo shop's product pages a "viewed together" slot lists
what other visitors viewed with the products this visitor viewed, each item with its reason
(the demo's model starts with seeded sessions of made-up visitors: demo_recommendations.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

NOW = time.time()
SOCKS = "people who viewed Merino running socks also viewed this"


@pytest.fixture
def page(browser: Browser, edge_url: str) -> Iterator[Page]:
    # A fresh visitor whose timers stand still, so the snippet waits for every real answer
    # (see e2e/test_campaign_types.py).
    context: BrowserContext = browser.new_context(base_url=edge_url)
    context.clock.install(time=NOW)
    context.clock.pause_at(NOW + 1)
    yield context.new_page()
    context.close()


def related(page: Page) -> Locator:
    slot = page.locator("[data-opmaat-slot=related]")
    expect(slot).to_have_attribute("data-opmaat-filled", "")
    return slot


def test_a_visitor_who_viewed_two_products_sees_what_was_viewed_with_them(
    page: Page, console_of: Callable[[Any], list[str]]
) -> None:
    errors = console_of(page)
    page.goto("/product/trail-runner")
    slot = related(page)
    expect(slot).to_have_attribute("data-opmaat-campaign", "viewed-together")
    expect(slot.locator(".reason").first).to_have_text(
        "people who viewed Trail Runner 3 also viewed this"
    )

    page.goto("/product/run-socks")
    slot = related(page)
    expect(slot.get_by_role("heading")).to_have_text("Viewed together")
    items = slot.get_by_role("listitem")
    expect(items).to_have_count(4)
    expect(items.first.locator(".reason")).to_have_text(SOCKS)  # the most recent view first
    reasons = slot.locator(".reason").all_inner_texts()
    assert reasons[-1] == "something different"  # one of four is drawn from outside running
    assert all(r.startswith("people who viewed ") for r in reasons[:-1])
    names = slot.get_by_role("link").all_inner_texts()
    assert "Trail Runner 3" not in names  # what the visitor viewed is not recommended back
    assert "Merino running socks" not in names

    first = slot.get_by_role("link").first
    target = first.get_attribute("href")
    first.click()
    assert target is not None
    expect(page).to_have_url(re.compile(re.escape(target) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(names[0])
    assert errors == []
