"""Issue 12, no open redirect: every redirect of the edge (a PURL's ``/p/<token>``, the privacy
page's form, Starlette's trailing-slash redirects) goes to a relative path on the site or to a
host the campaign file names, whatever the campaign file's landing says and whatever the
request carries.

Where a Location leads is judged as a browser would (``browser_target``), not as Python's
``urljoin`` would: the two disagree on backslashes, tabs and ``https:host``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from opmaat.campaigns import check_file, load_campaigns
from opmaat.errors import ConfigError
from opmaat.purl import PurlSigner, create_recipients
from tests.edge.conftest import KEYS, MakeClient

SITE_HOST = "shop.example"
EDGE = "http://127.0.0.1"
ABSOLUTE_LANDING = "https://shop.example/spring"
# Two mailings: one lands on a path, the other on an absolute URL on a landing host.
SITE = """site:
  name: Shop
  hosts: [shop.example]
  landing_hosts: [shop.example]
slots:
  hero: {default: "<p>default</p>"}
campaigns:
  - id: mail
    slot: hero
    consent: session
    audience: {purl.campaign: mail}
    purl: {recipients: mail-links.csv, landing: LANDING}
    variants: [{key: a, html: "<p>Hi {{ purl.first_name }}</p>"}]
  - id: partner
    slot: hero
    priority: 2
    consent: session
    audience: {purl.campaign: partner}
    purl: {recipients: partner-links.csv, landing: "https://shop.example/spring"}
    variants: [{key: a, html: "<p>Hello {{ purl.first_name }}</p>"}]
"""
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


# --- where a browser goes -----------------------------------------------------------------


def _host(authority_and_more: str) -> str:
    authority = re.split(r"[/?#]", authority_and_more, maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    host = host[: host.index("]") + 1] if host.startswith("[") else host.split(":")[0]
    # Percent-decoded and mapped (fullwidth letters to ASCII) as a browser's host parser does.
    return unicodedata.normalize("NFKC", unquote(host)).lower()


def browser_target(base: str, location: str) -> tuple[str, str]:
    """``(scheme, host)`` a browser goes to when ``base`` answers with ``location``: the URL
    Standard's steps as far as they decide the host. Leading and trailing controls and spaces
    are dropped, tabs and newlines anywhere removed; in http(s) a backslash is a slash; any
    number of slashes may come before a host; ``https:x`` is a path on the base's host when
    the base is https too, but the host ``x`` when it is not."""
    page = urlsplit(base)
    text = re.sub("[\t\n\r]", "", location.strip(_C0_AND_SPACE))
    found = _SCHEME.match(text)
    if found is not None:
        scheme = found.group(1).lower()
        rest = text[found.end() :]
        if scheme not in ("http", "https"):
            return scheme, ""
        rest = rest.replace("\\", "/")
        if scheme == page.scheme and not rest.startswith("//"):
            return scheme, page.hostname or ""
        return scheme, _host(rest.lstrip("/"))
    text = text.replace("\\", "/")
    if text.startswith("//"):
        return page.scheme, _host(text.lstrip("/"))
    return page.scheme, page.hostname or ""


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("/welcome", SITE_HOST),
        ("//evil.example/x", "evil.example"),
        ("/\\evil.example", "evil.example"),
        ("\\/evil.example", "evil.example"),
        ("/\t/evil.example", "evil.example"),
        (" //evil.example", "evil.example"),
        ("https:evil.example", SITE_HOST),  # same scheme as the page: a relative path
        ("http:evil.example", "evil.example"),  # another scheme: a host
        ("https:///\\evil.example", "evil.example"),
        ("https://shop.example@evil.example/", "evil.example"),
        ("https://evil.example\\@shop.example/", "evil.example"),
        ("https://evil.example%5C@shop.example/", SITE_HOST),
        ("https://\uff53hop.example/", SITE_HOST),  # fullwidth s: mapped to ASCII
        ("https://\u0455hop.example/", "\u0455hop.example"),  # Cyrillic s: another host
        ("/%2F%2Fevil.example", SITE_HOST),
        ("%2F%2Fevil.example", SITE_HOST),
    ],
)
def test_browser_target_reads_locations_as_a_browser_does(location: str, host: str) -> None:
    assert browser_target("https://shop.example/p/token", location)[1] == host


def on_site(location: str, *bases: str) -> bool:
    """Whether a browser stays on the site after ``location``, from a page on any of ``bases``
    (the edge's own address and the site's public ones, http and https)."""
    for base in bases or (EDGE + "/p/x", "https://shop.example/p/x", "http://shop.example/p/x"):
        scheme, host = browser_target(base, location)
        if scheme not in ("http", "https") or host not in (SITE_HOST, urlsplit(base).hostname):
            return False
    return True


# --- a site with personal links ------------------------------------------------------------


def write_site(folder: Path, landing: str) -> Path:
    """The campaign file with the mail campaign's landing ``landing`` (a YAML double-quoted
    string, so every character of it reaches the loader), and both mailings' link files."""
    for campaign in ("mail", "partner"):
        text, problems, _ = create_recipients(
            f"id,first_name\n{campaign}-1,Ann\n{campaign}-2,Bob\n",
            filename=f"{campaign}.csv",
            base_url="https://shop.example",
            signer=PurlSigner(KEYS),
        )
        assert problems == []
        (folder / f"{campaign}-links.csv").write_text(text, encoding="utf-8")
    config = folder / "campaigns.yaml"
    config.write_text(SITE.replace("LANDING", json.dumps(landing)), encoding="utf-8")
    return config


