"""What visitors and site owners notice of the snippet in Chromium: timing, layout, events."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserType, Page, Request, Route, expect

GOOGLE = "https://www.google.com/"
STUB = (
    "<script>window.opmaat=window.opmaat||"
    "function(){(opmaat.q=opmaat.q||[]).push(arguments)}</script>"
)
LATE_ANSWER = {
    "slots": {"hero": {"campaign": "late-hero", "variant": "b", "html": "<h2>Too late</h2>"}}
}


def serve_page(page: Page, url: str, body: str, head: str = "") -> None:
    """Serve a test-only page at `url` on the edge's origin: /opmaat.js and the cookie are real."""
    html = (
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f'{STUB}{head}<script async src="/opmaat.js"></script></head><body>{body}</body></html>'
    )
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=html))


def watch(page: Page, path: str, kind: str | None = None) -> list[Request]:
    """Requests to `path` the page sends from now on (only events of type `kind` if given)."""
    seen: list[Request] = []

    def on_request(request: Request) -> None:
        if request.url.split("?")[0].endswith(path) and (
            kind is None or (request.post_data_json or {}).get("type") == kind
        ):
            seen.append(request)

    page.on("request", on_request)
    return seen


def body(request: Request) -> dict[str, Any]:
    data = request.post_data_json
    assert isinstance(data, dict)
    return data


def status_of(request: Request) -> int:
    response = request.response()
    assert response is not None
    return response.status


def is_event(kind: str, **fields: str) -> Callable[[Request], bool]:
    def match(request: Request) -> bool:
        if not request.url.endswith("/v1/events"):
            return False
        data = request.post_data_json or {}
        return data.get("type") == kind and all(data.get(k) == v for k, v in fields.items())

    return match


@pytest.mark.parametrize("late", [True, False], ids=["late-answer", "answer-in-time"])
def test_answer_after_the_budget_is_ignored(
    page: Page, console_errors: list[str], late: bool
) -> None:
    held: list[Route] = []

    def hold(route: Route) -> None:
        if late:
            held.append(route)
        else:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(LATE_ANSWER))

    page.route("**/v1/decide", hold)
    page.goto("/")
    hero = page.locator("[data-opmaat-slot=hero]")
    if not late:
        expect(hero).to_have_attribute("data-opmaat-campaign", "late-hero")
        expect(hero).to_have_text("Too late")
        assert console_errors == []
        return
    page.wait_for_timeout(500)  # the budget is 300 ms
    assert len(held) == 1
    expect(hero).to_be_visible()
    expect(hero).to_contain_text("Welcome to the Opmaat shop")
    with page.expect_response("**/v1/decide"):
        held[0].fulfill(status=200, content_type="application/json", body=json.dumps(LATE_ANSWER))
    page.wait_for_timeout(300)
    expect(hero).to_contain_text("Welcome to the Opmaat shop")
    expect(hero).not_to_have_attribute("data-opmaat-campaign", "late-hero")
    expect(hero).to_be_visible()
    assert console_errors == []


LAYOUT_SHIFT = """() => new Promise(done => {
  let sum = 0;
  new PerformanceObserver(list => { for (const e of list.getEntries()) sum += e.value; })
    .observe({type: "layout-shift", buffered: true});
  setTimeout(() => done(sum), 200);
})"""


@pytest.mark.parametrize(
    ("style", "shifts"),
    [("min-height:160px", False), ("", True)],
    ids=["size-reserved", "control-size-not-reserved"],
)
def test_filling_a_reserved_slot_shifts_nothing(
    page: Page, edge_url: str, console_errors: list[str], style: str, shifts: bool
) -> None:
    answer = {
        "slots": {"hero": {"campaign": "c", "html": '<div style="height:120px">Filled</div>'}}
    }
    page.route(
        "**/v1/decide",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(answer)
        ),
    )
    serve_page(
        page,
        edge_url + "/test/layout",
        f'<h1>Shop</h1><div data-opmaat-slot="hero" style="{style}"><p>Default</p></div>'
        "<p>Content below the slot</p>",
    )
    page.goto("/test/layout")
    expect(page.locator("[data-opmaat-slot=hero]")).to_have_text("Filled")
    page.wait_for_timeout(200)
    total = page.evaluate(LAYOUT_SHIFT)
    assert (total > 0) is shifts, total
    assert console_errors == []


