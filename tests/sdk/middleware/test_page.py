"""The middleware's helpers: cookies, cache headers, charsets, decision keys, body rewriting."""

from __future__ import annotations

import asyncio
from http.cookies import SimpleCookie

import pytest

from opmaat.engine import Decision
from opmaat.html_slots import SlotElement
from opmaat.middleware.page import (
    BodyRewriter,
    PagePersonalization,
    fill,
    html_charset,
    private_cache_control,
)
from opmaat.middleware.settings import build_personalizer, personalized_headers
from opmaat.personalizer import CookieChange, Personalizer
from opmaat_edge.resources import DEMO_CAMPAIGNS

KEY = "x" * 20
GOOGLE = "https://www.google.com/search?q=trail+shoes"


def parsed(header: str) -> dict[str, str]:
    """Attribute names (lower case) and values of one Set-Cookie value, cookie itself under ''."""
    first, *attrs = (p.strip() for p in header.split(";"))
    name, _, value = first.partition("=")
    out = {"": name, "value": value}
    for attr in attrs:
        key, _, val = attr.partition("=")
        out[key.lower()] = val
    return out


# CookieChange.header


def test_a_session_cookie_has_no_lifetime() -> None:
    header = CookieChange("opmaat", "abc.DEF-_1", None, secure=False).header()
    attrs = parsed(header)
    assert attrs[""] == "opmaat"
    assert attrs["value"] == "abc.DEF-_1"
    assert "max-age" not in attrs
    assert "expires" not in attrs
    assert "secure" not in attrs
    assert attrs["path"] == "/"
    assert "httponly" in attrs
    assert attrs["samesite"] == "lax"


def test_a_persistent_cookie_has_max_age() -> None:
    attrs = parsed(CookieChange("opmaat_consent", "full", 3600, secure=True).header())
    assert attrs["value"] == "full"
    assert attrs["max-age"] == "3600"
    assert "expires" not in attrs
    assert "secure" in attrs


def test_deleting_a_cookie() -> None:
    attrs = parsed(CookieChange("opmaat", None, 0, secure=True).header())
    assert attrs[""] == "opmaat"
    assert attrs["value"] in ("", '""')
    assert attrs["max-age"] == "0"
    assert attrs["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert "secure" in attrs
    assert attrs["path"] == "/"


def test_the_cookie_reads_back_with_a_cookie_parser() -> None:
    jar: SimpleCookie = SimpleCookie()
    jar.load(CookieChange("opmaat", "WyJhIiwiYiJd.awQ71w.ETbK-AFJ5ogl0", 10, True).header())
    assert jar["opmaat"].value == "WyJhIiwiYiJd.awQ71w.ETbK-AFJ5ogl0"
    assert jar["opmaat"]["max-age"] == "10"


# private_cache_control


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "private"),
        ("", "private"),
        ("public", "private"),
        ("public, max-age=60, s-maxage=600", "private, max-age=60"),
        ("PUBLIC, Max-Age=60, S-MAXAGE=600", "private, Max-Age=60"),
        ("s-maxage=600", "private"),
        ("private", "private"),
        ("private, max-age=5", "private, max-age=5"),
        ("no-store", "no-store"),
        ("public, no-store", "no-store"),
        ("private, no-store", "no-store"),
        ("No-Store, max-age=0", "No-Store, max-age=0"),
        ("no-cache", "private, no-cache"),
        ("max-age=0, must-revalidate", "private, max-age=0, must-revalidate"),
        (" max-age=60 ,, public ", "private, max-age=60"),
        ("private=set-cookie, max-age=60", "private, max-age=60"),
    ],
)
def test_private_cache_control(value: str | None, expected: str) -> None:
    assert private_cache_control(value) == expected


# html_charset


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html", "utf-8"),
        ("text/html; charset=utf-8", "utf-8"),
        ("text/html; charset=UTF8", "utf-8"),
        ('TEXT/HTML;CHARSET="UTF-8"', "utf-8"),
        ("text/html; charset=ISO-8859-1", "iso8859-1"),
        ("text/html; charset=latin-1", "iso8859-1"),
        ("text/html; charset=windows-1252", "cp1252"),
        ("text/html ; foo=bar; charset=utf-8", "utf-8"),
        ("text/html; charset=", "utf-8"),
        ("text/html; charset=no-such-charset", None),
        ("application/json", None),
        ("application/json; charset=utf-8", None),
        ("text/plain; charset=utf-8", None),
        ("application/xhtml+xml", None),
        ("text/htmlx", None),
        ("", None),
    ],
)
def test_html_charset(content_type: str, expected: str | None) -> None:
    assert html_charset(content_type) == expected


