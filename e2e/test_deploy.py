"""The first-party deployment of examples/deploy/nginx-shop.conf, with a real nginx: the shop's
own page loads the snippet from /_opmaat/, slots fill, the cookie is the shop's."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = Path(__file__).parent.parent / "examples" / "deploy" / "nginx-shop.conf"
SHOP_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>Shop</title>
<script async src="/_opmaat/opmaat.js"></script></head><body>
<div data-opmaat-slot="hero" style="min-height:120px"><h2>Welcome</h2></div>
<a href="/_opmaat/me">Your data</a></body></html>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def shop_url(edge_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed")
    tmp = tmp_path_factory.mktemp("nginx")
    (tmp / "www").mkdir()
    (tmp / "www" / "index.html").write_text(SHOP_PAGE)
    port = free_port()
    # The example as it is, but plain HTTP on a free port: the TLS block becomes the test's.
    example = EXAMPLE.read_text()
    tls = example.index("server {", example.index("return 301"))
    server = (
        example[tls:]
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
        .replace("ssl_certificate /etc/letsencrypt/live/shop.example/fullchain.pem;", "")
        .replace("ssl_certificate_key /etc/letsencrypt/live/shop.example/privkey.pem;", "")
        .replace("root /var/www/shop;", f"root {tmp / 'www'};")
        .replace("proxy_pass http://127.0.0.1:8000/;", f"proxy_pass {edge_url}/;")
    )
    temp_paths = "".join(
        f"{kind}_temp_path {tmp / kind};\n" for kind in ("client_body", "proxy", "fastcgi")
    ) + "".join(f"{kind}_temp_path {tmp / kind};\n" for kind in ("uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        # Workers as root only because the test's files live in root's private temp dir.
        f"daemon off;\nuser root;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'error.log'};\nevents {{ worker_connections 64; }}\n"
        f"http {{\naccess_log off;\n{temp_paths}"
        "types { text/html html; application/javascript js; }\n"
        f"{server}\n}}\n"
    )
    proc = subprocess.Popen([NGINX, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                raise
            except OSError:
                assert proc.poll() is None, (tmp / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_snippet_decide_and_cookie_through_the_shops_own_host(
    browser: Browser, shop_url: str, console_of: Callable[[Any], list[str]]
) -> None:
    context = browser.new_context(base_url=shop_url)
    page = context.new_page()
    errors = console_of(page)
    with page.expect_request("**/_opmaat/v1/decide") as decide:
        page.goto("/", referer="https://www.google.com/search?q=tents")
    assert decide.value.url == shop_url + "/_opmaat/v1/decide"
    hero = page.locator("[data-opmaat-slot=hero]")
    expect(hero).to_contain_text("Found us on Google?")
    (cookie,) = [c for c in context.cookies() if c["name"] == "opmaat"]
    assert cookie["domain"] == "127.0.0.1"  # the shop's host: a first-party cookie
    assert cookie["httpOnly"]
    # The privacy page works under the prefix, relative links and forms included.
    page.get_by_role("link", name="Your data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data and personalization")
    page.get_by_role("button", name="Delete everything about me").click()
    expect(page).to_have_url(shop_url + "/_opmaat/me?confirm=delete#your-data")
    page.get_by_role("button", name="Yes, delete everything").click()
    expect(page.get_by_role("status")).to_have_text("Everything we kept about you is deleted.")
    assert page.url.startswith(shop_url + "/_opmaat/me")
    # The way back leads to the shop's own home page, not the edge's.
    page.get_by_role("link", name="← Back to Opmaat demo shop").first.click()
    expect(page).to_have_url(shop_url + "/")
    # /metrics is not public through the site.
    assert page.request.get(shop_url + "/_opmaat/metrics").status == 404
    assert page.request.get(shop_url + "/_opmaat/healthz").status == 404
    assert errors == []
    context.close()
