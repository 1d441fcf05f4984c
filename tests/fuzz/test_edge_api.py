"""Fuzzing the edge over HTTP: no outside input gets a 5xx.

The demo shop (customers imported, PURLs made with the tests' key) behind Starlette's
TestClient, with ``raise_server_exceptions=False`` so that an unhandled error is seen as the
500 it would be. Bodies, query strings, paths and the headers a visitor controls (Cookie,
User-Agent, Referer, X-Forwarded-For, Origin, Content-Type, ...) are fuzzed. The JSON API
answers every refusal with a 4xx whose JSON body has an ``error`` text; the privacy page and
the PURL route answer HTML or redirects.

The events rate limit is off here (``events_per_minute=0``), so every example reaches the
event handling instead of a 429 after the first 120.
"""

from __future__ import annotations

import csv
import json
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx2 as httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from opmaat.campaigns import load_campaigns
from opmaat.consent import CHOICES
from opmaat.identity import CookieCodec, new_id
from opmaat.tracking import known_events
from opmaat_edge.app import create_app
from opmaat_edge.data_cli import prepare_demo
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings
from tests.fuzz import any_text, fuzz, json_values, short_text, token_soup

# Examples of several KB are the point here; hypothesis warns that showing them is costly.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

KEYS = ("fuzz-signing-key-0123456789",)
DEMO = load_campaigns(DEMO_CAMPAIGNS)
SLOTS = list(DEMO.slots)
CAMPAIGN_IDS = [c.id for c in DEMO.campaigns]
EVENT_NAMES = sorted(known_events(DEMO.site.events, [c.goal for c in DEMO.campaigns]))
# What an HTTP server lets through in a header value: tab, visible ASCII, space and bytes
# from 0x80 up (h11 refuses the other control characters before the app sees them).
_HEADER_BYTES = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
# Visitor cookies signed with the edge's key: the edge takes them as returning visitors.
_CODEC = CookieCodec(KEYS)
VALID_COOKIES = tuple(f"opmaat={_CODEC.dumps(new_id(), new_id(6))}" for _ in range(3))


@dataclass(frozen=True)
class Edge:
    client: TestClient
    tokens: tuple[str, ...]  # the spring mailing's PURL tokens
    forms: tuple[tuple[str, str], ...]  # (Cookie header, privacy form token) that belong together


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    folder = tmp_path_factory.mktemp("edge") / "demo"
    config = prepare_demo(folder, "http://testserver", KEYS)
    assert config is not None
    settings = EdgeSettings(
        config=str(config),
        secret_keys=KEYS,
        dev=True,
        demo=True,
        reload_interval=60.0,
        events_per_minute=0,
    )
    client = TestClient(
        create_app(settings),
        base_url="http://127.0.0.1",
        client=("127.0.0.1", 50000),
        raise_server_exceptions=False,
        follow_redirects=False,
    )
    with client:
        with (folder / "recipients-links.csv").open(encoding="utf-8", newline="") as handle:
            tokens = tuple(
                urlsplit(row["url"]).path.rsplit("/", 1)[-1] for row in csv.DictReader(handle)
            )
        assert tokens
        forms = []
        for cookie in ("", VALID_COOKIES[0]):
            client.cookies.clear()
            page = client.get("/me", headers={"Cookie": cookie} if cookie else None)
            assert page.status_code == 200, page.text
            found = re.search(r'name="token" value="([^"]+)"', page.text)
            assert found is not None
            forms.append((cookie, found.group(1)))
        yield Edge(client, tokens, tuple(forms))


# --- what a visitor can send --------------------------------------------------------------


def header_value(text: str) -> bytes:
    """``text`` as a header value a server would pass on."""
    raw = text.encode("utf-8")
    return bytes(b for b in raw if b in _HEADER_BYTES).strip(b" \t")