# decision_key, fill and the body rewriter, on real visits


def personalizer() -> Personalizer:
    return build_personalizer(str(DEMO_CAMPAIGNS), [KEY], None, False)


def page_for(p: Personalizer, referrer: str | None = None) -> PagePersonalization:
    headers = {"referer": referrer} if referrer else {}
    visit = asyncio.run(p.open(peer="127.0.0.1", headers=headers, cookies={}))
    return PagePersonalization(visit, url="http://shop.test/", referrer=referrer)


def decision(slot: str, html: str | None, campaign: str | None = "c") -> Decision:
    return Decision(slot, campaign, "a" if campaign else None, html, "because")


def with_decisions(decisions: dict[str, Decision]) -> PagePersonalization:
    page = page_for(personalizer())
    page.decisions = dict(decisions)
    return page


def test_decision_key_is_stable_and_tells_contents_apart() -> None:
    a = with_decisions({"hero": decision("hero", "<h2>A</h2>"), "side": decision("side", None)})
    same = with_decisions({"side": decision("side", None), "hero": decision("hero", "<h2>A</h2>")})
    other_campaign = with_decisions(
        {"hero": decision("hero", "<h2>A</h2>", "z"), "side": decision("side", None, "y")}
    )
    key = a.decision_key()
    assert len(key) == 16
    assert key == a.decision_key() == same.decision_key()
    assert key == other_campaign.decision_key()  # same content, same key
    assert with_decisions({"hero": decision("hero", "<h2>B</h2>")}).decision_key() != key
    assert (
        with_decisions({"hero": decision("hero", "<h2>A</h2>")}).decision_key() != key
    )  # a slot less
    empty = with_decisions({"hero": decision("hero", "")}).decision_key()
    none = with_decisions({"hero": decision("hero", None)}).decision_key()
    assert empty != none
    renamed = with_decisions(
        {"hero2": decision("hero2", "<h2>A</h2>"), "side": decision("side", None)}
    )
    assert renamed.decision_key() != key
    assert with_decisions({}).decision_key() == "-"


def test_decision_key_does_not_mix_up_slot_and_content() -> None:
    one = with_decisions({"a": decision("a", "b\0c")})
    two = with_decisions({"a": decision("a", "b"), "c": decision("c", "")})
    assert one.decision_key() != two.decision_key()


def test_response_headers() -> None:
    page = with_decisions({"hero": decision("hero", "<h2>A</h2>")})
    plain = page.response_headers(cdn_key=False)
    assert all(name == "set-cookie" for name, _ in plain)
    keyed = {k: v for k, v in page.response_headers(cdn_key=True) if k != "set-cookie"}
    assert keyed == {"x-opmaat-key": page.decision_key(), "vary": "X-Opmaat-Key"}
    cookies = [v for k, v in page.response_headers(cdn_key=True) if k == "set-cookie"]
    assert f"opmaat_key={page.decision_key()}; HttpOnly; Path=/; SameSite=lax" in cookies


def test_personalized_headers_replace_every_cache_control() -> None:
    page = with_decisions({})
    headers = [("Cache-Control", "public"), ("X-A", "1"), ("cache-control", "s-maxage=9")]
    out = personalized_headers(headers, page, cdn_key=False)
    assert [v for k, v in out if k.lower() == "cache-control"] == ["private"]
    assert ("X-A", "1") in out
    kept = personalized_headers(headers, page, cdn_key=True)
    assert [v for k, v in kept if k.lower() == "cache-control"] == ["public", "s-maxage=9"]


def test_fill_marks_and_keeps() -> None:
    slot = SlotElement("hero", "div", "<div data-opmaat-slot=hero>", "own", "</div>")
    other = SlotElement("other", "div", "<div data-opmaat-slot=other>", "mine", "</div>")
    out = fill(
        ["<p>", slot, other, "</p>"],
        {"hero": Decision("hero", "camp", "b", "<b>new</b>", "r")},
        {"hero": "T0k-en_"},
    )
    assert out == (
        '<p><div data-opmaat-slot=hero data-opmaat-filled="server" data-opmaat-campaign="camp"'
        ' data-opmaat-variant="b" data-opmaat-token="T0k-en_"><b>new</b></div>'
        "<div data-opmaat-slot=other>mine</div></p>"
    )
    kept = fill([slot], {"hero": Decision("hero", None, None, None, "default")}, {})
    assert kept == '<div data-opmaat-slot=hero data-opmaat-filled="server">own</div>'


