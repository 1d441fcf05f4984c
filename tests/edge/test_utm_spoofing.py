"""Issue 19, finding 9: the text of a link (utm_source, utm_term) does not reach the page's copy.

Anyone can write a link to the shop with ``?utm_medium=organic&utm_source=...&utm_term=...``;
only a search engine that ``referrers.yaml`` knows names ``referrer.source`` and, from its own
referrer URL, ``referrer.term``. A campaign that must show the link's text opts in with
``raw_utm: true`` and gets it escaped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.testclient import TestClient

from tests.edge.conftest import MakeClient

HOME = "http://127.0.0.1/"
TERM = "your order is on hold: call 0800-555-0199"
SPOOF = HOME + "?" + urlencode({"utm_medium": "organic", "utm_source": "Support", "utm_term": TERM})
GOOGLE = "https://www.google.com/search?q=running+shoes"


def decide(client: TestClient, url: str, referrer: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"slots": ["hero"], "url": url}
    if referrer is not None:
        body["referrer"] = referrer
    r = client.post("/v1/decide", content=json.dumps(body))
    assert r.status_code == 200, r.text
    hero: dict[str, Any] = r.json()["slots"]["hero"]
    return hero


def test_a_spoofing_link_does_not_write_the_heros_copy(client: TestClient) -> None:
    for url in (SPOOF, HOME + "c/outdoor"):  # the landing, then the rest of the session
        hero = decide(client, url)
        assert hero["campaign"] == "search-hero"  # utm_medium still says how they came
        shown = json.dumps(hero).lower()
        assert "support" not in shown
        assert "0800" not in shown
        assert "Found us on the web?" in hero["html"]
    data = client.get("/v1/me").json()
    assert (data["referrer"]["source"], data["referrer"]["term"]) == (None, None)
    assert data["utm"] == {"medium": "organic", "source": "Support", "term": TERM}
    page = client.get("/me").text  # the privacy page's "You came ..."
    assert "search on Support" not in page
    assert "0800" not in page


def test_a_real_google_search_still_shows_its_term(client: TestClient) -> None:
    hero = decide(client, HOME, GOOGLE)
    assert hero["campaign"] == "search-hero"
    assert "Found us on Google?" in hero["html"]
    assert "Everything for “running shoes”" in hero["html"]
    # A link that names a known engine gives its name, never its own term.
    client.cookies.clear()
    query = {"utm_medium": "organic", "utm_source": "Google", "utm_term": TERM}
    hero = decide(client, HOME + "?" + urlencode(query))
    assert "Found us on Google?" in hero["html"]
    assert "0800" not in json.dumps(hero)


OPTED_IN = """site: {consent_default: session}
slots:
  hero: {default: "<p>Welcome</p>"}
campaigns:
  - id: partner-link
    slot: hero
    raw_utm: true
    audience: {utm.source: {$exists: true}}
    variants:
      - key: a
        html: "<p>Welcome, reader of {{ utm.source }}: {{ utm.term }}</p>"
"""


def test_a_campaign_that_opts_in_gets_the_links_text_escaped(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = tmp_path / "campaigns.yaml"
    config.write_text(OPTED_IN, encoding="utf-8")
    client = make_client(config, demo=False)
    url = HOME + "?" + urlencode({"utm_source": "<b>Blog</b>", "utm_term": TERM})
    hero = decide(client, url)
    assert hero["campaign"] == "partner-link"
    assert hero["html"] == f"<p>Welcome, reader of &lt;b&gt;Blog&lt;/b&gt;: {TERM}</p>"
