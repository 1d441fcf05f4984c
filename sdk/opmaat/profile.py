"""The profile one decision reads: this request's context joined with the stored record."""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

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
from opmaat.interests import interest_attributes
from opmaat.preferences import stored_prefs
from opmaat.store import Record
from opmaat.visits import visit_attributes

MAX_META_KEYS = 20
MAX_META_CHARS = 200
_META_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What one request tells about its visitor, already pulled out of HTTP.

    ``headers`` must have lower-case names. ``page_url`` and ``referrer`` are the page's
    (from the snippet or the middleware), not the API request's own.
    """

    peer: str | None
    headers: Mapping[str, str]
    page_url: str | None = None
    referrer: str | None = None
    page_meta: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def clean_page_meta(meta: Any) -> dict[str, Any]:
    """Page metadata from outside, reduced to short scalar values under snake_case keys."""
    if not isinstance(meta, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if len(out) >= MAX_META_KEYS:
            break
        if not isinstance(key, str) or not _META_KEY.fullmatch(key):
            continue
        if isinstance(value, bool) or value is None or isinstance(value, int | float):
            out[key] = value
        elif isinstance(value, str):
            out[key] = value[:MAX_META_CHARS]
    return out


def page_attributes(page_url: str | None, meta: Mapping[str, Any]) -> dict[str, Any]:
    path = None
    if page_url:
        try:
            path = urlsplit(page_url[:2048]).path or "/"
        except ValueError:
            path = None
    return {**clean_page_meta(meta), "url": (page_url or "")[:2048] or None, "path": path}


class ContextBuilder:
    """Builds the request-context part of the profile; sources are opened once, here."""

    def __init__(
        self,
        *,
        geo: GeoReader | None = None,
        trusted_proxies: Collection[str] = (),
        site_hosts: Collection[str] = (),
        cdn_geo_header: str | None = None,
    ) -> None:
        self.geo = geo
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
        return {
            "geo": geo,
            "device": parse_device(facts.headers.get("user-agent")),
            "referrer": classify_referrer(facts.referrer, facts.page_url, self.site_hosts),
            "utm": parse_utm(facts.page_url),
            "time": local_time(facts.now, geo.get("timezone")),
            "page": page_attributes(facts.page_url, facts.page_meta),
        }


def build_profile(
    context: Mapping[str, Any],
    record: Record,
    *,
    visitor_id: str | None,
    consent: Consent,
    now: float | None = None,
    interest_half_life_days: float = 7,
) -> dict[str, Any]:
    """Everything conditions and templates see, as one nested dict (see docs/profile.md)."""
    response = record.get("response")
    prefs = stored_prefs(record)
    customer = record.get("customer")
    segments = record.get("segments")
    return {
        **visit_attributes(record, visitor_id),
        **context,
        "interests": interest_attributes(
            record, prefs, time.time() if now is None else now, interest_half_life_days
        ),
        "prefs": prefs,
        "customer": dict(customer) if isinstance(customer, dict) else {},
        "response": response if isinstance(response, dict) else {},
        "segments": [s for s in segments if isinstance(s, str)]
        if isinstance(segments, list)
        else [],
        "consent": consent.as_dict(),
    }
