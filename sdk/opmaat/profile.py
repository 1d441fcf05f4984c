"""The profile one decision reads: this request's context joined with the stored record."""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

from opmaat.campaigns.model import DEFAULT_INTENT_WEIGHTS, CampaignSet, Location
from opmaat.cart import cart_attributes, order_attributes, viewed_products
from opmaat.consent import Consent
from opmaat.context import (
    GeoReader,
    TrustedProxies,
    classify_referrer,
    client_ip,
    geo_from_headers,
    local_time,
    parse_device,
    parse_utm,
)
from opmaat.context.nearby import Nearby
from opmaat.customers import customer_attributes
from opmaat.event_counts import event_attributes, milestone_attributes
from opmaat.explicit import Catalogue
from opmaat.intent import intent_attributes
from opmaat.interests import interest_attributes
from opmaat.offers import pick_offers
from opmaat.preference_fields import NO_PREFERENCES, Preferences
from opmaat.preferences import stored_prefs
from opmaat.profile_reads import EVERYTHING, Deferred, ProfileReads
from opmaat.purl import Recipient, recipient_attributes
from opmaat.store import Record
from opmaat.visits import visit_attributes

MAX_META_KEYS = 20
MAX_META_CHARS = 200
_META_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(slots=True, init=False)
class RequestFacts:
    """What one request tells about its visitor, already pulled out of HTTP.

    ``headers`` must have lower-case names. ``page_url`` and ``referrer`` are the page's
    (from the snippet or the middleware), not the API request's own. ``now``: the request's
    time (now when not given).
    """

    # Final fields and a written __init__, not frozen=True: see engine.Decision.
    peer: Final[str | None]
    headers: Final[Mapping[str, str]]
    page_url: Final[str | None]
    referrer: Final[str | None]
    page_meta: Final[Mapping[str, Any]]
    now: Final[datetime]

    def __init__(
        self,
        peer: str | None,
        headers: Mapping[str, str],
        page_url: str | None = None,
        referrer: str | None = None,
        page_meta: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        self.peer = peer
        self.headers = headers
        self.page_url = page_url
        self.referrer = referrer
        self.page_meta = {} if page_meta is None else page_meta
        self.now = datetime.now(UTC) if now is None else now


def clean_page_meta(meta: Any) -> dict[str, Any]:
    """Page metadata from outside, reduced to short scalar values under snake_case keys."""
    if not (type(meta) is dict or isinstance(meta, Mapping)):
        return {}
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if len(out) >= MAX_META_KEYS:
            break
        if not isinstance(key, str) or not _META_KEY.fullmatch(key):
            continue
        if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
            out[key] = value
        elif isinstance(value, str):
            out[key] = value[:MAX_META_CHARS]
    return out


def page_attributes(page_url: str | None, meta: Mapping[str, Any]) -> dict[str, Any]:
    url = (page_url or "")[:2048] or None
    return {**clean_page_meta(meta), "url": url, "path": _path(url) if url else None}


@lru_cache(maxsize=1024)
def _path(url: str) -> str | None:
    # A site's pages repeat: each URL's path worked out once (urlsplit is Python code).
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return None


class ContextBuilder:
    """Builds the request-context part of the profile; sources are opened once, here."""

    def __init__(
        self,
        *,
        geo: GeoReader | None = None,
        trusted_proxies: Collection[str] = (),
        site_hosts: Collection[str] = (),
        cdn_geo_header: str | None = None,
        locations: Sequence[Location] = (),
    ) -> None:
        self.geo = geo
        self.nearby = Nearby(locations) if locations else None
        self.trusted = TrustedProxies.parse(list(trusted_proxies))
        self.site_hosts = frozenset(h.lower() for h in site_hosts)
        self.cdn_geo_header = cdn_geo_header.lower() if cdn_geo_header else None

    def client_ip(self, facts: RequestFacts) -> str | None:
        return client_ip(facts.peer, facts.headers.get("x-forwarded-for"), self.trusted)

    def build(self, facts: RequestFacts) -> dict[str, Any]:
        geo: dict[str, Any] = {}
        if self.geo is not None:
            geo = dict(self.geo.lookup(self.client_ip(facts)))
        if self.cdn_geo_header and not geo.get("country"):
            geo.update(geo_from_headers(facts.headers, self.cdn_geo_header))
        if self.nearby is not None:
            nearest = self.nearby.attributes(geo)
            if nearest is not None:
                geo["nearest"] = nearest
        return {
            "geo": geo,
            "device": parse_device(facts.headers.get("user-agent")),
            "referrer": classify_referrer(facts.referrer, facts.page_url, self.site_hosts),
            "utm": parse_utm(facts.page_url),
            "time": local_time(facts.now, geo.get("timezone")),
            "page": page_attributes(facts.page_url, facts.page_meta),
        }


@dataclass(frozen=True, slots=True)
class ProfileSources:
    """What a profile is joined with besides the record, fixed per campaign file: the
    customer table, the PURL recipients, the known event names, the site's settings, its
    preference fields and offers, and the products it knows (None: any product)."""

    interest_half_life_days: float = 7
    known_events: frozenset[str] = frozenset()
    customers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    recipients: Mapping[str, tuple[str, Recipient]] = field(default_factory=dict)
    intent_weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_INTENT_WEIGHTS)
    abandon_after_seconds: float = 1800
    preferences: Preferences = NO_PREFERENCES
    products: Catalogue | None = None

    @classmethod
    def of(cls, campaigns: CampaignSet, known_events: frozenset[str]) -> ProfileSources:
        site = campaigns.site
        return cls(
            interest_half_life_days=site.interest_half_life_days,
            known_events=known_events,
            customers=campaigns.customers,
            recipients=campaigns.recipients,
            intent_weights=site.intent_weights,
            abandon_after_seconds=site.cart_abandon_minutes * 60.0,
            preferences=campaigns.preferences,
            products=Catalogue.of(campaigns.feed, campaigns.preferences.offers),
        )