def test_the_body_rewriter_decides_as_it_goes_and_reuses_decisions() -> None:
    page = page_for(personalizer(), GOOGLE)
    rewriter = BodyRewriter(page, "utf-8")
    body = '<meta name="opmaat:category" content="running"><div data-opmaat-slot=hero>x</div>'

    async def go() -> bytes:
        first = await rewriter.feed(body[:30].encode(), final=False)
        assert page.decisions == {}
        rest = await rewriter.feed(body[30:].encode(), final=True)
        return first + rest

    out = asyncio.run(go()).decode()
    assert page.meta == {"category": "running"}
    assert page.decisions["hero"].campaign == "search-hero"
    assert 'data-opmaat-campaign="search-hero"' in out
    assert page.touched


def test_the_body_rewriter_passes_bytes_outside_the_charset_through() -> None:
    rewriter = BodyRewriter(page_for(personalizer()), "utf-8")
    assert asyncio.run(rewriter.feed(b"<p>\xff</p>", final=True)) == b"<p>\xff</p>"
    assert asyncio.run(rewriter.feed(b"<p>later</p>", final=True)) == b"<p>later</p>"


def test_a_utf8_character_split_between_chunks() -> None:
    page = page_for(personalizer())
    rewriter = BodyRewriter(page, "utf-8")
    data = "<p>caf\u00e9 \U0001f45f</p>".encode()

    async def go() -> bytes:
        return b"".join(
            [await rewriter.feed(data[i : i + 1], final=False) for i in range(len(data))]
        )

    assert asyncio.run(go()) + asyncio.run(rewriter.feed(b"", final=True)) == data
    assert not page.touched


@pytest.mark.parametrize("charset", ["utf-16", "utf-16-be"])
def test_a_page_in_a_charset_with_a_byte_order_mark_keeps_its_bytes(charset: str) -> None:
    # Was a bug (page.py BodyRewriter.feed): every chunk is encoded on its own, and for utf-16
    # each one gets a new byte order mark: a streamed page with no slots comes out changed.
    page = page_for(personalizer())
    rewriter = BodyRewriter(page, charset)
    data = "<html><body><p>caf\u00e9</p><p>more</p></body></html>".encode(charset)
    half = len(data) // 2 // 2 * 2

    async def go() -> bytes:
        return await rewriter.feed(data[:half], final=False) + await rewriter.feed(
            data[half:], final=True
        )

    assert asyncio.run(go()) == data


def test_decide_counts_one_page_view_per_request() -> None:
    p = personalizer()
    page = page_for(p, GOOGLE)

    async def go() -> None:
        assert await page.decide([]) == {}
        hero = (await page.decide(["hero"]))["hero"]
        assert (await page.decide(["hero", "sidebar"]))["hero"] is hero

    asyncio.run(go())
    record = asyncio.run(p.store.get(page.visit.ident.visitor_id))
    assert record is not None
    assert record["session"]["pageviews"] == 1
    assert set(page.decisions) == {"hero", "sidebar"}


@pytest.mark.parametrize(
    ("config", "keys", "message"),
    [
        (None, [KEY], "config"),
        (str(DEMO_CAMPAIGNS), [], "secret_keys"),
        (str(DEMO_CAMPAIGNS), ["short"], "16 characters"),
        ("/no/such/campaigns.yaml", [KEY], "/no/such/campaigns.yaml"),
    ],
)
def test_build_personalizer_explains_what_is_missing(
    config: str | None, keys: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPMAAT_CONFIG", raising=False)
    monkeypatch.delenv("OPMAAT_SECRET_KEYS", raising=False)
    with pytest.raises(ValueError, match=message):
        build_personalizer(config, keys, None, True)


def test_build_personalizer_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPMAAT_CONFIG", str(DEMO_CAMPAIGNS))
    monkeypatch.setenv("OPMAAT_SECRET_KEYS", f" {KEY} , {'y' * 16}")
    p = build_personalizer(None, None, None, True)
    assert p.codec.secret_keys == (KEY, "y" * 16)
    assert p.secure_cookies