UA_PIECES = [
    "Mozilla/5.0 ",
    "(iPhone; CPU iPhone OS 17_0 like Mac OS X) ",
    "Chrome/120.0 ",
    "Googlebot/2.1",
]
URLS = [
    "https://www.google.com/search?q=boots",
    "https://shop.example/c/running?utm_source=news&utm_medium=email&gclid=1",
    "http://127.0.0.1/",
    "android-app://com.google.android.gm",
    "javascript:alert(1)",
    "https://[::1/",
    "http://bücher.example/",
]
urls = st.one_of(st.sampled_from(URLS), any_text)
addresses = st.one_of(
    st.sampled_from(["192.0.2.1", "203.0.113.7", "198.51.100.23", "::1", "unknown", "1.2.3.4:80"]),
    st.ip_addresses().map(str),
    short_text,
)


@st.composite
def cookie_headers(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["opmaat", "opmaat_consent", "opmaat_key", "other"]))
        value = draw(
            st.one_of(
                st.sampled_from([*CHOICES, "", '"quoted"', "a;b", "%00"]),
                any_text,
            )
        )
        parts.append(f"{name}={value}")
    if draw(st.booleans()):
        cookie = draw(st.sampled_from(VALID_COOKIES))
        at = draw(st.integers(0, len(cookie)))
        tamper = draw(st.sampled_from(["", "", "x", "."]))
        parts.append(cookie[:at] + tamper + cookie[at + len(tamper) :])
    return draw(st.sampled_from(["; ", ";", ", "])).join(parts)


@st.composite
def request_headers(draw: st.DrawFn) -> dict[str, bytes]:
    chosen = {
        "Cookie": cookie_headers(),
        "User-Agent": st.one_of(token_soup(UA_PIECES, max_size=6), any_text),
        "Referer": urls,
        "X-Forwarded-For": st.one_of(
            st.lists(addresses, max_size=6).map(", ".join),
            any_text,
        ),
        # Mostly the edge's own origin: another one is refused before anything else is read.
        "Origin": st.one_of(
            st.just("http://127.0.0.1"),
            st.just("http://127.0.0.1/"),
            st.sampled_from(["https://shop.example", "null", "http://evil"]),
            any_text,
        ),
        "Content-Type": st.one_of(
            st.sampled_from(
                [
                    "application/json",
                    "text/plain;charset=UTF-8",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                ]
            ),
            any_text,
        ),
        "Sec-GPC": st.sampled_from(["1", "0", " 1"]),
        "DNT": st.sampled_from(["1", "0"]),
        "Sec-Fetch-Site": st.sampled_from(["same-origin", "same-origin", "none", "cross-site"]),
        "X-Request-Id": any_text,
        "CF-IPCountry": st.sampled_from(["NL", "XX", "T1", "nl", ""]),
    }
    rare = ("Origin", "Sec-Fetch-Site")  # when wrong, the request is refused before anything
    return {
        name: header_value(draw(value))
        for name, value in chosen.items()
        if draw(st.integers(0, 3)) == 3 or (name not in rare and draw(st.booleans()))
    }