DEFAULT_SOURCES = ProfileSources()


def build_profile(
    context: Mapping[str, Any],
    record: Record,
    *,
    visitor_id: str | None,
    consent: Consent,
    now: float | None = None,
    sources: ProfileSources = DEFAULT_SOURCES,
    reads: ProfileReads = EVERYTHING,
) -> dict[str, Any]:
    """Everything conditions and templates see, as one nested dict (see docs/profile.md);
    the costly derived sections only as far as ``reads`` says they are read."""
    now = time.time() if now is None else now
    response = record.get("response")
    prefs = stored_prefs(record, sources.preferences.fields)
    visit = visit_attributes(record, visitor_id)
    customer, rfm, segments = _customer(record, sources)
    # The cart and the orders once: the journey and the viewed products need them too.
    cart = cart_attributes(record, now, visit["session"]["id"], sources.abandon_after_seconds)
    orders = order_attributes(record)
    interests = interest_attributes(record, prefs, now, sources.interest_half_life_days)
    profile = {
        **visit,
        **context,
        "interests": interests,
        "prefs": prefs,
        "customer": customer,
        "rfm": rfm,
        "segments": segments,
        "purl": _purl(record, sources),
        "cart": cart,
        "orders": orders,
        "response": response if isinstance(response, dict) else {},
        "consent": consent.as_dict(),
    }
    wants = reads.wants
    if wants("events"):
        names = sources.known_events if reads.events is None else reads.events
        profile["events"] = event_attributes(record, now, names, only=reads.events)
    if wants("milestone"):
        profile["milestone"] = milestone_attributes(record)
    if wants("viewed_products"):
        profile["viewed_products"] = viewed_products(record, cart=cart["items"])
    if wants("intent") or wants("journey"):
        profile["intent"], profile["journey"] = intent_attributes(
            record, sources.intent_weights, orders=orders["count"], in_cart=bool(cart["items"])
        )
    if sources.preferences.offers and wants("offers"):
        if "offers" in reads.deferred:
            preferences = sources.preferences
            profile["offers"] = Deferred(lambda: pick_offers(preferences, prefs, interests))
        else:
            profile["offers"] = pick_offers(sources.preferences, prefs, interests)
    return profile


def _customer(
    record: Record, sources: ProfileSources
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    stored = record.get("customer")
    customer: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
    own = record.get("segments")
    segments = [s for s in own if isinstance(s, str)] if isinstance(own, list) else []
    customer_id = customer.get("id")
    entry = sources.customers.get(customer_id) if isinstance(customer_id, str) else None
    if entry is None:
        return customer, {}, segments
    imported, rfm, more = customer_attributes(entry)
    return {**customer, **imported}, rfm, [*segments, *(s for s in more if s not in segments)]


def _purl(record: Record, sources: ProfileSources) -> dict[str, Any]:
    link = record.get("purl")
    if not isinstance(link, dict) or not isinstance(link.get("key"), str):
        return {}
    found = sources.recipients.get(link["key"])
    if found is None:
        return {}
    campaign, recipient = found
    return recipient_attributes(
        recipient, campaign=campaign, forwarded=link.get("forwarded") is True
    )
