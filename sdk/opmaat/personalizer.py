"""Deciding for real requests: consent, identity, the stored record, page views and cookies.

The edge and the SDK middleware both go through this, so a visitor gets the same decisions and
the same profile from either. It knows nothing of any web framework: callers pass the peer
address, lower-case headers and cookies, and turn ``cookie_changes()`` into Set-Cookie headers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import Any, Final, Protocol

from opmaat import compiled
from opmaat.campaigns.model import SiteSettings
from opmaat.cart import MAX_CART_BYTES, MAX_CART_ITEMS, cart_has_room
from opmaat.channel_prefs import contacts_change, held_back
from opmaat.channels import (
    customer_visitor_ids,
    drop_link,
    linked_visitor,
    overlay,
    record_customer,
    write_link,
)
from opmaat.consent import CONSENT_COOKIE, Consent, resolve_consent
from opmaat.context import parse_device
from opmaat.decision_tokens import DecisionTokens
from opmaat.engine import Decision
from opmaat.event_counts import note_event
from opmaat.explicit import room_error
from opmaat.history import note_adaptive, note_arms, note_decisions
from opmaat.identity import (
    COOKIE_NAME,
    CookieCodec,
    IdentifyProof,
    Identity,
    first_cookie,
    new_id,
)
from opmaat.interests import note_interest
from opmaat.limits import Limits, fit_record
from opmaat.profile import RequestFacts, build_profile
from opmaat.profile_reads import EVERYTHING, ProfileReads
from opmaat.recommend.events import Event
from opmaat.recommend.live import LiveRecommender
from opmaat.runtime import Runtime, RuntimeHolder
from opmaat.store import HELD_BACK, MemoryStore, ProfileStore, Record
from opmaat.tracking import EventError, Tally, apply_event, check_event, credit_goal, page_product
from opmaat.visits import record_pageview

log = logging.getLogger("opmaat")

CONSENT_COOKIE_SECONDS = 395 * 86400
_CUSTOMER_ID = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
MAX_SAVE_ATTEMPTS = 4
MAX_RETIRED_IDS = 5  # old visitor ids a profile remembers, for erasure
Change = Callable[[Record], Record]


# Changes made of the in-place helpers, each calling its helper directly: a generic
# ``fn(record, *args, **kwargs)`` packs its arguments into a tuple and a dict on every call.
def _noting_interest(category: Any, now: float, half_life: float) -> Change:
    def note(record: Record) -> Record:
        note_interest(record, category, now, half_life)
        return record

    return note


def _noting_decisions(
    decisions: Mapping[str, Decision], path: str | None, tier: str, now: float
) -> Change:
    def note(record: Record) -> Record:
        note_decisions(record, decisions, path=path, tier=tier, now=now)
        return record

    return note


def _noting_adaptive(chosen: Mapping[str, str]) -> Change:
    def note(record: Record) -> Record:
        note_adaptive(record, chosen)
        return record

    return note


def customer_text(customer_id: Any) -> str:
    """A customer id as the record keeps it; ValueError when it cannot be one."""
    if not isinstance(customer_id, (str, int)) or isinstance(customer_id, bool):
        raise ValueError("customer_id must be a text of 1-128 characters")
    text = str(customer_id).strip()
    if not _CUSTOMER_ID.fullmatch(text):
        raise ValueError("customer_id must be a text of 1-128 characters, no control characters")
    return text


class Observer(Protocol):
    """What a host (the edge's /metrics) wants to hear about; every method must be cheap."""

    def decided(
        self, decisions: Mapping[str, Decision], seconds: float, render_errors: int
    ) -> None: ...

    def decide_failed(self) -> None: ...

    def store_failed(self) -> None: ...

    def cookie_rejected(self) -> None: ...

    def bot_left_out(self) -> None: ...


@dataclass
class Stats:
    """Plain counts, always kept (the edge's /healthz shows them); an Observer itself."""

    decisions: int = 0
    decide_errors: int = 0
    rejected_cookies: int = 0
    bots: int = 0
    store_errors: int = 0
    # Decisions the visitor's own channel choices held back, by channel.
    held_back: dict[str, int] = field(default_factory=dict)

    def held(self, channel: str) -> None:
        self.held_back[channel] = self.held_back.get(channel, 0) + 1

    def decided(
        self, decisions: Mapping[str, Decision], seconds: float, render_errors: int
    ) -> None:
        self.decisions += 1

    def decide_failed(self) -> None:
        self.decide_errors += 1

    def store_failed(self) -> None:
        self.store_errors += 1

    def cookie_rejected(self) -> None:
        self.rejected_cookies += 1

    def bot_left_out(self) -> None:
        self.bots += 1


@dataclass(slots=True, init=False)
class CookieChange:
    """A cookie to set (``value``) or to delete (``value`` None). ``max_age`` None: a session
    cookie. Always ``Path=/``, ``HttpOnly``, ``SameSite=Lax``; ``secure`` outside local dev."""

    # Final fields and a written __init__, not frozen=True: see engine.Decision.
    name: Final[str]
    value: Final[str | None]
    max_age: Final[int | None]
    secure: Final[bool]
    domain: Final[str | None]

    def __init__(
        self,
        name: str,
        value: str | None,
        max_age: int | None,
        secure: bool,
        domain: str | None = None,
    ) -> None:
        self.name = name
        self.value = value
        self.max_age = max_age
        self.secure = secure
        self.domain = domain

    def header(self) -> str:
        """The Set-Cookie header value (the edge and the middlewares all send this): what
        http.cookies writes (attributes in its order), without building a cookie jar."""
        value = self.value or ""
        if not _COOKIE_VALUE.fullmatch(value):
            value = SimpleCookie().value_encode(value)[1]  # quoted, as http.cookies does
        parts = [f"{self.name}={value}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.value is None:
            parts += ["expires=Thu, 01 Jan 1970 00:00:00 GMT", "HttpOnly", "Max-Age=0"]
        elif self.max_age is not None:
            parts += ["HttpOnly", f"Max-Age={self.max_age:d}"]
        else:
            parts.append("HttpOnly")
        parts += ["Path=/", "SameSite=lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


# A cookie value http.cookies sends as it is (anything else it quotes).
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~:]+")


class Personalizer:
    """Everything decisions for one site need, loaded once: the campaign file (reloaded when it
    changes, keeping the last good one), cookie signing and the profile store."""

    def __init__(
        self,
        config: str | os.PathLike[str],
        *,
        secret_keys: Sequence[str],
        store: ProfileStore | None = None,
        secure_cookies: object = True,
        observer: Observer | None = None,
        cookie_domain: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.runtime = RuntimeHolder(config)
        self.limits = limits if limits is not None else Limits()
        # The edge on a subdomain (edge.shop.example) sets the cookie for the whole site.
        self.cookie_domain = cookie_domain
        self.codec = CookieCodec(secret_keys)
        self.proofs = IdentifyProof(secret_keys)
        self.decision_tokens = DecisionTokens(secret_keys)
        self.store: ProfileStore = store if store is not None else MemoryStore()
        self.recommender = LiveRecommender(self.store)
        self.secure_cookies = bool(secure_cookies)  # a setting's 0 or 1 too
        self.stats = Stats()
        self.observers: tuple[Observer, ...] = (self.stats, *([observer] if observer else []))
        self.paused: frozenset[str] = frozenset()
        compiled.announce()  # a stale build, said once logging is set up

    def identify_proof(self, customer_id: str | int) -> str:
        """What the site's server renders into a logged-in page for
        ``opmaat.identify(customer_id, proof)``: the edge links a customer id only with it."""
        return self.proofs.make(customer_text(customer_id))

    async def maintain(self, interval: float) -> None:
        """Run forever: reload the campaign file when it changes, and keep in step with other
        nodes on the same store (what an edge or a middleware process runs beside requests)."""
        await asyncio.gather(self.runtime.watch(interval), self.keep_in_step(interval))

    async def keep_in_step(self, interval: float) -> None:
        """Run forever: share the campaign file with other nodes on the same store, follow
        the campaigns paused on any of them and take what every node learned (adaptive
        campaigns, recommendations), every ``interval`` seconds."""
        failing: str | None = None  # logged once per outage, not every interval
        while True:
            try:
                await self.runtime.share(self.store)
                self.paused = frozenset(await self.store.paused())
                await self.learn()
                await self.recommender.refresh(self.runtime.current.campaigns)
                if failing is not None:
                    log.warning("in step with the other nodes again")
                    failing = None
            except Exception as exc:  # the store is down: try again next time
                if failing != str(exc):
                    log.warning("cannot keep in step with the other nodes: %s", exc)
                    failing = str(exc)
            await asyncio.sleep(interval)

    async def learn(self) -> None:
        """Give the adaptive campaigns the latest counts of every node (one store read)."""
        engine = self.runtime.current.engine
        if engine.adaptive:
            engine.learn(await self.store.tallies([c.id for c in engine.adaptive]))

    async def open_customer(self, customer_id: str | None) -> Visit:
        """The visit of a server channel's request (email, app, contact centre) for a
        customer: their web profile when they logged in on the site, else a record of their
        own. Without a customer id nothing is read or kept: the caller's attributes alone
        decide. The caller speaks for its own customer relationship, so the tier is full;
        a customer who deleted their profile simply has none."""
        runtime = self.runtime.current
        now = time.time()
        consent = Consent("full", source="server")

        def visit_of(visitor_id: str, *, fresh: bool = False) -> Visit:
            ident = Identity(visitor_id, new_id(), now, fresh=fresh)
            return Visit(self, runtime, None, {}, not fresh, ident, consent)

        if customer_id is None:
            visit = visit_of(new_id(), fresh=True)
            visit.server_only = True
            return visit
        linked = await linked_visitor(self.store, customer_id)
        if linked is not None:
            visit = visit_of(linked)
            await visit.load()
            # Only a profile that still names this customer: one kept with full consent
            # (session-only ones drop the customer), not deleted, not taken over by another
            # customer who logged in on the same browser since.
            if visit.load_failed or record_customer(visit.record) == customer_id:
                return visit
        # The customer's own record: under an older key if made before a rotation.
        owned = customer_visitor_ids(self.codec.secret_keys, customer_id)
        for own in owned:
            visit = visit_of(own)
            await visit.load()
            if visit.record or visit.load_failed:
                return visit
        visit = visit_of(owned[0])  # none yet: a new one under the newest key
        visit.identify(customer_id)
        visit.linked_customer = None  # no web login made it: no link to write
        return visit

    def store_failed(self) -> None:
        for observer in self.observers:
            observer.store_failed()

    async def open(
        self,
        *,
        peer: str | None,
        headers: Mapping[str, str],
        cookies: Mapping[str, str],
        page_default: Any = None,
    ) -> Visit:
        """The visit of one request: consent resolved, identity read, record loaded if allowed.
        ``headers`` must have lower-case names."""
        runtime = self.runtime.current
        header = headers.get("cookie")

        def cookie(name: str) -> str | None:
            # The first of two same-named cookies, where the header is at hand (first_cookie).
            return first_cookie(header, name) if header is not None else cookies.get(name)

        site = runtime.engine.campaigns.site  # not Runtime.campaigns: a Python property
        consent = resolve_consent(
            site.consent_default, cookie(CONSENT_COOKIE), headers, page_default
        )
        if parse_device(headers.get("user-agent"))["type"] == "bot":
            # Crawlers get the standard content and leave nothing behind: no profile, no
            # cookie, no tallies (nor do they teach adaptive campaigns).
            consent = Consent("none", personalized=False, source="bot")
            for observer in self.observers:
                observer.bot_left_out()
        sent = cookie(COOKIE_NAME)
        ident = self.codec.loads(sent)
        if ident.rejected:
            for observer in self.observers:
                observer.cookie_rejected()
        visit = Visit(self, runtime, peer, headers, sent is not None, ident, consent)
        await visit.load()
        return visit


class Visit:
    """Who sent this request, what they allow, and what is stored about them.

    With tier ``none`` nothing is read or written: the record stays empty and no identity
    cookie is set. With ``session`` the cookie lives for the browser session and the record
    for the session timeout; with ``full`` both last for the site's retention period.
    """

    def __init__(
        self,
        personalizer: Personalizer,
        runtime: Runtime,
        peer: str | None,
        headers: Mapping[str, str],
        had_cookie: bool,
        ident: Identity,
        consent: Consent,
    ) -> None:
        self.personalizer = personalizer
        self.runtime = runtime
        self.peer = peer
        self.headers = headers
        self.had_cookie = had_cookie
        self.ident = ident
        self.consent = consent
        self.record: Record = {}
        self.token: bytes | None = None  # the stored bytes the record was read from
        self.changes: list[Change] = []  # this request's changes, to replay on a conflict
        self.forget_cookie = False
        self.consent_choice: str | None = None  # set when this request changes the choice
        self.counted = False  # whether this request's page view is in the record
        self.load_failed = False  # the stored record could not be read: never overwrite it
        self.keep_cookie = False  # a delete failed: the cookie stays for the retry
        self.interest_noted = False
        self.used: set[str] = set()  # campaigns already shown on this page
        self.written = False  # this request wrote the record at least once
        self.linked_customer: str | None = None  # identify()'d in this request
        # Profile sections that replace the request's whole (a cockpit preview); None: none.
        self.preview: Mapping[str, Any] | None = None
        self.server_only = False  # a server channel's request without a customer: keep nothing
        self.retired_id: str | None = None  # the id rotate_id() replaced, until saved
        self.retired_token: bytes | None = None
        self.admitted: bool | None = None  # a new profile within its address's budget
        self.held_back: str | None = None  # why the visitor's channel choices said no
        self.lessons: list[Event] = []  # what the recommender learns once the record is saved

    @property
    def site(self) -> SiteSettings:
        return self.runtime.engine.campaigns.site  # not the Runtime property: Python code

    def facts(self, url: str | None, referrer: str | None, page: Any) -> RequestFacts:
        return RequestFacts(
            peer=self.peer,
            headers=self.headers,
            page_url=url,
            referrer=referrer,
            page_meta=page if (type(page) is dict or isinstance(page, Mapping)) else {},
            now=datetime.now(UTC),
        )

    async def load(self) -> None:
        if self.consent.stores and not self.ident.fresh:
            try:
                record, self.token = await self.personalizer.store.load(self.ident.visitor_id)
                self.record = record or {}
            except Exception:
                # The visitor still gets decisions, from this request's context.
                self.load_failed = True
                self.personalizer.store_failed()
                log.exception("profile store: read failed; deciding from the request alone")

    def ttl_seconds(self) -> float:
        if self.consent.persistent:
            return self.site.retention_days * 86400.0
        return self.site.session_timeout_minutes * 60.0

    def change(self, fn: Change) -> None:
        """Apply ``fn`` to the record, and keep it to apply again should another request of
        the same visitor (on this node or another) write the profile in between."""
        self.record = fn(self.record)
        self.changes.append(fn)

    async def save(self) -> bool:
        """Write the record if what is stored is still what this request read; otherwise read
        the newer one, replay this request's changes on it and try again: concurrent requests
        of one visitor never lose each other's updates.

        True when this request's changes are stored now, or there was nothing to store (no
        consent to keep anything): its campaign tallies may be counted. False when they could
        not be written (they would be counted again by whatever request writes them later)."""
        if self.load_failed:
            return False
        if not (self.consent.stores and self.record) or self.server_only:
            return True
        if self.ident.fresh and not await self._admit():
            return True  # nothing kept, as with consent "none"
        store = self.personalizer.store
        most = self.personalizer.limits.max_record_bytes
        try:
            for _ in range(MAX_SAVE_ATTEMPTS):
                if not self.consent.persistent:
                    self.record.pop("customer", None)  # kept with full consent only
                    self.record.pop("links", None)
                encoded = fit_record(self.record, most)
                if encoded is None:
                    log.warning("a profile would be over %d bytes; this request's is lost", most)
                    return False
                written = await store.store_if(
                    self.ident.visitor_id, self.record, self.ttl_seconds(), self.token, encoded
                )
                if written is not None:
                    self.token = written
                    # Each awaited only when it has work (a coroutine a request adds up).
                    if self.retired_id is not None:
                        await self._retire_id()
                    self.changes.clear()  # written: a later save must not replay them
                    self.written = True
                    if self.linked_customer is not None:
                        await self._write_link()
                    if self.lessons:
                        await self.personalizer.recommender.teach(self)
                    return True
                fresh, self.token = await store.load(self.ident.visitor_id)
                record = fresh or {}
                for fn in self.changes:
                    record = fn(record)
                self.record = record
            log.warning("profile changed by too many requests at once; this request's is lost")
        except Exception:
            self.personalizer.store_failed()
            log.exception("profile store: write failed; this request's changes are lost")
        return False

    async def _admit(self) -> bool:
        # A visitor without a profile (save asks for fresh ones only) starts one only within
        # their address's budget (Limits.admit_new_profile, asked once a request); past it they
        # still get decisions, but nothing is kept and no cookie set: one client cannot fill
        # the store or push real visitors out of it.
        if self.admitted is None:
            address = self.runtime.context.client_ip(self.facts(None, None, None))
            self.admitted = await self.personalizer.limits.admit_new_profile_in(
                self.personalizer.store, address
            )
            if not self.admitted:
                self.consent = replace(self.consent, tier="none")
                self.record, self.changes = {}, []
        return self.admitted

    def rotate_id(self) -> None:
        """Keep this profile under a new visitor id from the next save on (with a new cookie),
        and drop it from the old one: an id planted in the browser beforehand (cookie
        fixation, e.g. by a sibling subdomain) stops naming the visitor once they identify
        or grant more consent."""
        if self.ident.value is None or self.load_failed:
            return  # no cookie named this visitor (a new one, a server channel's customer)
        old, stored = self.ident.visitor_id, self.token
        if self.retired_id is None:
            self.retired_id, self.retired_token = old, stored
        self.ident = Identity(new_id(), self.ident.session_id, time.time())
        self.token = None
        if stored is None:
            return  # nothing was kept under the old id

        def name_old(record: Record) -> Record:
            kept = record.get("retired_ids")
            kept = [i for i in kept if isinstance(i, str)] if isinstance(kept, list) else []
            return {**record, "retired_ids": [*kept[-(MAX_RETIRED_IDS - 1) :], old]}

        self.change(name_old)

    async def _retire_id(self) -> None:
        # The old id's record, emptied and expiring at once: a cookie still holding the old
        # id (the planted one) finds nothing. Its event stream entries stay for analytics;
        # the record names the old ids, so erasure reaches them too.
        retired, self.retired_id = self.retired_id, None
        if retired is None or self.retired_token is None:
            return
        try:
            await self.personalizer.store.store_if(retired, {}, 1.0, self.retired_token)
        except Exception:
            self.personalizer.store_failed()
            log.warning("could not retire a rotated visitor id", exc_info=True)

    async def _write_link(self) -> None:
        # Server channels asking for a customer who logged in now find this profile.
        if self.linked_customer is None:
            return
        customer, self.linked_customer = self.linked_customer, None
        try:
            await write_link(
                self.personalizer.store, customer, self.ident.visitor_id, self.ttl_seconds()
            )
        except Exception:
            self.personalizer.store_failed()
            log.warning("could not link a customer id to the profile", exc_info=True)

    async def forget(self) -> bool:
        """Delete everything stored about this visitor and drop their cookie. When the store
        fails, the error goes to the caller and the cookie stays, so a retry can still find
        what is to be deleted."""
        link = self.record.get("purl")
        stored, self.record = self.record, {}
        if self.ident.fresh:
            self.forget_cookie = True
            return False
        store = self.personalizer.store
        # The ids this profile had before (rotate_id) go too: their links, their events.
        retired = stored.get("retired_ids")
        ids = [self.ident.visitor_id] + [
            i for i in (retired if isinstance(retired, list) else ()) if isinstance(i, str)
        ]
        try:
            if isinstance(link, dict) and isinstance(link.get("key"), str):
                # Not counted among the visitors of the personal link any more either.
                for visitor_id in ids:
                    await store.forget_visitor(f"purl:{link['key']}", visitor_id)
            links = stored.get("links")
            customers = (
                {c for c in links if isinstance(c, str)} if isinstance(links, list) else set()
            )
            customer = record_customer(stored)
            for linked in sorted(customers | ({customer} if customer else set())):
                for visitor_id in ids:
                    await drop_link(store, linked, visitor_id)
            for old in ids[1:]:
                await store.delete(old)  # its entries in the event stream
            if customer is not None:
                # ...and what the server channels kept for this profile's customer on their
                # own (not for others who logged in on the same browser before).
                for own in customer_visitor_ids(self.personalizer.codec.secret_keys, customer):
                    if own != self.ident.visitor_id:
                        await store.delete(own)
            deleted = await store.delete(self.ident.visitor_id)
        except Exception:
            self.keep_cookie = True
            raise
        self.forget_cookie = True
        return deleted

    def open_record(self, page_url: str | None = None) -> None:
        """Start a record for a visitor who has none yet (a request that is not a page view)."""
        now = time.time()

        def start(record: Record) -> Record:
            if record:
                return record
            opened, _ = record_pageview(
                None, now=now, page_url=page_url, page_path=None, utm_campaign=None, count=False
            )
            return opened

        self.change(start)

    def session_id(self) -> str:
        session = self.record.get("session")
        sid = session.get("id") if isinstance(session, dict) else None
        return sid if isinstance(sid, str) else self.ident.session_id

    def profile(
        self, context: dict[str, Any], now: float | None = None, reads: ProfileReads = EVERYTHING
    ) -> dict[str, Any]:
        """The visitor's profile with this request's ``context``; a decision passes what the
        campaign file ``reads`` of it (every section otherwise)."""
        session = self.record.get("session")
        if isinstance(session, dict):
            # referrer.* and utm.* describe how the visitor arrived in this session.
            for key in ("referrer", "utm"):
                if isinstance(session.get(key), dict):
                    context = {**context, key: session[key]}
        visitor_id = self.ident.visitor_id if self.record else None
        return build_profile(
            context,
            self.record,
            visitor_id=visitor_id,
            consent=self.consent,
            now=now,
            sources=self.runtime.sources,
            reads=reads,
        )

    async def page_view(
        self,
        slots: Sequence[str],
        *,
        url: str | None,
        referrer: str | None,
        page: Any = None,
        channel: str = "web",
    ) -> dict[str, Decision]:
        """Decide ``slots`` for a page: the first call of a request counts the page view (and
        notes the page's category as an interest); later calls for more slots of the same page
        do not, and skip campaigns already shown. Never raises for a bad profile: every slot
        then keeps its default content. Saves the record."""
        facts = self.facts(url, referrer, page)
        now = facts.now.timestamp()
        context = self.runtime.context.build(facts)
        if self.consent.stores and not self.counted:
            self.counted = True
            self.change(self._count_page_view(context, url, now))
            product = page_product(context["page"])
            if product is not None:
                self.personalizer.recommender.note(self, "product_view", product["id"], context)
                # The page's category is noted as an interest below, once.
                self.change(self._apply("product_view", None, product, now, note_category=False))
        category = context["page"].get("category")
        if self.consent.stores and category and not self.interest_noted:
            # Once per page; a streamed page may name its category only after the page view.
            self.interest_noted = True
            half_life = self.site.interest_half_life_days
            self.change(_noting_interest(category, now, half_life))
        profile = self.profile(context, now, self.runtime.reads)
        if self.preview is not None:
            profile = {**profile, **self.preview}  # whole sections: see the cockpit preview
        engine = self.runtime.engine
        decisions = self._decide(profile, slots, channel, facts.now, self.used)
        self.used.update(d.campaign for d in decisions.values() if d.campaign)
        arms: list[Tally] = []
        if self.consent.stores:
            path, tier = context["page"].get("path"), self.consent.tier
            self.change(_noting_decisions(decisions, path, tier, now))
            self.change(contacts_change(decisions, channel, now, self.held_back))
            self.change(self._arms(decisions, arms))
            adaptive = {
                d.campaign: d.variant
                for d in decisions.values()
                if d.variant is not None and d.campaign in engine.adaptive_ids
            }
            if adaptive:
                self.change(_noting_adaptive(adaptive))
            await self.save_and_tally(arms)
        if self.held_back is not None:
            await self._count_held_back(channel)
        return decisions

    async def decide_for_channel(
        self, slots: Sequence[str], *, channel: str, attributes: Mapping[str, Any]
    ) -> dict[str, Decision]:
        """Decide ``slots`` for a server channel: no page view, no cookie; the profile from the
        stored record (if any) with the caller's ``attributes`` on top. Notes the decisions
        and arms in the record and saves it."""
        facts = RequestFacts(peer=None, headers={}, now=datetime.now(UTC))
        now = facts.now.timestamp()
        context = self.runtime.context.build(facts)
        profile = overlay(self.profile(context, now, self.runtime.reads), attributes)
        decisions = self._decide(profile, slots, channel, facts.now, ())
        arms: list[Tally] = []
        if self.record and not self.server_only:
            self.change(_noting_decisions(decisions, None, channel, now))
            self.change(contacts_change(decisions, channel, now, self.held_back))
            self.change(self._arms(decisions, arms))
            await self.save_and_tally(arms)
        if self.held_back is not None:
            await self._count_held_back(channel)
        return decisions

    async def _count_held_back(self, channel: str) -> None:
        # In the shared tallies, so the cockpit counts what every node held back (a preview
        # counts nothing).
        if self.held_back is not None and self.preview is None:
            await self.tally([(HELD_BACK, channel, "held_back")])

    def _decide(
        self,
        profile: Mapping[str, Any],
        slots: Sequence[str],
        channel: str,
        now: datetime,
        used: Collection[str],
    ) -> dict[str, Decision]:
        # The visitor's channel choices first; then the engine, timed and observed (a
        # failure leaves every slot its default content).
        personalized = self.consent.personalized
        self.held_back = held_back(self.record, profile, channel, now) if personalized else None
        if self.held_back is not None:
            self.personalizer.stats.held(channel)
            return {slot: Decision(slot, None, None, None, self.held_back) for slot in slots}
        observers = self.personalizer.observers
        engine = self.runtime.engine
        render_errors = engine.render_errors
        started = time.perf_counter()
        record = self.record if self.preview is None else None
        try:
            decisions = engine.decide(
                profile,
                slots,
                channel=channel,
                now=now,
                exclude=self.personalizer.paused.union(used) if used else self.personalizer.paused,
                recommend=self.personalizer.recommender.function(
                    self.runtime.engine.campaigns, profile, record
                ),
            )
        except Exception:
            for observer in observers:
                observer.decide_failed()
            log.exception("decide failed; answering with default content")
            decisions = {}
        seconds = time.perf_counter() - started
        failed_renders = engine.render_errors - render_errors
        for observer in observers:
            observer.decided(decisions, seconds, failed_renders)
        return decisions

    @staticmethod
    def _arms(decisions: Mapping[str, Decision], tallies: list[Tally]) -> Change:
        # The visitors each arm got, from the application that is written last: a replay
        # after a concurrent write finds an arm the other request noted (and counted).
        def arms(record: Record) -> Record:
            tallies[:] = note_arms(record, decisions)
            return record

        return arms

    def _apply(
        self,
        name: str,
        props: Mapping[str, Any] | None,
        product: dict[str, Any] | None,
        now: float,
        *,
        note_category: bool = True,
    ) -> Change:
        session_id = self.session_id()
        half_life = self.site.interest_half_life_days

        def apply(record: Record) -> Record:
            apply_event(
                record,
                name,
                props,
                product,
                now=now,
                session_id=session_id,
                half_life_days=half_life,
                note_category=note_category,
            )
            return record

        return apply

    def track(self, name: Any, props: Any = None) -> list[Tally]:
        """Note a named event (``add_to_cart``, ``purchase``, a site event, a campaign goal)
        in the record, and credit it as a conversion to the campaigns whose goal it is;
        raises EventError, changing nothing, when it is not acceptable. Returns the campaign
        tallies to count (``tally``, after ``save``: a replay on a conflict updates them); the
        caller saves. Without consent to store, the event
        is only checked."""
        sources = self.runtime.sources
        product = check_event(name, props, sources.known_events, sources.products)
        if not self.consent.stores:
            return []
        if (full := room_error(self.record, name, product)) is not None:
            raise EventError(full)
        if (
            name == "add_to_cart"
            and product is not None
            and not cart_has_room(self.record, product)
        ):
            raise EventError(
                f"the cart is full: at most {MAX_CART_ITEMS} products "
                f"and {MAX_CART_BYTES // 1024} KB of product details"
            )
        now = time.time()
        self.change(self._touch_session(now))
        self.personalizer.recommender.note(self, name, product["id"] if product else None)
        apply = self._apply(name, props, product, now)
        goals = self.runtime.engine.goal_campaigns(name)
        tallies: list[Tally] = []

        def event(record: Record) -> Record:
            # The tallies of the application that is written last: a replay after a
            # concurrent write finds a conversion the other request already counted.
            record = apply(record)
            tallies[:] = credit_goal(record, goals)
            return record

        self.change(event)
        return tallies

    async def save_and_tally(self, tallies: Sequence[Tally]) -> None:
        """Save, then count ``tallies`` once what they stand for is stored (a write that
        failed would count them again with whichever request writes them later)."""
        if await self.save() and tallies:
            await self.tally(tallies)

    async def tally(self, tallies: Sequence[Tally]) -> None:
        """Count campaign responses in the store's per-variant tallies (what adaptive
        campaigns learn from); a store failure is logged and counted, never raised."""
        if self.consent.source == "bot":
            return
        store = self.personalizer.store
        try:
            for campaign, variant, field in tallies:
                await store.tally(campaign, variant, field)
        except Exception:
            self.personalizer.store_failed()
            log.warning("could not count a campaign response in the store", exc_info=True)

    def _touch_session(self, now: float) -> Change:
        # An event keeps the session alive (or starts one after a long pause), as a page
        # view would, without counting a page view: a cart filled now belongs to this session.
        timeout = self.site.session_timeout_minutes * 60

        def touch(record: Record) -> Record:
            touched, _ = record_pageview(
                record,
                now=now,
                page_url=None,
                page_path=None,
                utm_campaign=None,
                timeout_seconds=timeout,
                count=False,
            )
            return touched

        return touch

    def identify(self, customer_id: Any) -> bool:
        """Link this visitor to the site's customer id (``customer.*``, ``rfm.*`` and
        ``segments`` join from ``site.customers``). Needs full consent: returns False, keeping
        nothing, without it. Raises ValueError for an id that is not 1-128 characters of text
        without control characters. The caller saves."""
        text = customer_text(customer_id)
        if not self.consent.persistent:
            return False
        if record_customer(self.record) != text:
            self.rotate_id()  # a new customer on this browser: a new visitor id
        self.open_record()

        def link(record: Record) -> Record:
            customer = record.get("customer")
            customer = customer if isinstance(customer, dict) else {}
            # Every customer id this profile was linked to, so deleting it removes them all.
            links = record.get("links")
            links = (
                [c for c in links if isinstance(c, str) and c != text]
                if isinstance(links, list)
                else []
            )
            return {**record, "customer": {**customer, "id": text}, "links": [*links[-4:], text]}

        self.change(link)
        self.linked_customer = text
        return True

    def _count_page_view(self, context: dict[str, Any], url: str | None, now: float) -> Change:
        timeout = self.site.session_timeout_minutes * 60

        def count(record: Record) -> Record:
            record, new_session = record_pageview(
                record,
                now=now,
                page_url=url,
                page_path=context["page"].get("path"),
                utm_campaign=context["utm"].get("campaign"),
                timeout_seconds=timeout,
            )
            if new_session:
                record["session"]["referrer"] = context["referrer"]
                record["session"]["utm"] = context["utm"]
            note_event(record, "page_view", now)
            return record

        return count

    @property
    def from_page(self) -> bool:
        # A page whose consent banner is not answered yet says "none"; a cookie set on other
        # pages of the site stays.
        return self.consent.source in ("page", "bot")  # a person taken for a bot keeps theirs

    def release(self) -> None:
        """The request is done with the record: a store that keeps decoded records
        (``MemoryStore.adopt``) may keep it for this visitor's next request, which then skips
        decoding it. Call it last: the visit's record is empty afterwards."""
        token, record = self.token, self.record
        self.record = {}
        if self.written and not self.changes and token is not None:
            adopt = getattr(self.personalizer.store, "adopt", None)
            if adopt is not None:
                adopt(self.ident.visitor_id, token, record)

    def cookie_changes(self) -> list[CookieChange]:
        """The cookies the response to this request must set or delete."""
        secure = self.personalizer.secure_cookies
        domain = self.personalizer.cookie_domain
        changes = []
        if self.consent_choice is not None:
            changes.append(
                CookieChange(
                    CONSENT_COOKIE, self.consent_choice, CONSENT_COOKIE_SECONDS, secure, domain
                )
            )
        if self.keep_cookie:
            pass
        elif self.forget_cookie or (
            not self.consent.stores and self.had_cookie and not self.from_page
        ):
            changes.append(CookieChange(COOKIE_NAME, None, 0, secure, domain))
        elif self.consent.stores and self.record:
            codec = self.personalizer.codec
            value = codec.dumps(self.ident.visitor_id, self.session_id(), self.ident)
            max_age = codec.max_age if self.consent.persistent else None
            changes.append(CookieChange(COOKIE_NAME, value, max_age, secure, domain))
        return changes
