"""Issue 12, no XSS, in Chromium: classic payloads sent by the visitor through every way in
(the referrer's search term, UTM parameters, page metadata, event props) come back as text in
the demo's slots (the search hero, the server-filled /ssr/ hero, the cart banner, the
remarketing hero) and on the privacy page. No dialog opens, no element is injected, no script
carries the payload, and the CSP never has to block anything.

PURL fields (from the recipients file) are covered in tests/edge/test_guard.py.
"""

from __future__ import annotations

import html
import json
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Dialog, Page, expect

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "</script><svg onload=alert(1)>",
    "{{7*7}}",
    "'-alert(1)-'",
    '<a href="javascript:alert(1)">x</a>',
]
TIMES = "\N{MULTIPLICATION SIGN}"
INJECTED = (
    "img, svg, iframe, object, embed, [onerror], [onload], [onclick], "
    "a[href^='javascript:' i], [src^='javascript:' i]"
)
RAN = """() => [...document.scripts].filter(
  (s) => s.textContent.includes("alert(1)") || (s.src || "").includes("alert")).length"""
# Every CSP violation of every document the page loads: a blocked inline handler or script
# would mean the escaping failed and only the policy stood in the way.
WATCH_CSP = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__violations = window.__violations || []).push(e.violatedDirective + " " + e.sample);
});"""


STUB = (
    "<script>window.opmaat=window.opmaat||"
    "function(){(opmaat.q=opmaat.q||[]).push(arguments)}</script>"
)


def serve_page(page: Page, url: str, body: str, head: str = "") -> None:
    """A page of the site at ``url`` on the edge's origin (as e2e/test_snippet.py serves
    them): /opmaat.js and the cookie are real."""
    doc = (
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f'{STUB}{head}<script async src="/opmaat.js"></script></head><body>{body}</body></html>'
    )
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=doc))


def assert_clean(page: Page) -> None:
    assert page.locator(INJECTED).count() == 0, page.locator(INJECTED).first.evaluate(
        "(el) => el.outerHTML"
    )
    assert page.evaluate(RAN) == 0
    assert page.evaluate("() => window.__violations || []") == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_visitor_values_stay_text_everywhere(page: Page, edge_url: str, payload: str) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.add_init_script(WATCH_CSP)
    hero = page.locator("[data-opmaat-slot=hero]")
    google = "https://www.google.com/search?" + urlencode({"q": payload})

    # The referrer's search term and the UTM parameters: the search hero prints them.
    utm = {"utm_medium": "organic", "utm_source": payload, "utm_campaign": payload}
    page.goto("/?" + urlencode(utm), referer=google)
    expect(hero).to_have_attribute("data-opmaat-campaign", "search-hero")
    expect(hero).to_contain_text(f"Everything for “{payload}”")
    assert_clean(page)

    # The same hero filled on the server, inside the page's HTML.
    page.goto("/ssr/", referer=google)
    expect(hero).to_have_attribute("data-opmaat-filled", "server")
    expect(hero).to_contain_text(f"Everything for “{payload}”")
    assert_clean(page)

    # The privacy page: how the visitor arrived and the campaign link.
    page.goto("/me")
    body = page.locator("body")
    expect(body).to_contain_text(f"for “{payload}”")
    expect(body).to_contain_text(f"Campaign link: {payload}")
    assert_clean(page)

    # Page metadata and event props, on a page of the site that carries them.
    meta = {"category": payload, "product": payload, "product_name": payload}
    serve_page(
        page,
        edge_url + "/test/xss",
        f'<div data-opmaat-page="{html.escape(json.dumps(meta))}"></div>'
        '<div data-opmaat-slot="sidebar"><p>Default</p></div>'
        '<div data-opmaat-slot="offer"></div>',
        head=f'<meta name="opmaat:category" content="{html.escape(payload)}">',
    )
    with page.expect_request("**/v1/decide") as decided:
        page.goto("/test/xss")
    decide_body = decided.value.post_data_json
    assert isinstance(decide_body, dict)
    sent_page = decide_body["page"]
    assert (sent_page["category"], sent_page["product_name"]) == (payload, payload)
    expect(page.locator("[data-opmaat-slot=sidebar]")).to_have_attribute("data-opmaat-filled", "")
    products = [
        {"id": "xss-1", "name": payload, "price": 10, "category": "running"},
        {"id": payload, "price": 5},  # no name: the templates show the id
    ]
    for product in products:
        with page.expect_response("**/v1/events") as sent:
            page.evaluate("(p) => opmaat('track', 'add_to_cart', p)", product)
        assert sent.value.status == 200, sent.value.text()
    assert_clean(page)

    # The cart banner lists the items by name (or id).
    page.goto("/cart")
    banner = page.locator("[data-opmaat-slot=cart_banner]")
    expect(banner).to_have_attribute("data-opmaat-campaign", "cart-contents")
    expect(banner).to_contain_text(f"1 {TIMES} {payload}, 1 {TIMES} {payload}")
    assert_clean(page)

    # A new session (another campaign link): the cart is abandoned, the remarketing hero
    # names what was left in it.
    page.goto("/?utm_campaign=back-again")
    expect(hero).to_have_attribute("data-opmaat-campaign", "cart-reminder")
    expect(hero).to_contain_text(f"You left {payload}, {payload}")
    assert_clean(page)

    # The privacy page again, with the decisions and their reasons.
    page.goto("/me")
    expect(page.locator("#why")).to_be_visible()
    expect(page.locator("#why + div table")).to_contain_text("A reminder of what is in your cart")
    assert_clean(page)

    assert dialogs == []
