"""Driving the cockpit over HTTP as a browser would: log in (with a user name or the shared
password), read a page's form with every field as the browser would send it, post it."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
from selectolax.lexbor import LexborHTMLParser
from starlette.testclient import TestClient

from opmaat_edge.cockpit.ledger import cockpit_folder, users_file
from opmaat_edge.cockpit.ledger_files import FileLedger
from opmaat_edge.cockpit.users import add_user, new_user
from opmaat_edge.resources import DEMO
from tests.edge.conftest import MakeClient

SHARED = "correct horse battery"
PASSWORD = "a password for the tests"
ROLES = ("viewer", "editor", "publisher", "admin")
Form = list[tuple[str, str]]


def demo_copy(folder: Path) -> Path:
    """The demo's folder copied to ``folder`` (the cockpit writes beside the campaign file)."""
    shutil.copytree(DEMO, folder, dirs_exist_ok=True)
    for made in folder.glob("*.cockpit"):
        shutil.rmtree(made)
    return folder / "campaigns.yaml"


def ledger_of(config: Path) -> FileLedger:
    return FileLedger(cockpit_folder(config), users_file(config))


def add_users(config: Path, *roles: str) -> None:
    """One user per role, named as the role ("editor" ...), with ``PASSWORD``."""

    async def add() -> None:
        for role in roles:
            await add_user(ledger_of(config), new_user(f"{role}-user", role, PASSWORD, "tests"))

    asyncio.run(add())


def form_fields(html: str, selector: str) -> Form:
    """The fields the form ``selector`` sends as it is (no submit button)."""
    form = LexborHTMLParser(html).css_first(selector)
    assert form is not None, selector
    out: Form = []
    for field in form.css("input, select, textarea"):
        name = field.attributes.get("name")
        if not name:
            continue
        kind = (field.attributes.get("type") or "text").lower()
        if field.tag == "input":
            if kind in ("checkbox", "radio"):
                if "checked" in field.attributes:
                    out.append((name, field.attributes.get("value") or "on"))
            elif kind not in ("submit", "button", "file", "reset"):
                out.append((name, field.attributes.get("value") or ""))
        elif field.tag == "select":
            options = field.css("option")
            chosen = [o for o in options if "selected" in o.attributes] or options[:1]
            if chosen:
                value = chosen[0].attributes.get("value")
                out.append((name, value if value is not None else chosen[0].text()))
        else:
            out.append((name, field.text()))
    return out


def replaced(form: Form, **changes: str | list[str]) -> Form:
    """``form`` with fields set (a list for several values); names use "__" for "."."""
    wanted = {k.replace("__", "."): v for k, v in changes.items()}
    out = [(k, v) for k, v in form if k not in wanted]
    for name, value in wanted.items():
        out.extend((name, v) for v in ([value] if isinstance(value, str) else value))
    return out


class Cockpit:
    """One browser on the cockpit."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def login(self, user: str = "", password: str = SHARED) -> httpx.Response:
        page = self.client.get("/cockpit/login")
        found = re.search(r'name="token" value="([^"]+)"', page.text)
        assert found is not None, page.text
        return self.client.post(
            "/cockpit/login",
            data={"token": found.group(1), "user": user, "password": password},
            follow_redirects=False,
        )

    def csrf(self) -> str:
        page = self.client.get("/cockpit")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, form: Form | dict[str, str], **options: Any) -> httpx.Response:
        items = list(form.items()) if isinstance(form, dict) else form
        return self.client.post(
            path,
            content=urlencode(items),
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=options.pop("follow_redirects", False),
            **options,
        )

    def submit(self, path: str, act: str, **changes: str | list[str]) -> httpx.Response:
        """Open the editor at ``path``, change fields, press the button ``act``."""
        page = self.get(path)
        assert page.status_code == 200, page.text
        return self.press(path, page.text, act, **changes)

    def press(self, path: str, html: str, act: str, **changes: str | list[str]) -> httpx.Response:
        form = replaced(form_fields(html, "form#editor"), **changes)
        action = path if path.endswith(("/edit", "/new")) else path.split("?")[0]
        return self.post(action, [*form, ("act", act)])


def logged_in(make_client: MakeClient, config: Path, user: str = "", **settings: Any) -> Cockpit:
    client = make_client(config, cockpit_password=SHARED, **settings)
    cockpit = Cockpit(client)
    answer = cockpit.login(user, PASSWORD if user else SHARED)
    assert answer.status_code == 303, answer.text
    return cockpit


def texts(html: str, selector: str) -> list[str]:
    return [node.text(strip=True) for node in LexborHTMLParser(html).css(selector)]


def first(html: str, selector: str) -> str:
    found = texts(html, selector)
    assert found, selector
    return found[0]


Check = Callable[[httpx.Response], None]