def tokens(folder: Path, campaign: str) -> list[str]:
    text = (folder / f"{campaign}-links.csv").read_text(encoding="utf-8")
    return [
        urlsplit(row["url"]).path.rsplit("/", 1)[1] for row in csv.DictReader(io.StringIO(text))
    ]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path, "/welcome")


@pytest.fixture
def shop(make_client: MakeClient, site: Path) -> TestClient:
    return make_client(site)


def redirect(client: TestClient, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    r = client.request(method, path, follow_redirects=False, **kwargs)
    assert len(r.headers.get_list("location")) <= 1
    return r


# --- PURLs ------------------------------------------------------------------------------------


def test_every_purl_answer_goes_to_a_configured_place(shop: TestClient, site: Path) -> None:
    mail, partner = tokens(site.parent, "mail")[0], tokens(site.parent, "partner")[0]
    key, stamp, signature = mail.split(".")
    cases = {
        mail: "/welcome",
        partner: ABSOLUTE_LANDING,
        f"{key}.{stamp}.{'A' * len(signature)}": "/welcome",  # bad signature: no name, same page
        f"ZZZZ9999.{stamp}.{signature}": "/",  # unknown key: the site's home
        "not-a-token": "/",
        "a" * 300: "/",
        "%2F%2Fevil.example": "/",
        "javascript:alert(1)": "/",
    }
    for token, landing in cases.items():
        for method in ("GET", "HEAD"):
            shop.cookies.clear()
            r = redirect(shop, f"/p/{token}", method=method)
            assert r.status_code == 303, (token, r.status_code)
            assert r.headers["location"] == landing, token
            assert on_site(r.headers["location"])
            assert r.headers["referrer-policy"] == "no-referrer"


TRICKS = [
    {"params": {"next": "https://evil.example"}},
    {"params": {"landing": "//evil.example", "url": "javascript:alert(1)"}},
    {"params": {"redirect": "%2F%2Fevil.example", "return_to": "/\\evil.example"}},
    {"headers": {"Host": "evil.example"}},
    {"headers": {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "javascript"}},
    {"headers": {"Forwarded": "host=evil.example;proto=https"}},
    {"headers": {"X-Original-URL": "//evil.example", "X-Rewrite-URL": "//evil.example"}},
    {"headers": {"Referer": "https://evil.example/", "Origin": "https://evil.example"}},
]


@pytest.mark.parametrize("trick", TRICKS, ids=lambda t: json.dumps(t)[:60])
def test_the_request_cannot_change_where_a_purl_goes(
    shop: TestClient, site: Path, trick: dict[str, dict[str, str]]
) -> None:
    mail, partner = tokens(site.parent, "mail")[1], tokens(site.parent, "partner")[1]
    for token, landing in ((mail, "/welcome"), (partner, ABSOLUTE_LANDING), ("nope", "/")):
        shop.cookies.clear()
        r = redirect(shop, f"/p/{token}", params=trick.get("params"), headers=trick.get("headers"))
        assert r.status_code == 303
        assert r.headers["location"] == landing


@pytest.mark.parametrize(
    "suffix",
    [
        "/https://evil.example",
        "/..%2F..%2Fevil.example",
        "%2F%2Fevil.example",
        "%2F..%2F..%2F%2Fevil.example",
        ";//evil.example",
        "%0d%0aLocation:%20https://evil.example",
        "%5C%5Cevil.example",
    ],
)
def test_extra_path_segments_never_lead_off_the_site(
    shop: TestClient, site: Path, suffix: str
) -> None:
    token = tokens(site.parent, "mail")[0]
    for path in (f"/p/{token}{suffix}", f"/p{suffix}", f"/p/{suffix.lstrip('/')}"):
        shop.cookies.clear()
        r = redirect(shop, EDGE + path)
        assert r.status_code in (303, 307, 404), (path, r.status_code)
        if r.status_code != 404:
            assert on_site(r.headers["location"], EDGE + path), (path, r.headers["location"])


@pytest.mark.parametrize(
    "path",
    ["/p/TOKEN/", "/p/nope/", "/me/", "/cart/", "/c/running/", "/ssr", "/v1/decide/"],
)
def test_a_forged_host_header_never_makes_a_redirect_to_that_host(
    shop: TestClient, site: Path, path: str
) -> None:
    # Starlette's default redirect_slashes answered a path with (or, for a Mount, without) a
    # trailing slash with a 307 whose Location was absolute and built from the Host header:
    # `Host: evil.example` got `Location: http://evil.example/cart` (an open redirect behind
    # any proxy that passes Host on). The edge turns slash redirects off.
    path = path.replace("TOKEN", tokens(site.parent, "mail")[0])
    r = redirect(shop, path, headers={"Host": "evil.example"})
    if 300 <= r.status_code < 400:
        host = browser_target(EDGE + path, r.headers["location"])[1]
        assert host != "evil.example", r.headers["location"]


# --- landing tricks in the campaign file ---------------------------------------------------

# Refused at load: each would take a browser off the site, or is no http(s) page.
REFUSED = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",  # from an http page a browser reads this as https://evil.example
    "http:evil.example",
    "https:/evil.example",
    "https:\\\\evil.example",
    "https://evil.example",
    "HTTPS://EVIL.EXAMPLE/",
    "http://shop.example@evil.example/",
    "https://shop.example:443@evil.example/",
    "//shop.example@evil.example",
    "https://shop.example.evil.example/",
    "https://evil.example\\shop.example/",
    "%2F%2Fevil.example",
    "https://\u0455hop.example/",  # Cyrillic s
    "javascript:alert(1)",
    "JavaScript:alert(1)//https://shop.example/",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "https://shop.ex\tample/",
    "https://shop.example/\nLocation: https://evil.example",
    # User info: which part is the host depends on who parses it; refused whole.
    "https://evil.example;@shop.example/",
    "https://evil.example\\@shop.example/",
]
# Accepted, and provably on the site: the served Location is checked with browser_target.
STAYS = [
    # A browser keeps %2F escaped in a path: https://shop.example/%2F%2Fevil.example is a
    # path on the shop (which the edge answers 404, below), never the host evil.example.
    "/%2F%2Fevil.example",
    # Dot segments are removed after the host is known: the path becomes //evil.example on
    # the shop's own host.
    "/.//evil.example",
    "/%5Cevil.example",  # an escaped backslash stays a path character
    "https://shop.example/ok#@evil.example",  # the @ is in the fragment
]


