"""Fuzzing the cockpit and the server-to-server API: no outside input gets a 5xx, and the
pages never echo input unescaped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from opmaat.campaigns.model import CHANNELS
from opmaat_edge.app import create_app
from opmaat_edge.cockpit.preview import PreviewError, PreviewVisitor, parse_preview
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings
from tests.fuzz import any_text, fuzz, json_values, short_text, token_soup

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

KEY = "fuzz-api-key-0123456789-abcdefgh"
PASSWORD = "fuzz cockpit password"
FIELDS = [
    "country",
    "city",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "device",
    "segments",
    "interests",
    "cart_items",
    "cart_value",
    "cart_abandoned",
    "time",
    "channel",
    "page",
]
form_values = st.one_of(
    any_text,
    token_soup(["NL", "mobile", "09:30", "1", "-1", "1e309", "nan", "//x", "/", "web", "vip"]),
)
forms = st.dictionaries(st.sampled_from(FIELDS), form_values, max_size=8)
# A query string of a few KB at most (longer ones the HTTP client refuses to send).
short_forms = st.dictionaries(
    st.sampled_from(FIELDS), form_values.map(lambda text: text[:400]), max_size=8
)


@pytest.fixture(scope="module")
def cockpit() -> Iterator[TestClient]:
    settings = EdgeSettings(
        config=str(DEMO_CAMPAIGNS),
        secret_keys=("fuzz-signing-key-0123456789",),
        dev=True,
        demo=True,
        reload_interval=60.0,
        cockpit_password=PASSWORD,
        api_keys=(KEY,),
        events_per_minute=0,
    )
    with TestClient(
        create_app(settings), raise_server_exceptions=False, base_url="http://127.0.0.1"
    ) as client:
        page = client.get("/cockpit/login")
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        client.post("/cockpit/login", data={"token": token.group(1), "password": PASSWORD})
        assert client.get("/cockpit").status_code == 200
        yield client


@fuzz(300)
@given(forms)
def test_parse_preview_takes_a_visitor_or_says_which_field(form: dict[str, str]) -> None:
    problem = None
    try:
        visitor = parse_preview(form)
    except PreviewError as exc:
        problem = str(exc)
    if problem is not None:
        assert problem.split(":", 1)[0] in {*FIELDS, "cart"}
        return
    assert isinstance(visitor, PreviewVisitor)
    assert parse_preview(dict(_query(visitor.query()))) == visitor


def _query(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(text, keep_blank_values=True)


@fuzz(150)
@given(short_forms)
def test_the_preview_page_never_fails_nor_echoes_markup(
    cockpit: TestClient, form: dict[str, str]
) -> None:
    answer = cockpit.get("/cockpit/preview", params=form)
    assert answer.status_code in (200, 400)
    main = answer.text.split("<main>", 1)[1]
    assert "<script" not in main.replace("<script nonce", "")
    opened = cockpit.get("/cockpit/preview/open", params=form, follow_redirects=False)
    assert opened.status_code in (303, 400)
    if opened.status_code == 303:
        assert opened.headers["location"].startswith("/")
        assert not opened.headers["location"].startswith("//")
    cockpit.cookies.delete("opmaat_preview")


@fuzz(150)
@given(
    st.one_of(
        st.dictionaries(
            st.sampled_from(["channel", "customer_id", "attributes", "slots", "token", "type"]),
            st.one_of(json_values, st.sampled_from([*CHANNELS, "c-1001", ["hero"]])),
            max_size=6,
        ),
        json_values,
    ),
    st.sampled_from(["/v1/decide", "/v1/events"]),
)
def test_server_calls_never_fail(cockpit: TestClient, body: Any, path: str) -> None:
    answer = cockpit.post(
        path, content=json.dumps(body), headers={"Authorization": f"Bearer {KEY}"}
    )
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert "error" in answer.json()


@fuzz(100)
@given(short_text, any_text)
def test_login_forms_never_fail(cockpit: TestClient, token: str, password: str) -> None:
    fresh = TestClient(cockpit.app, raise_server_exceptions=False, base_url="http://127.0.0.1")
    answer = fresh.post("/cockpit/login", data={"token": token, "password": password})
    assert answer.status_code in (401, 403, 413, 429)
