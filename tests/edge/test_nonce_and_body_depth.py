"""What the edge guards costs nothing where it is not needed: a JSON answer draws no CSP nonce
(an HTML page still gets its own), and a body too shallow to break the nesting limit is not
walked (one past it still is refused)."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from starlette.testclient import TestClient

from opmaat_edge import guard
from opmaat_edge.http import MAX_JSON_DEPTH


def test_a_json_answer_draws_no_nonce_and_an_html_page_draws_one(client: TestClient) -> None:
    draw = mock.Mock(side_effect=["first-nonce-0123456789", "second-nonce-0123456789"])
    with mock.patch.object(guard.secrets, "token_urlsafe", draw):
        r = client.post("/v1/decide", content=b'{"slots": ["hero"]}')
        assert r.status_code == 200
        assert "content-security-policy" not in r.headers
        assert draw.call_count == 0
        page = client.get("/")
    # Read by the page's inline scripts and by its policy: drawn once, the same in both.
    assert draw.call_count == 1
    assert "'nonce-first-nonce-0123456789'" in page.headers["content-security-policy"]
    assert 'nonce="first-nonce-0123456789"' in page.text


def nested(depth: int) -> bytes:
    """A decide body whose deepest value sits ``depth`` levels down (the body is level 1)."""
    value: object = "running"
    for _ in range(depth - 2):
        value = {"a": value}
    return json.dumps({"slots": ["hero"], "page": value}).encode()


@pytest.mark.parametrize(("depth", "status"), [(MAX_JSON_DEPTH, 200), (MAX_JSON_DEPTH + 1, 400)])
def test_the_nesting_limit_holds_at_its_edge(client: TestClient, depth: int, status: int) -> None:
    r = client.post("/v1/decide", content=nested(depth))
    assert r.status_code == status, r.text
