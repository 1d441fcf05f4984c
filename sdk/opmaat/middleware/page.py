"""What the middleware does for one page, whatever the server interface: decisions for the
handler, slot filling for the HTML that leaves, and the headers that go with it."""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opmaat.decision_tokens import token_visitor
from opmaat.engine import Decision
from opmaat.html_slots import FILLED_ATTR, SERVER, Scanner, SlotElement
from opmaat.personalizer import CookieChange, Visit

KEY_HEADER = "x-opmaat-key"
KEY_COOKIE = "opmaat_key"


class PagePersonalization:
    """The personalization of one request, as handlers see it (``request.state.opmaat`` in
    Starlette, ``environ["opmaat.page"]`` under WSGI, where ``decide`` is synchronous).

    ``decide(slots)`` answers the same as the edge would; a slot decided twice in one request
    keeps its first answer, and the middleware fills the page's slots with these answers.
    ``tokens`` holds each decided slot's decision token, which the snippet sends back with the
    slot's impression and click.
    """

    def __init__(self, visit: Visit, *, url: str | None, referrer: str | None) -> None:
        self.visit = visit
        self.url = url
        self.referrer = referrer
        self.decisions: dict[str, Decision] = {}
        self.tokens: dict[str, str] = {}
        self.meta: dict[str, Any] = {}

    @property
    def consent(self) -> str:
        return self.visit.consent.tier

    @property
    def profile(self) -> dict[str, Any]:
        """The visitor's profile as conditions and templates see it, for this page."""
        facts = self.visit.facts(self.url, self.referrer, self.meta)
        return self.visit.profile(self.visit.runtime.context.build(facts))

    async def decide(self, slots: Sequence[str]) -> dict[str, Decision]:
        new = [s for s in dict.fromkeys(slots) if s not in self.decisions]
        if new or not self.visit.counted:
            made = await self.visit.page_view(
                new, url=self.url, referrer=self.referrer, page=self.meta
            )
            self.decisions.update(made)
            tokens = self.visit.personalizer.decision_tokens
            self.tokens.update(tokens.make(made, token_visitor(self.visit)))
        return {s: self.decisions[s] for s in slots if s in self.decisions}

    async def track(self, name: str, props: Mapping[str, Any] | None = None) -> None:
        """Note a named event for this visitor, as ``opmaat.track`` would (``add_to_cart``
        with the product, ``purchase``, a site event); raises EventError when it is not one."""
        tallies = self.visit.track(name, props)
        await self.visit.save_and_tally(tallies)

    async def identify(self, customer_id: str) -> bool:
        """Link this visitor to a customer id (full consent only; False otherwise)."""
        linked = self.visit.identify(customer_id)
        if linked:
            await self.visit.save()
        return linked

    @property
    def touched(self) -> bool:
        """Whether this request decided or noted anything (and so owes the visitor their
        cookies)."""
        visit = self.visit
        return visit.counted or bool(self.decisions) or bool(visit.changes) or visit.written

    def response_headers(self, cdn_key: bool) -> list[tuple[str, str]]:
        """Set-Cookie and caching headers for a response that was personalized."""
        out = [("set-cookie", c.header()) for c in self.visit.cookie_changes()]
        if cdn_key:
            key = self.decision_key()
            out += [(KEY_HEADER, key), ("vary", "X-Opmaat-Key")]
            out.append(("set-cookie", CookieChange(KEY_COOKIE, key, None, False).header()))
        return out

    def decision_key(self) -> str:
        """A short key that is the same exactly when the filled slots are the same."""
        digest = hashlib.sha256()
        for slot in sorted(self.decisions):
            html = self.decisions[slot].html
            digest.update(f"{slot}\0{html if html is not None else chr(1)}\0".encode())
        return digest.hexdigest()[:16] if self.decisions else "-"


def private_cache_control(value: str | None) -> str:
    """The response's Cache-Control made safe for shared caches: ``private`` (or ``no-store``
    kept), with ``public`` and ``s-maxage`` removed and the rest kept."""
    parts = [p.strip() for p in (value or "").split(",") if p.strip()]
    kept = [p for p in parts if p.split("=")[0].lower() not in ("public", "s-maxage", "private")]
    if any(p.lower() == "no-store" for p in kept):
        return ", ".join(kept)
    return ", ".join(["private", *kept])


def html_charset(content_type: str) -> str | None:
    """The charset of a text/html content type (utf-8 by default); None when it is not HTML
    or names a charset Python does not know."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "text/html":
        return None
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or "utf-8"
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def fill(
    parts: Iterable[str | SlotElement],
    decisions: Mapping[str, Decision],
    tokens: Mapping[str, str],
) -> str:
    """The HTML of ``parts`` with each slot that has a decision filled and marked (with its
    campaign, variant and decision token)."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        decision = decisions.get(part.name)
        if decision is None:
            out.append(part.start_tag + part.inner + part.end_tag)
            continue
        marks = {FILLED_ATTR: SERVER}
        if decision.campaign:
            marks["data-opmaat-campaign"] = decision.campaign
            if decision.variant:
                marks["data-opmaat-variant"] = decision.variant
            if part.name in tokens:
                marks["data-opmaat-token"] = tokens[part.name]
        out.append(part.filled(decision.html, marks))
    return "".join(out)


class BodyRewriter:
    """Fills the slots of an HTML body, whole or chunk by chunk, deciding slots as they appear
    (the handler's own decisions are reused). A body that turns out not to be in its declared
    charset is passed on unchanged from there: what was held back, then every later chunk.

    A ``shared`` body (cdn_key: a cache gives it to every visitor with the same decisions)
    carries no decision tokens, which are one visitor's: the snippet asks the edge for them."""

    def __init__(self, page: PagePersonalization, charset: str, *, shared: bool = False) -> None:
        self.page = page
        self.shared = shared
        self.scanner = Scanner(meta=page.meta)
        self.decoder = codecs.getincrementaldecoder(charset)(errors="strict")
        # Characters the charset lacks (a € in a Latin-1 page) become character references.
        self.encoder = codecs.getincrementalencoder(charset)(errors="xmlcharrefreplace")
        self.broken = False

    async def feed(self, chunk: bytes, final: bool) -> bytes:
        if self.broken:
            return chunk
        undecoded = self.decoder.getstate()[0]
        try:
            text = self.decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            self.broken = True
            held = self.encoder.encode(self.scanner.release(), final=True)
            return held + undecoded + chunk
        parts = self.scanner.feed(text, final=final)
        slots = [p.name for p in parts if isinstance(p, SlotElement)]
        decisions = await self.page.decide(slots) if slots else {}
        tokens = {} if self.shared else self.page.tokens
        return self.encoder.encode(fill(parts, decisions, tokens), final=final)
