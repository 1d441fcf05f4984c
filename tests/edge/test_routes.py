from __future__ import annotations

import gzip

from starlette.testclient import TestClient

from opmaat_edge.snippet import GZIP_BUDGET
from tests.edge.conftest import MakeClient


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["campaigns"] >= 3
    assert body["counters"]["rejected_cookies"] == 0
    assert body["counters"]["render_errors"] == 0


def test_snippet_is_minified_gzipped_and_cacheable(client: TestClient) -> None:
    r = client.get("/opmaat.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["content-encoding"] == "gzip"
    etag = r.headers["etag"]
    assert "/*" not in r.text  # comments are gone
    assert client.get("/opmaat.js", headers={"If-None-Match": etag}).status_code == 304
    version = etag.strip('"')
    immutable = client.get(f"/opmaat.js?v={version}")
    assert "immutable" in immutable.headers["cache-control"]
    assert "immutable" not in client.get("/opmaat.js?v=old").headers["cache-control"]


def test_snippet_size_budget(client: TestClient) -> None:
    served = client.get("/opmaat.js", headers={"Accept-Encoding": "identity"}).content
    assert len(gzip.compress(served, compresslevel=9)) <= GZIP_BUDGET


def test_demo_pages(client: TestClient) -> None:
    for path in ("/", "/c/running", "/product/trail-runner", "/cart", "/banner"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "data-opmaat-slot" in r.text
        assert "/opmaat.js?v=" in r.text


def test_unknown_pages_are_json_404(client: TestClient) -> None:
    for path in ("/nothing/here", "/v1/nothing"):
        r = client.get(path)
        assert r.status_code == 404
        assert "error" in r.json()


def test_a_shop_page_that_is_not_there_is_the_shops_own_404_page(client: TestClient) -> None:
    # A link the shop shows may lead there (an interest a visitor added is no category).
    for path, what in (("/c/camping", "category"), ("/product/nope", "product")):
        r = client.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert f"We have no such {what}" in r.text
        assert 'href="/c/running"' in r.text


def test_a_bare_edge_says_what_it_is_on_its_home_page(make_client: MakeClient) -> None:
    bare = make_client(demo=False)
    for method in ("GET", "HEAD"):
        r = bare.request(method, "/")
        assert r.status_code == 200, method
        assert r.headers["content-type"].startswith("text/html")
    html = bare.get("/").text
    assert "The personalization server of Opmaat demo shop" in html
    for link in ('href="me"', 'href="cockpit"', 'href="healthz"', "github.com/opmaat/opmaat"):
        assert link in html
    assert "purl.landing" in html  # why a personalized link may have landed here
    csp = bare.get("/").headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    # The demo's home page is the shop's.
    assert 'data-opmaat-slot="hero"' in make_client(demo=True).get("/").text


def test_wrong_method_is_json_405(client: TestClient) -> None:
    r = client.delete("/v1/decide")
    assert r.status_code == 405
    assert "error" in r.json()
