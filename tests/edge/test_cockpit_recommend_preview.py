"""The cockpit's preview shows recommendations for a sample visitor: the slots whose templates
call ``recommendations(...)`` are filled from what the site learned, each strategy's list is
shown with its reasons, the editor's draft preview fills them too, and a viewed product the
feed does not know is refused with a message naming the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opmaat_edge.cockpit.draft_preview import preview_draft
from opmaat_edge.cockpit.preview import PreviewVisitor
from tests.edge.conftest import MakeClient
from tests.edge.test_cockpit import PASSWORD, login
from tests.edge.test_recommendations import CONFIG, decide, refresh, state, write_shop


@pytest.fixture
def cockpit(make_client: MakeClient, tmp_path: Path) -> TestClient:
    client = make_client(
        write_shop(tmp_path), demo=False, cockpit_password=PASSWORD, peer="192.0.2.7"
    )
    # One visitor viewed the tent and then the mat: "viewed together" has learned a pair.
    visitor = TestClient(client.app, client=("203.0.113.9", 50000), base_url="http://127.0.0.1")
    decide(visitor, "tent")
    decide(visitor, "mat")
    refresh(client)
    login(client)
    return client


def strategy_items(page: str, strategy: str) -> str:
    start = page.index(f'data-strategy-items="{strategy}"')
    return page[start : page.index("</", page.index(">", start) + 1) + 200]


def test_the_preview_fills_a_recommendations_slot_for_a_visitor_who_viewed_a_product(
    cockpit: TestClient,
) -> None:
    answer = cockpit.get("/cockpit/preview", params={"viewed": "tent"})
    assert answer.status_code == 200
    row = answer.text[answer.text.index('data-slot="related"') :]
    row = row[: row.index("</tr>")]
    assert 'data-campaign="related"' in row
    assert "Sleeping mat: people who viewed Dome tent also viewed this" in row
    # Each strategy's own list, with the reason per item.
    together = answer.text[answer.text.index('data-strategy-items="viewed-together"') :]
    together = together[: together.index("</ol>")]
    assert 'data-product="mat"' in together
    assert "people who viewed Dome tent also viewed this" in together
    assert 'data-strategy="popular"' in answer.text
    assert "viewed tent" in answer.text  # who the preview is for


def test_without_viewed_products_the_lists_fall_back_to_what_is_popular(
    cockpit: TestClient,
) -> None:
    answer = cockpit.get("/cockpit/preview", params={"country": "NL"})
    assert answer.status_code == 200
    row = answer.text[answer.text.index('data-slot="related"') :]
    row = row[: row.index("</tr>")]
    assert "people who viewed" not in row
    assert "Sleeping mat: popular right now" in row
    assert "(it may start from viewed products)" not in answer.text


def test_unknown_and_malformed_viewed_products_are_refused(cockpit: TestClient) -> None:
    for viewed, message in (
        ("sofa", "viewed: &#39;sofa&#39; is not in the product feed"),
        ("tent, " + "x" * 81, "viewed products: at most"),
        (",".join(f"p{n}" for n in range(21)), "viewed products: at most"),
        ("tent\x00", "viewed: at most"),
    ):
        answer = cockpit.get("/cockpit/preview", params={"viewed": viewed})
        assert answer.status_code == 400, viewed
        assert message in answer.text, (viewed, re.findall(r'role="alert">[^<]*', answer.text))
        assert 'id="preview-results"' not in answer.text


def test_opening_the_site_as_the_previewed_visitor_recommends_from_their_views(
    cockpit: TestClient,
) -> None:
    opened = cockpit.get(
        "/cockpit/preview/open", params={"page": "/", "viewed": "tent"}, follow_redirects=False
    )
    assert opened.status_code == 303
    slot = decide(cockpit, None)["related"]
    assert slot["html"] == "<li>Sleeping mat: people who viewed Dome tent also viewed this</li>"


def test_the_editors_draft_preview_fills_recommendations_too(cockpit: TestClient) -> None:
    edge = state(cockpit)
    draft = CONFIG.replace("<li>", "<li class=draft>")
    portal = cockpit.portal
    assert portal is not None
    results = portal.call(
        preview_draft, edge, draft, PreviewVisitor(viewed="tent"), "related", "http://127.0.0.1/"
    )
    assert results is not None
    (related,) = [r for r in results if r["slot"] == "related"]
    assert related["html"] == (
        "<li class=draft>Sleeping mat: people who viewed Dome tent also viewed this</li>"
    )
