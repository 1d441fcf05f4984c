"""A visit's cookies: from the request's Cookie header when it has one (the first of two
same-named ones), else from the cookies the caller parsed; an empty cookie was still sent."""

from __future__ import annotations

import asyncio

from opmaat.personalizer import COOKIE_NAME, Personalizer, Visit
from opmaat.store import MemoryStore
from opmaat_edge.resources import DEMO_CAMPAIGNS

KEY = "a-signing-key-for-these-tests-0123456789"
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"


def _open(headers: dict[str, str], cookies: dict[str, str]) -> Visit:
    personalizer = Personalizer(DEMO_CAMPAIGNS, secret_keys=[KEY], store=MemoryStore())

    async def scenario() -> Visit:
        return await personalizer.open(peer="198.51.100.1", headers=headers, cookies=cookies)

    return asyncio.run(scenario())


def test_the_cookie_header_is_read_and_the_parsed_cookies_are_not_needed() -> None:
    header = {"user-agent": UA, "cookie": f"other=1; {COOKIE_NAME}=; opmaat_consent=full"}
    visit = _open(header, {})
    assert visit.had_cookie  # sent, if empty (a fresh visitor, and no rejected cookie)
    assert visit.ident.fresh
    assert not visit.ident.rejected
    assert visit.consent.tier == "full"


def test_without_a_cookie_header_the_parsed_cookies_count() -> None:
    visit = _open({"user-agent": UA}, {COOKIE_NAME: "junk", "opmaat_consent": "session"})
    assert visit.had_cookie
    assert visit.consent.tier == "session"
    assert not _open({"user-agent": UA}, {}).had_cookie
    assert not _open({"user-agent": UA, "cookie": "other=1"}, {COOKIE_NAME: "x"}).had_cookie
