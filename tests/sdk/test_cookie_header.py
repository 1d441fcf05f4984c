"""The Set-Cookie headers are written directly, exactly as http.cookies writes them."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from opmaat.personalizer import CookieChange

VALUES = [
    "WyJ2aXNpdG9yIiwic2Vzc2lvbiJd.Z1x2Ag.AbC-d_e",  # what the codec signs
    "full",
    "",
    None,  # a delete
    'a b"c;d\\e',  # quoted and escaped
    "naïve",
    "~:!#$%&'*+-.^_`|",
]


def written_by_http_cookies(change: CookieChange) -> str:
    jar: SimpleCookie = SimpleCookie()
    jar[change.name] = change.value or ""
    morsel = jar[change.name]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "lax"
    if change.secure:
        morsel["secure"] = True
    if change.domain:
        morsel["domain"] = change.domain
    if change.value is None:
        morsel["max-age"] = 0
        morsel["expires"] = "Thu, 01 Jan 1970 00:00:00 GMT"
    elif change.max_age is not None:
        morsel["max-age"] = change.max_age
    return morsel.OutputString()


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("max_age", [None, 0, 395 * 86400])
@pytest.mark.parametrize("secure", [True, False])
@pytest.mark.parametrize("domain", [None, "", ".shop.example"])
def test_the_header_is_what_http_cookies_writes(
    value: str | None, max_age: int | None, secure: bool, domain: str | None
) -> None:
    for name in ("opmaat", "opmaat_consent"):
        change = CookieChange(name, value, max_age, secure, domain)
        assert change.header() == written_by_http_cookies(change)


def test_a_session_cookie_and_a_delete_read_as_expected() -> None:
    assert CookieChange("opmaat", "v.1", None, True).header() == (
        "opmaat=v.1; HttpOnly; Path=/; SameSite=lax; Secure"
    )
    assert CookieChange("opmaat", None, 0, False, ".shop.example").header() == (
        'opmaat=""; Domain=.shop.example; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; '
        "Max-Age=0; Path=/; SameSite=lax"
    )
