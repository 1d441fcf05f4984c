"""Making a campaign in the cockpit, in Chromium, on two edge nodes sharing one Redis: an editor
builds "visitors from Germany on a phone who came from the newsletter" with a variant that
greets their city and previews it, a publisher publishes it, a matching visitor on the *other*
node sees it within the reload interval, a restore takes it away again, and a viewer sees no
edit controls."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e.conftest import start_edge, stop_edge
from playwright.sync_api import Browser, BrowserContext, Page, expect
from tests.redis.conftest import REDIS, RedisServer, free_port

from opmaat_edge import user_cli
from opmaat_edge.cockpit.preview import AGENTS
from opmaat_edge.resources import DEMO

pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")

PASSWORD = "a password for the e2e test"
BERLIN = "192.0.2.10"  # the demo's geo database puts it in Berlin
WORDS = "country is DE and device is mobile and UTM source is newsletter"
RELOAD = 0.25


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two edges (the demo shop, each with its own copy of the campaign file) on one Redis,
    with an editor, a publisher and a viewer."""
    base = tmp_path_factory.mktemp("nodes")
    redis = RedisServer(free_port(), base)
    redis.start()
    started: list[Any] = []
    try:
        urls = []
        for name in ("a", "b"):
            folder = base / name
            # Not what tests on the packaged demo file may have left beside it.
            shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("*.cockpit", "*.json"))
            config = folder / "campaigns.yaml"
            if name == "a":
                for role in ("editor", "publisher", "viewer"):
                    # In a thread of its own: Playwright's event loop runs in this one.
                    with ThreadPoolExecutor(1) as pool:
                        added = pool.submit(
                            user_cli.add, str(config), redis.url, role, role, PASSWORD
                        )
                        assert added.result() == 0
            url, proc = start_edge(
                # A second for Redis: the machine may be busy; no test of timeouts here.
                [
                    "serve",
                    "--config",
                    str(config),
                    "--store",
                    redis.url + "?timeout_ms=1000",
                    "--dev",
                ],
                {
                    "OPMAAT_SECRET_KEYS": "e2e-cockpit-editor-signing-key-0123456789",
                    "OPMAAT_DEMO": "1",
                    "OPMAAT_RELOAD_INTERVAL": str(RELOAD),
                    "OPMAAT_LOG_FORMAT": "text",
                },
            )
            started.append(proc)
            urls.append(url)
        yield urls[0], urls[1]
    finally:
        for proc in started:
            stop_edge(proc)
        redis.stop()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    made: list[BrowserContext] = []

    def new(base_url: str, **options: Any) -> BrowserContext:
        context = browser.new_context(base_url=base_url, **options)
        made.append(context)
        return context

    yield new
    for context in made:
        context.close()


def log_in(page: Page, user: str) -> None:
    page.goto("/cockpit/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")


def add_condition(page: Page, row: int, attribute: str, value: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="+ condition").click()
    with page.expect_navigation():  # choosing the attribute brings its operators
        page.locator(f'select[name="a.{row}.attr"]').select_option(label=attribute)
    expect(page.locator(f'select[name="a.{row}.op.0"]')).to_have_value("is")
    page.locator(f'input[name="a.{row}.v.0"]').fill(value)


def hero_text(context: BrowserContext, page: Page) -> str:
    page.goto("/?utm_source=newsletter&utm_medium=email")
    # Decided: the snippet takes its "wait" mark away (filled with a campaign, or not).
    page.wait_for_function(
        "() => !document.querySelector('[data-opmaat-slot=hero]').hasAttribute('data-opmaat-wait')"
    )
    return page.locator("[data-opmaat-slot=hero]").inner_text()


def visitor_sees(
    contexts: Callable[..., BrowserContext], url: str, wanted: str, *, present: bool
) -> None:
    """A new visitor from Berlin on a phone sees (or no longer sees) ``wanted`` on the node at
    ``url`` within the reload interval (and the time a page takes)."""
    deadline = time.monotonic() + 10 * RELOAD + 5
    while True:
        context = contexts(
            url,
            user_agent=AGENTS["mobile"],
            extra_http_headers={"X-Forwarded-For": BERLIN},
        )
        page = context.new_page()
        shown = hero_text(context, page)
        context.close()
        if (wanted in shown) == present:
            return
        assert time.monotonic() < deadline, f"the other node shows {shown!r}"
        time.sleep(RELOAD)