def test_impression_only_once_the_slot_is_seen(
    page: Page, edge_url: str, console_errors: list[str]
) -> None:
    impressions = watch(page, "/v1/events", "impression")
    serve_page(
        page,
        edge_url + "/test/below-the-fold",
        '<div style="height:3000px">Scroll down</div>'
        '<div data-opmaat-slot="hero" style="min-height:160px"><p>Default</p></div>'
        '<div style="height:400px"></div>',
    )
    page.goto("/test/below-the-fold", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_have_attribute("data-opmaat-campaign", "search-hero")
    page.wait_for_timeout(1500)
    assert impressions == []
    scrolled = time.monotonic()
    with page.expect_request(is_event("impression"), timeout=5000) as seen:
        hero.scroll_into_view_if_needed()
    assert time.monotonic() - scrolled >= 1.0
    sent = body(seen.value)
    assert (sent["slot"], sent["campaign"], sent["variant"]) == ("hero", "search-hero", "a")
    # The decision's token, from the decide answer through the slot to the event.
    assert len(sent["token"]) == 40
    expect(hero).to_have_attribute("data-opmaat-token", sent["token"])
    page.wait_for_timeout(300)
    assert status_of(seen.value) == 200
    page.wait_for_timeout(1200)
    assert len(impressions) == 1
    assert console_errors == []


def test_a_refilled_slot_carries_only_its_new_decisions_marks(
    page: Page, console_errors: list[str]
) -> None:
    page.goto("/", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_have_attribute("data-opmaat-token", re.compile(r"^[\w-]{40}$"))
    first = hero.get_attribute("data-opmaat-token")
    with page.expect_response("**/v1/decide"):
        page.evaluate("opmaat.refresh()")
    expect(hero).not_to_have_attribute("data-opmaat-token", first or "")
    expect(hero).to_have_attribute("data-opmaat-token", re.compile(r"^[\w-]{40}$"))
    # Default content this time: no campaign, so no variant or token left behind either.
    default = {"slots": {"hero": {"slot": "hero", "campaign": None, "html": None}}}
    page.route("**/v1/decide", lambda route: route.fulfill(json=default))
    with page.expect_response("**/v1/decide"):
        page.evaluate("opmaat.refresh()")
    for mark in ("campaign", "variant", "token"):
        expect(hero).not_to_have_attribute(f"data-opmaat-{mark}", re.compile(".*"))
    assert console_errors == []


def test_click_inside_a_filled_slot_is_reported(page: Page, console_errors: list[str]) -> None:
    clicks = watch(page, "/v1/events", "click")
    page.goto("/", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_have_attribute("data-opmaat-campaign", "search-hero")
    page.locator("footer").click()
    page.wait_for_timeout(300)
    assert clicks == []  # a click outside every campaign slot is no response to a campaign
    with page.expect_request(is_event("click", slot="hero", campaign="search-hero")) as seen:
        hero.locator("h2").click()
    page.wait_for_timeout(300)
    assert status_of(seen.value) == 200
    assert len(clicks) == 1
    assert console_errors == []


def test_goal_from_add_to_cart_reaches_the_edge(page: Page, console_errors: list[str]) -> None:
    page.goto("/product/trail-runner")
    expect(page.locator("[data-opmaat-slot=sidebar]")).to_have_attribute("data-opmaat-filled", "")
    with page.expect_response(lambda r: is_event("goal", name="add_to_cart")(r.request)) as seen:
        page.get_by_role("button", name="Add to cart").click()
    assert seen.value.status == 200
    assert body(seen.value.request)["props"] == {
        "id": "trail-runner",
        "name": "Trail Runner 3",
        "price": 129,
        "category": "running",
        "url": "/product/trail-runner",
    }
    assert console_errors == []


def test_single_page_app_navigation_decides_again(
    page: Page, edge_url: str, console_errors: list[str]
) -> None:
    decides = watch(page, "/v1/decide")
    serve_page(
        page,
        edge_url + "/test/spa",
        '<div data-opmaat-slot="hero" style="min-height:160px"><p>Default</p></div>',
    )
    page.goto("/test/spa")
    expect(page.locator("[data-opmaat-slot=hero]")).to_have_attribute("data-opmaat-filled", "")
    assert [body(r)["url"] for r in decides] == [edge_url + "/test/spa"]

    with page.expect_request("**/v1/decide") as second:
        page.evaluate("history.pushState({}, '', '/test/spa/shoes')")
    assert body(second.value)["url"] == edge_url + "/test/spa/shoes"

    page.evaluate("history.pushState({}, '', '/test/spa/shoes')")
    page.evaluate("history.pushState({}, '', '/test/spa/shoes#reviews')")
    page.wait_for_timeout(500)
    assert len(decides) == 2  # the same path again is no new page

    with page.expect_request("**/v1/decide") as back:
        page.evaluate("history.go(-3)")
    assert body(back.value)["url"] == edge_url + "/test/spa"
    page.wait_for_timeout(300)
    assert len(decides) == 3
    assert console_errors == []


def test_calls_queued_before_the_script_loads_are_replayed_once(
    page: Page, edge_url: str, console_errors: list[str]
) -> None:
    goals = watch(page, "/v1/events", "goal")
    serve_page(
        page,
        edge_url + "/test/early",
        '<div data-opmaat-slot="hero" style="min-height:160px"><p>Default</p></div>',
        head='<script>opmaat("track", "signup")</script>',
    )
    page.goto("/test/early")
    expect(page.locator("[data-opmaat-slot=hero]")).to_have_attribute("data-opmaat-filled", "")
    page.wait_for_timeout(1000)
    assert [body(r)["name"] for r in goals] == ["signup"]
    assert status_of(goals[0]) == 200
    page.evaluate("opmaat.refresh()")
    page.wait_for_timeout(500)
    assert len(goals) == 1
    assert console_errors == []


def test_unreachable_edge_raises_nothing_in_the_page(page: Page, console_errors: list[str]) -> None:
    page.route("**/v1/*", lambda route: route.abort())
    page.goto("/product/trail-runner")
    sidebar = page.locator("[data-opmaat-slot=sidebar]")
    page.wait_for_timeout(400)
    expect(sidebar).to_be_visible()
    expect(sidebar).to_contain_text("Free shipping")
    page.get_by_role("button", name="Add to cart").click()
    page.evaluate("opmaat.refresh(); opmaat.consent({tier: 'full'}); opmaat.identify('C-1')")
    page.wait_for_timeout(500)
    expect(sidebar).to_contain_text("Free shipping")
    # Chromium itself logs each failed request; anything else would come from the snippet.
    errors = [e for e in console_errors if "net::ERR_FAILED" not in e]
    assert errors == []


def test_consent_banner_page_decides_from_context_until_the_visitor_answers(
    browser: Browser, edge_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    context = browser.new_context(base_url=edge_url)
    page = context.new_page()
    errors = console_of(page)
    decides = watch(page, "/v1/decide")
    page.goto("/banner", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_contain_text("Found us on Google?")  # context alone may personalize
    assert body(decides[0])["consent"] == "none"
    first = decides[0].response()
    assert first is not None
    assert first.json()["consent"] == "none"
    assert not [c for c in context.cookies() if c["name"] == "opmaat"]

    with page.expect_request("**/v1/consent") as consent:
        page.get_by_role("button", name="Yes, remember me").click()
    assert body(consent.value) == {"tier": "full", "consent": "none"}
    deadline = time.monotonic() + 5
    while len(decides) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    again = decides[1].response()
    assert again is not None
    assert again.json()["consent"] == "full"
    (cookie,) = [c for c in context.cookies() if c["name"] == "opmaat"]
    assert cookie["expires"] > time.time() + 86400
    page.reload()
    expect(hero).to_have_attribute("data-opmaat-filled", "")
    last = decides[-1].response()
    assert last is not None
    assert last.json()["consent"] == "full"  # the answer holds
    assert errors == []
    context.close()


def test_identify_links_the_visitor_and_decides_again(
    page: Page, console_errors: list[str]
) -> None:
    decides = watch(page, "/v1/decide")
    page.goto("/")
    expect(page.locator("[data-opmaat-slot=hero]")).to_have_attribute("data-opmaat-filled", "")
    # The proof the site's server signs for a customer id (the demo's guide page renders it).
    guide = page.request.get("/campaigns").text()
    found = re.search(r'data-customer="c-1003" data-proof="([^"]+)"', guide)
    assert found is not None
    with page.expect_request("**/v1/identify") as identify:
        page.evaluate("([id, proof]) => opmaat('identify', id, proof)", ["c-1003", found[1]])
    assert body(identify.value) == {"customer_id": "c-1003", "proof": found[1]}
    deadline = time.monotonic() + 5
    while len(decides) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(decides) == 2
    assert page.request.get("/v1/me").json()["customer"]["id"] == "c-1003"
    assert console_errors == []


def test_back_forward_cache_restore_decides_again(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any], edge_url: str
) -> None:
    # Playwright turns the back/forward cache off by default; this test needs it on.
    browser = browser_type.launch(
        **browser_type_launch_args, ignore_default_args=["--disable-back-forward-cache"]
    )
    try:
        page = browser.new_page(base_url=edge_url)
        page.add_init_script("addEventListener('pageshow', e => { window.restored = e.persisted })")
        decides = watch(page, "/v1/decide")
        page.goto("/")
        hero = page.locator("[data-opmaat-slot=hero]")
        expect(hero).to_have_attribute("data-opmaat-filled", "")
        page.get_by_role("link", name="Running").first.click()
        page.wait_for_url("**/c/running")
        expect(hero).to_have_attribute("data-opmaat-filled", "")
        assert len(decides) == 2
        page.evaluate("history.back()")  # page.go_back() waits for a load that never comes
        page.wait_for_function("location.pathname == '/' && window.restored === true")
        deadline = time.monotonic() + 5
        while len(decides) < 3 and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert len(decides) == 3
        assert body(decides[2])["url"].endswith("/")
    finally:
        browser.close()


def test_a_server_filled_slot_from_a_shared_cache_is_decided_for_its_token(
    page: Page, edge_url: str, console_errors: list[str]
) -> None:
    # A page a CDN kept (cdn_key): the slot is filled and marked, but carries nobody's token.
    decides = watch(page, "/v1/decide")
    serve_page(
        page,
        edge_url + "/test/cached",
        '<div data-opmaat-slot="hero" data-opmaat-filled="server"'
        ' data-opmaat-campaign="search-hero" data-opmaat-variant="a"><h2>Cached</h2></div>'
        '<div data-opmaat-slot="side" data-opmaat-filled="server"><p>Kept</p></div>',
    )
    page.goto("/test/cached", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_have_attribute("data-opmaat-token", re.compile(r"^[\w-]{40}$"))
    assert [body(r)["slots"] for r in decides] == [["hero"]]  # the default slot is kept as is
    assert console_errors == []


def test_server_filled_page_needs_no_decide_and_still_reports_impressions(
    page: Page, console_errors: list[str]
) -> None:
    decides = watch(page, "/v1/decide")
    impressions = watch(page, "/v1/events", "impression")
    page.goto("/ssr/", referer=GOOGLE)
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_have_attribute("data-opmaat-filled", "server")
    expect(hero).to_contain_text("Found us on Google?")
    # Filled in the HTML itself: what the server sent already has the campaign in it.
    html = page.request.get("/ssr/").text()
    assert 'data-opmaat-campaign="search-hero"' in html
    page.wait_for_timeout(1500)
    assert decides == []
    assert sorted(body(r)["campaign"] for r in impressions) == ["interest-sidebar", "search-hero"]
    # Counted by the edge: the server-filled slots carry their decisions' tokens.
    assert all(len(body(r)["token"]) == 40 for r in impressions)
    assert [status_of(r) for r in impressions] == [200, 200]
    page.evaluate("opmaat.refresh()")  # an explicit refresh decides every slot again
    deadline = time.monotonic() + 5
    while not decides and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert sorted(body(decides[0])["slots"]) == ["hero", "sidebar"]
    expect(hero).to_have_attribute("data-opmaat-filled", "")
    assert console_errors == []