def landing_problems(config: Path) -> list[str]:
    return [str(p) for p in check_file(config) if "purl.landing" in p.field]


@pytest.mark.parametrize("landing", REFUSED + STAYS)
def test_a_landing_is_refused_at_load_or_stays_on_the_site(
    make_client: MakeClient, tmp_path: Path, landing: str
) -> None:
    config = write_site(tmp_path, landing)
    problems = landing_problems(config)
    if problems:
        assert landing in REFUSED, problems
        with pytest.raises(ConfigError, match="landing"):
            load_campaigns(config)
        return
    assert landing in STAYS, f"{landing!r} was accepted"
    client = make_client(config)
    r = redirect(client, f"/p/{tokens(tmp_path, 'mail')[0]}")
    assert r.status_code == 303
    location = r.headers["location"]
    assert on_site(location), location
    if location.startswith("/"):  # and what the site answers there is no redirect elsewhere
        there = redirect(client, EDGE + location)
        if 300 <= there.status_code < 400:
            assert on_site(there.headers["location"], EDGE + location)


def test_a_backslash_before_the_user_name_is_refused_at_load(tmp_path: Path) -> None:
    # urlsplit reads "https://evil.example\@shop.example/" as user "evil.example\" on
    # shop.example, while a browser reads the backslash as a slash: host evil.example. A
    # landing with a backslash or user info is refused.
    landing = "https://evil.example\\@shop.example/"
    assert browser_target("https://shop.example/", landing)[1] == "evil.example"
    assert landing_problems(write_site(tmp_path, landing)) != []


