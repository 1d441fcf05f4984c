"""Each example app, driven by its own framework's test client: slots filled server-side."""

from __future__ import annotations

import os
from typing import Any

import pytest

GOOGLE = {"Referer": "https://www.google.com/search?q=trail+shoes"}


def check_page(status: int, text: str, cookies: str) -> None:
    assert status == 200
    assert 'data-opmaat-filled="server" data-opmaat-campaign="search-hero"' in text
    assert "<h2>Found us on Google?</h2>" in text
    assert "opmaat=" in cookies


def test_fastapi_example() -> None:
    from examples.fastapi_app.app import app
    from fastapi.testclient import TestClient

    client = TestClient(app)
    r = client.get("/", headers=GOOGLE)
    check_page(r.status_code, r.text, r.headers.get("set-cookie", ""))
    assert r.headers["cache-control"] == "private"
    assert int(r.headers["content-length"]) == len(r.content)
    running = client.get("/running").text
    assert "<p>New trail shoes are in.</p>" in running
    assert client.get("/hero.json").json()["campaign"] == "search-hero"
    assert client.get("/docs").status_code == 200  # FastAPI's own HTML passes through intact


def test_flask_example() -> None:
    from examples.flask_app.app import app

    client = app.test_client()
    r = client.get("/", headers=GOOGLE)
    check_page(r.status_code, r.get_data(as_text=True), r.headers.get("Set-Cookie", ""))
    assert int(r.headers["Content-Length"]) == len(r.get_data())
    assert "<p>New trail shoes are in.</p>" in client.get("/running").get_data(as_text=True)
    assert client.get("/hero.json").get_json()["campaign"] == "search-hero"
    assert client.post("/").status_code == 405  # Flask's own answer, untouched


@pytest.fixture
def django_client() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_project.settings")
    import django

    django.setup()
    from django.test import Client

    return Client()


def test_django_example(django_client: Any) -> None:
    r = django_client.get("/", headers=GOOGLE)
    check_page(r.status_code, r.content.decode(), str(r.cookies))
    assert r["Cache-Control"] == "private"
    running = django_client.get("/running").content.decode()
    assert "<p>New trail shoes are in.</p>" in running
    assert django_client.get("/hero.json").json()["campaign"] == "search-hero"
