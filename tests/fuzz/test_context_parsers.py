"""Fuzzing the request-context parsers: cookie, User-Agent, Referer, X-Forwarded-For, page URL
(UTM), CDN country header and the geo database lookup.

Each never raises on what a visitor sends and answers its neutral value for junk (``{}``,
None, ``"other"``, a fresh identity), with the output shapes their docstrings promise.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from ipaddress import ip_address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opmaat.context import (
    GeoReader,
    TrustedProxies,
    classify_referrer,
    client_ip,
    geo_from_headers,
    parse_device,
    parse_utm,
)
from opmaat.context._urls import (
    MAX_TEXT_CHARS,
    MAX_URL_CHARS,
    ascii_host,
    clean_text,
    query_params,
    split_url,
)
from opmaat.context.network import parse_ip
from opmaat.context.referrer import MEDIUMS
from opmaat.context.utm import UTM_KEYS
from opmaat.identity import MAX_COOKIE_CHARS, CookieCodec, Identity
from opmaat_edge.resources import DEMO_GEO
from tests.fuzz import CONTROL, any_text, fuzz, json_values, short_text, token_soup

# Examples of several KB are the point here; hypothesis warns that showing them is costly.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

KEYS = ("fuzz-signing-key-0123456789",)
CODEC = CookieCodec(KEYS)
_CONTROL_RE = re.compile(f"[{re.escape(CONTROL)}]")
_HOST_RE = re.compile(r"[a-z0-9_.:-]{1,253}")
_URLSAFE = string.ascii_letters + string.digits + "-_"


def no_control(text: str) -> bool:
    return _CONTROL_RE.search(text) is None


# --- the visitor cookie -------------------------------------------------------------------

ids = st.text(alphabet=_URLSAFE, min_size=1, max_size=32)


@st.composite
def tampered_cookies(draw: st.DrawFn) -> tuple[str, str, str]:
    """A cookie this codec signed, with one character replaced, inserted or removed."""
    visitor, session = draw(ids), draw(ids)
    value = CODEC.dumps(visitor, session)
    at = draw(st.integers(0, len(value) - 1))
    piece = draw(st.sampled_from(["", "A", ".", "-", "_", "=", "%", " ", "\x00", "é"]))
    keep_next = draw(st.booleans())
    return value[:at] + piece + value[at + (0 if keep_next else 1) :], visitor, session


def check_identity(ident: Identity) -> None:
    assert isinstance(ident, Identity)
    for part in (ident.visitor_id, ident.session_id):
        assert isinstance(part, str)
        assert 0 < len(part) <= 32
    assert isinstance(ident.issued, float)
    assert math.isfinite(ident.issued)
    if ident.rejected:
        assert ident.fresh


@fuzz(300)
@given(value=st.one_of(st.none(), any_text, token_soup([".", "-", "_", "W1", "eyJ", "=="])))
def test_cookie_loads_any_text_gives_an_identity(value: str | None) -> None:
    ident = CODEC.loads(value)
    check_identity(ident)
    if not value:
        assert ident.fresh
        assert not ident.rejected
    elif ident.fresh:
        assert ident.rejected  # a cookie was sent, and it was not good
    if isinstance(value, str) and len(value) > MAX_COOKIE_CHARS:
        assert ident.rejected


@fuzz(200)
@given(case=tampered_cookies())
def test_a_tampered_cookie_is_rejected_or_still_the_same_identity(
    case: tuple[str, str, str],
) -> None:
    value, visitor, session = case
    ident = CODEC.loads(value)
    check_identity(ident)
    if not ident.fresh:
        assert (ident.visitor_id, ident.session_id) == (visitor, session)


@fuzz(100)
@given(visitor=ids, session=ids)
def test_a_signed_cookie_reads_back(visitor: str, session: str) -> None:
    ident = CODEC.loads(CODEC.dumps(visitor, session))
    assert not ident.fresh
    assert (ident.visitor_id, ident.session_id) == (visitor, session)
    assert (
        CookieCodec(("another-key-0123456789abcdef",)).loads(CODEC.dumps(visitor, session)).rejected
    )


# --- User-Agent ---------------------------------------------------------------------------

UA_PIECES = [
    "Mozilla/5.0 ",
    "(Windows NT 10.0; Win64; x64) ",
    "(iPhone; CPU iPhone OS 17_0 like Mac OS X) ",
    "(iPad; CPU OS 16_6 like Mac OS X) ",
    "(Linux; Android 14; Pixel 8) ",
    "(Macintosh; Intel Mac OS X 10_15_7) ",
    "AppleWebKit/537.36 (KHTML, like Gecko) ",
    "Chrome/120.0.0.0 ",
    "Mobile Safari/537.36 ",
    "Firefox/121.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "curl/8.4.0",
    "Applebot/0.1",
    "SmartTV",
    "Tablet",
]
user_agents = st.one_of(st.none(), any_text, token_soup(UA_PIECES, max_size=12))


@fuzz(300)
@given(ua=user_agents)
def test_parse_device_classifies_any_user_agent(ua: str | None) -> None:
    out = parse_device(ua)
    assert set(out) == {"type", "os", "browser"}
    assert out["type"] in ("bot", "tablet", "mobile", "desktop", "other")
    for key in ("os", "browser"):
        value = out[key]
        assert value is None or (isinstance(value, str) and value and value != "Other")
    if not ua:
        assert out == {"type": "other", "os": None, "browser": None}
    else:
        assert parse_device(ua[:512] + "ignored") == out  # cut at 512 characters
    out["type"] = "changed"  # each call answers its own copy
    assert parse_device(ua)["type"] != "changed"


# --- Referer, page URL and UTM ------------------------------------------------------------

HOSTS = [
    "google.com",
    "www.google.co.uk",
    "news.google.com.au",
    "google.example.com",
    "bing.com",
    "m.facebook.com",
    "t.co",
    "duckduckgo.com",
    "yandex.ru",
    "mail.google.com",
    "shop.example",
    "www.shop.example",
    "bücher.example",
    "xn--bcher-kva.example",
    "com.google.android.googlequicksearchbox",
    "127.0.0.1",
    "[::1]",
    "[::1",
    "user:pw@host.example:8080",
    "host.example:99999",
    "",
    ".",
    "EXAMPLE.COM.",
]
PARAMS = [
    "q",
    "p",
    "text",
    "wd",
    "utm_source",
    "utm_medium",
    "UTM_Medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "msclkid",
    "ttclid",
    "fbclid",
]
VALUES = ["cpc", "email", "Social", "organic", "referral", "https://evil.example", "", "%", "%zz"]


def _url(scheme: str, host: str, path: str, params: list[tuple[str, str]], raw: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in params)
    return f"{scheme}://{host}{path}?{query}{raw}"


urls = st.one_of(
    st.none(),
    any_text,
    st.builds(
        _url,
        st.sampled_from(["http", "https", "HTTPS", "android-app", "javascript", "ftp", ""]),
        st.one_of(st.sampled_from(HOSTS), short_text),
        st.one_of(st.sampled_from(["/", "/search", "", "/a b", "/\x00"]), short_text),
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(PARAMS), short_text),
                st.one_of(st.sampled_from(VALUES), any_text),
            ),
            max_size=5,
        ),
        st.one_of(st.just(""), any_text),
    ),
)
site_hosts = st.lists(st.one_of(st.sampled_from(["shop.example", "example", ""]), short_text))


@fuzz(400)
@given(referrer=urls, page_url=urls, hosts=site_hosts)
def test_classify_referrer_answers_every_key_for_any_input(
    referrer: str | None, page_url: str | None, hosts: list[str]
) -> None:
    out = classify_referrer(referrer, page_url, frozenset(hosts))
    assert set(out) == {"url", "host", "medium", "source", "term"}
    assert out["medium"] in MEDIUMS
    assert (out["url"] is None) == (out["host"] is None)
    if out["url"] is not None:
        assert len(out["url"]) <= MAX_URL_CHARS
        assert no_control(out["url"])
    if out["host"] is not None:
        assert _HOST_RE.fullmatch(out["host"])
    else:
        assert out["medium"] not in ("internal", "referral")
    if out["medium"] in ("direct", "internal"):
        assert out["source"] is None
    if out["medium"] == "referral" and out["host"] is not None:
        assert out["source"] is not None
    for key in ("source", "term"):
        value = out[key]
        assert value is None or (isinstance(value, str) and value)
    if out["term"] is not None:
        assert len(out["term"]) <= MAX_TEXT_CHARS
        assert no_control(out["term"])


@fuzz(300)
@given(page_url=urls)
def test_parse_utm_keeps_only_short_clean_values(page_url: str | None) -> None:
    out = parse_utm(page_url)
    assert set(out) <= set(UTM_KEYS)
    for value in out.values():
        assert isinstance(value, str)
        assert 0 < len(value) <= MAX_TEXT_CHARS
        assert no_control(value)
        assert value == value.lstrip()  # the cut at 200 may leave one trailing space
    if split_url(page_url) is None:
        assert out == {}


@fuzz(300)
@given(value=st.one_of(any_text, json_values), limit=st.integers(1, 300))
def test_clean_text_is_none_or_clean(value: Any, limit: int) -> None:
    out = clean_text(value, limit)
    if out is not None:
        assert isinstance(value, str)
        assert 0 < len(out) <= limit
        assert no_control(out)
        assert out == out.lstrip()  # the cut at ``limit`` may leave one trailing space
        assert "  " not in out


@fuzz(300)
@given(value=st.one_of(urls, json_values))
def test_split_url_is_none_or_an_http_url_with_a_plain_host(value: Any) -> None:
    url = split_url(value)
    if url is None:
        return
    assert isinstance(value, str)
    assert _HOST_RE.fullmatch(url.host)
    assert len(url.text) <= MAX_URL_CHARS
    assert no_control(url.text)
    assert url.text.split(":", 1)[0].lower() in ("http", "https", "android-app")


@fuzz(300)
@given(host=st.one_of(st.sampled_from(HOSTS), any_text))
def test_ascii_host_is_none_or_lower_case_ascii(host: str) -> None:
    out = ascii_host(host)
    assert out is None or _HOST_RE.fullmatch(out)


@fuzz(300)
@given(query=st.one_of(any_text, token_soup(["&", "=", "%", "%2", "%zz", "+", ";", "utm_", "Q"])))
def test_query_params_are_first_values_under_lower_case_names(query: str) -> None:
    params = query_params(query)
    assert isinstance(params, Mapping)
    for name, value in params.items():
        assert isinstance(name, str)
        assert isinstance(value, str)
        assert name == name.lower()


# --- X-Forwarded-For ----------------------------------------------------------------------

ADDRESSES = [
    "127.0.0.1",
    "10.1.2.3",
    "192.0.2.1",
    "::1",
    "[::1]",
    "[::1]:443",
    "1.2.3.4:8080",
    "::ffff:1.2.3.4",
    "::1.2.3.4",
    "fe80::1%eth0",
    "2001:DB8::1",
    "unknown",
    "",
    " 203.0.113.7 ",
    "256.1.1.1",
    "1.2.3.4\x00",
]
addresses = st.one_of(
    st.sampled_from(ADDRESSES),
    st.ip_addresses().map(str),
    any_text,
)
forwarded_for = st.one_of(
    st.none(),
    any_text,
    st.lists(addresses, max_size=40).map(",".join),
    st.lists(addresses, max_size=6).map(", ".join),
)
proxy_lists = st.one_of(
    st.just(["127.0.0.1", "::1"]),
    st.just(["10.0.0.0/8", "127.0.0.0/8", "::1/128"]),
    st.lists(st.one_of(st.sampled_from(["127.0.0.1", "10.0.0.0/8", "0.0.0.0/0"]), addresses)),
)


@fuzz(300)
@given(entries=st.lists(st.one_of(addresses, json_values), max_size=5))
def test_trusted_proxies_parse_takes_addresses_or_raises_value_error(entries: list[Any]) -> None:
    try:
        proxies = TrustedProxies.parse(entries)
    except ValueError:
        return
    for text in proxies.addresses:
        assert parse_ip(text) is not None


@fuzz(400)
@given(peer=st.one_of(st.none(), addresses), xff=forwarded_for, entries=proxy_lists)
def test_client_ip_is_an_address_the_request_carried(
    peer: str | None, xff: str | None, entries: list[str]
) -> None:
    try:
        trusted = TrustedProxies.parse(entries)
    except ValueError:
        trusted = TrustedProxies()
    out = client_ip(peer, xff, trusted)
    peer_address = parse_ip(peer)
    if peer_address is None:
        assert out is None
        return
    assert out is not None
    ip_address(out)  # a real address, in a form ipaddress reads
    found = parse_ip(out)
    assert found is not None
    assert found.text == out  # canonical: parsing it again changes nothing
    carried = {peer_address.text}
    for hop in (xff or "").split(","):
        hop_address = parse_ip(hop)
        if hop_address is not None:
            carried.add(hop_address.text)
    assert out in carried
    if peer_address not in trusted:
        assert out == peer_address.text  # X-Forwarded-For only counts behind a trusted proxy


# --- geo ----------------------------------------------------------------------------------

header_names = st.one_of(st.sampled_from(["cf-ipcountry", "CF-IPCountry", "x-country"]), any_text)
header_maps = st.dictionaries(
    st.one_of(st.sampled_from(["cf-ipcountry", "x-country"]), short_text),
    st.one_of(st.sampled_from(["NL", "nl", " be ", "XX", "T1", "ZZ", "ÑL", "N", "NLD"]), any_text),
    max_size=4,
)


@fuzz(300)
@given(headers=st.one_of(header_maps, json_values), name=header_names)
def test_geo_from_headers_is_empty_or_a_country_code(headers: Any, name: str) -> None:
    out = geo_from_headers(headers, name)
    if out:
        assert set(out) == {"country"}
        code = out["country"]
        assert len(code) == 2
        assert code.isascii()
        assert code.isalpha()
        assert code.isupper()
        assert code not in ("XX", "ZZ")


@pytest.fixture(scope="module")
def geo() -> GeoReader:
    return GeoReader(DEMO_GEO)


GEO_KEYS = {"country", "region", "city", "lat", "lon", "timezone", "continent"}


@fuzz(300)
@given(ip=st.one_of(st.none(), addresses, st.ip_addresses().map(str)))
def test_geo_lookup_of_any_address_is_a_dict_of_known_keys(geo: GeoReader, ip: str | None) -> None:
    out = geo.lookup(ip)
    assert isinstance(out, dict)
    assert set(out) <= GEO_KEYS
    for key in ("lat", "lon"):
        if key in out:
            assert isinstance(out[key], float)
    if parse_ip(ip) is None:
        assert out == {}