def encoded(value: Any, ensure_ascii: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def bodies(shaped: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """A request body: JSON of the route's shape or of any shape, or bytes that are no JSON."""
    return mostly(
        st.builds(encoded, shaped, st.booleans()),
        st.builds(encoded, json_values, st.booleans()),
        st.binary(max_size=64),
        st.integers(16 * 1024 - 16, 16 * 1024 + 16).map(
            lambda n: b'{"slots": "' + b"x" * n + b'"}'
        ),
        st.sampled_from([b"", b"{", b'{"a": NaN}', b"[]", b'"x"', b"\xff\xfe{}", b"{}" * 3]),
    )


def mostly(good: st.SearchStrategy[Any], *bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` three times in four, else one of ``bad``."""
    worse = st.one_of(*bad)
    # Hypothesis draws the simplest value (0) more often than the others: 0 is the good case.
    return st.integers(0, 3).flatmap(lambda n: worse if n == 3 else good)


def plausible(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return mostly(good, json_values)


consents = plausible(st.sampled_from([*CHOICES, "FULL"]))
slot_lists = plausible(
    st.one_of(
        st.lists(st.sampled_from([*SLOTS, "bad name", ""]), max_size=25),
        st.lists(st.sampled_from(SLOTS)).map(",".join),
    )
)
pages = plausible(
    st.dictionaries(
        st.sampled_from(["category", "product", "price", "product_name", "x"]),
        json_values,
        max_size=5,
    )
)
decide_bodies = st.fixed_dictionaries(
    {"slots": slot_lists},
    optional={
        "url": plausible(urls),
        "referrer": plausible(urls),
        "page": pages,
        "consent": consents,
    },
)
products = st.fixed_dictionaries(
    {},
    optional={
        "id": plausible(st.sampled_from(["sku-1", "12", " "])),
        "name": plausible(st.just("Boots")),
        "price": plausible(st.floats()),
        "quantity": plausible(st.integers(-1, 1000)),
        "category": plausible(st.sampled_from(["running", "Outdoor Gear"])),
        "url": plausible(st.sampled_from(["/p/1", "//evil", "https://[::1/"])),
        "value": plausible(st.floats()),
    },
)
EVENT_EXTRAS = {
    "slot": plausible(st.sampled_from(SLOTS)),
    "url": plausible(urls),
    "consent": consents,
}
event_bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "type": plausible(st.sampled_from(["impression", "click"])),
            "campaign": plausible(st.sampled_from(CAMPAIGN_IDS)),
        },
        optional={"variant": plausible(st.sampled_from(["a", "b", "c"])), **EVENT_EXTRAS},
    ),
    st.fixed_dictionaries(
        {
            "type": plausible(st.just("goal")),
            "name": plausible(st.sampled_from([*EVENT_NAMES, "click", "nope"])),
        },
        optional={"props": plausible(products), **EVENT_EXTRAS},
    ),
)
identify_bodies = st.fixed_dictionaries(
    {"customer_id": plausible(st.sampled_from(["c-1001", "1001", "", "a" * 129, "\x00"]))},
    optional={"consent": consents},
)
me_bodies = st.fixed_dictionaries(
    {},
    optional={
        "prefs": plausible(
            st.fixed_dictionaries(
                {},
                optional={
                    "interests": plausible(
                        st.dictionaries(
                            st.sampled_from(["running", "outdoor", "Top", "a b"]),
                            plausible(st.sampled_from(["more", "less", None])),
                            max_size=3,
                        )
                    )
                },
            )
        ),
        "consent": consents,
    },
).filter(bool)
JSON_ROUTES = {
    ("POST", "/v1/decide"): decide_bodies,
    ("POST", "/v1/events"): event_bodies,
    ("POST", "/v1/identify"): identify_bodies,
    ("PATCH", "/v1/me"): me_bodies,
    ("POST", "/v1/consent"): st.fixed_dictionaries({"tier": consents}),
}


def send(
    edge: Edge,
    method: str,
    url: str,
    headers: dict[str, bytes],
    content: bytes | None = None,
) -> httpx.Response:
    edge.client.cookies.clear()  # only the fuzzed Cookie header counts, not earlier answers
    raw = [(name.encode("ascii"), value) for name, value in headers.items()]
    return edge.client.request(method, url, content=content, headers=raw)


def check_api_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text
        error = response.json()["error"]
        assert isinstance(error, str)
        assert error
    elif response.status_code != 204:
        response.json()


# --- the JSON API -------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(JSON_ROUTES), ids=" ".join)
@fuzz(80)
@given(data=st.data(), headers=request_headers())
def test_json_api_answers_any_request_without_a_server_error(
    edge: Edge, route: tuple[str, str], data: st.DataObject, headers: dict[str, bytes]
) -> None:
    method, path = route
    body = data.draw(bodies(JSON_ROUTES[route]), label="body")
    check_api_answer(send(edge, method, path, headers, body))


def _query(pairs: list[tuple[str, str]]) -> str:
    return urlencode(pairs)


@fuzz(100)
@given(
    query=st.one_of(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(["slots", "url", "referrer", "consent"]), short_text),
                st.one_of(st.sampled_from([*SLOTS, "hero,sidebar", *CHOICES]), urls),
            ),
            max_size=6,
        ).map(_query),
        st.builds(
            lambda slots, rest: _query([("slots", ",".join(slots)), *rest]),
            st.lists(st.sampled_from(SLOTS), min_size=1, max_size=4),
            st.lists(
                st.tuples(st.sampled_from(["url", "referrer", "consent", "slots"]), urls),
                max_size=3,
            ),
        ),
        token_soup(["slots=", "url=", "&", "=", "%", "%zz", "%00", "+", ";", "hero", ","]).map(
            lambda raw: quote(raw, safe="=&%+;,/")
        ),
    ),
    headers=request_headers(),
)
def test_decide_by_query_string_answers_without_a_server_error(
    edge: Edge, query: str, headers: dict[str, bytes]
) -> None:
    # Servers refuse request lines past some KB (h11: 16 KB) before the app sees them.
    check_api_answer(send(edge, "GET", f"/v1/decide?{query[:8000]}", headers))


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@fuzz(60)
@given(headers=request_headers(), query=st.sampled_from(["", "?download=1", "?download=%ff"]))
def test_me_api_answers_any_headers_without_a_server_error(
    edge: Edge, method: str, headers: dict[str, bytes], query: str
) -> None:
    check_api_answer(send(edge, method, f"/v1/me{query}", headers))


# --- the privacy page's form and personal links ---------------------------------------------

FORM_NAMES = ["token", "action", "consent", "add_interest", "add_choice", "interest.running"]


@fuzz(100)
@given(data=st.data())
def test_privacy_form_answers_any_post_without_a_server_error(
    edge: Edge, data: st.DataObject
) -> None:
    cookie, token = data.draw(st.sampled_from(edge.forms), label="visitor")
    fields = data.draw(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(FORM_NAMES), short_text),
                st.one_of(
                    st.sampled_from(
                        ["prefs", "consent", "delete", *CHOICES, "more", "less", "running", token]
                    ),
                    any_text,
                ),
            ),
            max_size=8,
        ),
        label="fields",
    )
    if data.draw(st.booleans(), label="with the right token"):
        action = data.draw(st.sampled_from(["prefs", "consent", "delete"]), label="action")
        fields = [("token", token), ("action", action), *fields]
    body = data.draw(
        st.one_of(
            st.just(urlencode(fields).encode("ascii")),
            st.just(urlencode(fields).encode("ascii")),
            st.binary(max_size=64),
            st.sampled_from([b"a=%ff", b"%" * 10, b"&" * 300, b"a=" + b"b" * 20000]),
        ),
        label="body",
    )
    headers = data.draw(request_headers(), label="headers")
    if data.draw(st.integers(0, 3), label="a form's content type") < 3:
        headers["Content-Type"] = b"application/x-www-form-urlencoded"
    if data.draw(st.booleans(), label="the visitor's own cookie"):
        headers["Cookie"] = cookie.encode("ascii")
    response = send(edge, "POST", "/me", headers, body)
    assert response.status_code < 500, response.text


@fuzz(150)
@given(data=st.data())
def test_personal_links_answer_any_token_without_a_server_error(
    edge: Edge, data: st.DataObject
) -> None:
    good = data.draw(st.sampled_from(edge.tokens), label="a real token")
    at = data.draw(st.integers(0, len(good)), label="where")
    token = data.draw(
        st.one_of(
            st.just(good),
            st.sampled_from(["", "", "x", "."]).map(
                lambda piece: good[:at] + piece + good[at + 1 :]
            ),
            st.just(good[:8]),
            st.text(alphabet=string.ascii_letters + string.digits + "._-", max_size=60),
            any_text,
        ),
        label="token",
    )
    method = data.draw(st.sampled_from(["GET", "HEAD"]), label="method")
    headers = data.draw(request_headers(), label="headers")
    response = send(edge, method, "/p/" + quote(token, safe="")[:8000], headers)
    assert response.status_code < 500, response.text
    if token == good and method == "GET":
        assert response.status_code == 303