def test_an_absolute_landing_on_a_landing_host_is_kept_as_written(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = write_site(tmp_path, "https://shop.example/welcome?from=mail#top")
    assert landing_problems(config) == []
    r = redirect(make_client(config), f"/p/{tokens(tmp_path, 'mail')[0]}")
    assert r.headers["location"] == "https://shop.example/welcome?from=mail#top"


# --- the privacy page's form -------------------------------------------------------------------


def form_token(client: TestClient) -> str:
    page = client.get("/me")
    assert page.status_code == 200
    found = re.search(r'name="token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(
    ("action", "extra"),
    [("prefs", {"add_interest": "running"}), ("consent", {"consent": "full"}), ("delete", {})],
)
@pytest.mark.parametrize("host", [None, "evil.example"])
def test_the_privacy_form_redirects_to_a_relative_path(
    shop: TestClient, action: str, extra: dict[str, str], host: str | None
) -> None:
    headers = {"Host": host} if host else {}
    token = form_token(shop)
    r = redirect(
        shop,
        "/me",
        method="POST",
        data={"token": token, "action": action, **extra},
        headers=headers,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"me?done={action}"
    assert on_site(r.headers["location"], EDGE + "/me")


@pytest.mark.parametrize(
    "action", ["//evil.example", "https://evil.example", "prefs/../../evil.example", "prefs?x=//e"]
)
def test_a_made_up_form_action_is_no_redirect(shop: TestClient, action: str) -> None:
    token = form_token(shop)
    r = redirect(shop, "/me", method="POST", data={"token": token, "action": action})
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "evil.example" not in r.text


@pytest.mark.parametrize("done", ["//evil.example", "https://evil.example", "<b>prefs</b>"])
def test_the_done_message_is_chosen_by_the_edge_not_the_link(shop: TestClient, done: str) -> None:
    r = redirect(shop, "/me", params={"done": done})
    assert r.status_code == 200
    assert "location" not in r.headers
    assert done not in r.text
    assert "evil.example" not in r.text