def test_an_editor_builds_a_publisher_publishes_another_node_serves_a_restore_undoes(
    nodes: tuple[str, str],
    contexts: Callable[..., BrowserContext],
    console_of: Callable[[Any], list[str]],
) -> None:
    a, b = nodes
    visitor_sees(contexts, b, "Hallo Berlin!", present=False)

    editor = contexts(a).new_page()
    errors = console_of(editor)
    log_in(editor, "editor")
    expect(editor.locator(".who")).to_have_text("editor · editor")
    editor.get_by_role("link", name="New campaign").click()
    expect(editor.get_by_role("heading", level=1)).to_have_text("New campaign")
    editor.get_by_label("Id", exact=True).fill("germany-phone-newsletter")
    editor.get_by_label("Name (for marketers)").fill("Germany, on a phone, from the newsletter")
    editor.get_by_label("Label (what visitors see)").fill("A hello from us")
    editor.get_by_role("checkbox", name="hero", exact=True).check()
    editor.get_by_label("Priority").fill("60")
    add_condition(editor, 0, "country", "DE")
    add_condition(editor, 1, "device", "mobile")
    add_condition(editor, 2, "UTM source", "newsletter")
    editor.get_by_label("HTML", exact=True).fill("<h2>Hallo {{ geo.city }}!</h2>")
    with editor.expect_navigation():  # choosing a sample visitor previews as them
        editor.get_by_label("Sample visitor").select_option(
            "Berlin, on a phone, from the newsletter"
        )
    expect(editor.locator("#audience-words")).to_have_text(WORDS)
    expect(editor.locator("#check-result")).to_contain_text("no problem")
    winner = editor.locator("#preview-results tr.winner")
    expect(winner).to_have_count(1)
    expect(winner.locator('[data-cell="content"]')).to_contain_text("Hallo Berlin!")
    expect(winner.locator('[data-cell="reason"]')).not_to_be_empty()
    editor.get_by_role("button", name="Save draft").click()
    expect(editor.get_by_role("status")).to_contain_text("Draft saved")
    expect(editor.locator("pre.diff")).to_contain_text("germany-phone-newsletter")
    expect(editor.get_by_role("button", name="Publish")).to_have_count(0)
    editor.get_by_role("button", name="Log out").click()
    assert errors == []

    publisher = contexts(a).new_page()
    log_in(publisher, "publisher")
    publisher.get_by_role("link", name="Drafts").click()
    publisher.get_by_role("link", name="Germany, on a phone, from the newsletter").click()
    expect(publisher.locator("#check-ok")).to_be_visible()
    publisher.get_by_role("button", name="Publish").click()
    expect(publisher.locator("#published")).to_contain_text("Published as version")
    published = publisher.get_by_role("heading", level=1).inner_text().split()[1]

    visitor_sees(contexts, b, "Hallo Berlin!", present=True)  # the other node

    publisher.get_by_role("link", name="All versions").click()
    before = int(published) - 1
    publisher.locator(f'tr[data-version="{before}"] a').click()
    publisher.get_by_role("button", name=f"Restore version {before}").click()
    expect(publisher.locator("#published")).to_contain_text(
        f"Published as version {int(published) + 1}"
    )
    visitor_sees(contexts, b, "Hallo Berlin!", present=False)

    viewer = contexts(b).new_page()
    log_in(viewer, "viewer")
    expect(viewer.locator(".who")).to_have_text("viewer · viewer")
    expect(viewer.get_by_role("link", name="New campaign")).to_have_count(0)
    expect(viewer.locator("#campaigns").get_by_role("link", name="Edit")).to_have_count(0)
    expect(viewer.locator("#campaigns").get_by_role("button")).to_have_count(0)
    viewer.get_by_role("link", name="Versions").click()
    viewer.locator(f'tr[data-version="{published}"] a').click()
    expect(viewer.get_by_role("button", name=f"Restore version {published}")).to_have_count(0)
    answer = viewer.goto("/cockpit/campaigns/new")
    assert answer is not None
    assert answer.status == 403
