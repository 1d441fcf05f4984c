"""Preview as a visitor: who the marketer describes in the cockpit's form (country, city,
referrer, UTM, device, segments, interests, cart, time of day), turned into the profile
attributes that replace the real request's, so the engine decides as it would for them.

The same description, signed into a short-lived cookie, makes the site's pages decide as
that visitor (the "open the demo as this visitor" link); nothing is kept or counted then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadData

from opmaat.campaigns.model import CampaignSet
from opmaat.cart import cart_attributes
from opmaat.consent import Consent
from opmaat.context import classify_referrer, local_time, parse_device, parse_utm
from opmaat.context.nearby import Nearby
from opmaat.interests import category_key
from opmaat.profile import RequestFacts, build_profile
from opmaat.recommend.live import LiveRecommender, visitor_for
from opmaat.recommend.recommender import Recommender
from opmaat.runtime import Runtime
from opmaat.templates import no_recommendations
from opmaat_edge.signing import sign, unsign

PREVIEW_COOKIE = "opmaat_preview"
PREVIEW_SECONDS = 3600
DEVICES = ("desktop", "mobile", "tablet")
# A typical browser of each kind, for the device parser (what a real request would carry).
AGENTS = {
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36"
    ),
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    ),
}
_COUNTRY = re.compile(r"[A-Z]{2}")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_WORD = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TEXT = 300
MAX_LIST = 20
MAX_PRODUCT = 80
PREVIEW_ITEMS = 6  # items per strategy in the preview's recommendations table
INTEREST_SCORE = 5.0  # a clear interest: several recent views of the category


class PreviewError(ValueError):
    """A form field that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class PreviewVisitor:
    """The visitor a marketer describes; empty fields keep what the request says."""

    country: str = ""
    city: str = ""
    referrer: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    device: str = "desktop"
    segments: str = ""
    interests: str = ""
    cart_items: int = 0
    cart_products: str = ""
    cart_value: float = 0.0
    cart_abandoned: bool = False
    time: str = ""
    viewed: str = ""

    @property
    def products(self) -> list[str]:
        """The names of the products in the cart, one per item (given names are repeated
        when there are more items; "Product N" when none are given)."""
        names = [n.strip() for n in self.cart_products.split(",") if n.strip()]
        count = self.cart_items or len(names)
        return [names[n % len(names)] if names else f"Product {n + 1}" for n in range(count)]

    def query(self) -> str:
        """The form's query string for this visitor (links back to the same preview)."""
        values = {k: v for k, v in asdict(self).items() if v not in ("", 0, 0.0, False)}
        return urlencode({k: "1" if v is True else v for k, v in values.items()})

    def words(self) -> str:
        """Who this is, in a line (for the banner on previewed pages)."""
        parts = [self.device]
        if self.city or self.country:
            parts.append(", ".join(p for p in (self.city, self.country) if p))
        if self.referrer:
            parts.append(f"from {self.referrer}")
        if self.utm_campaign:
            parts.append(f"campaign {self.utm_campaign}")
        if self.segments:
            parts.append(f"segments {self.segments}")
        if self.interests:
            parts.append(f"interested in {self.interests}")
        if self.cart_items or self.cart_products:
            parts.append(
                f"{len(self.products)} in cart" + (" (abandoned)" if self.cart_abandoned else "")
            )
        if self.viewed:
            parts.append(f"viewed {self.viewed}")
        if self.time:
            parts.append(f"at {self.time}")
        return "; ".join(parts)


def _text(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if len(value) > MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise PreviewError(f"{name}: at most {MAX_TEXT} characters, on one line")
    return value


def _words(form: Mapping[str, str], name: str) -> str:
    items = [item.strip() for item in _text(form, name).split(",") if item.strip()]
    if len(items) > MAX_LIST:
        raise PreviewError(f"{name}: at most {MAX_LIST}, separated by commas")
    for item in items:
        if not _WORD.fullmatch(item):
            raise PreviewError(f"{name}: '{item[:40]}' is not a name (letters, digits, - and _)")
    return ", ".join(items)


def _products(form: Mapping[str, str], name: str, what: str) -> str:
    items = [item.strip() for item in _text(form, name).split(",") if item.strip()]
    if len(items) > MAX_LIST or any(len(item) > MAX_PRODUCT for item in items):
        raise PreviewError(
            f"{what}: at most {MAX_LIST} of at most {MAX_PRODUCT} characters, separated by commas"
        )
    return ", ".join(items)


def parse_preview(form: Mapping[str, str]) -> PreviewVisitor:
    """The visitor a form (or a query string, or a cookie) describes; raises PreviewError."""
    country = _text(form, "country").upper()
    if country and not _COUNTRY.fullmatch(country):
        raise PreviewError("country: a two-letter code such as NL or DE")
    device = _text(form, "device") or "desktop"
    if device not in DEVICES:
        raise PreviewError(f"device: one of {', '.join(DEVICES)}")
    referrer = _text(form, "referrer")
    if referrer and not referrer.startswith(("http://", "https://")):
        raise PreviewError("referrer: a web address such as https://www.google.com/")
    moment = _text(form, "time")
    if moment and not _TIME.fullmatch(moment):
        raise PreviewError("time: hours and minutes such as 09:30")
    items_text = _text(form, "cart_items") or "0"
    value_text = _text(form, "cart_value") or "0"
    try:
        items = int(items_text)
        value = float(value_text)
    except ValueError:
        raise PreviewError("cart: items is a whole number, value a number") from None
    if not 0 <= items <= 100 or not 0 <= value <= 1_000_000 or value != value:
        raise PreviewError("cart: 0 to 100 items, a value from 0 to 1000000")
    return PreviewVisitor(
        country=country,
        city=_text(form, "city"),
        referrer=referrer,
        utm_source=_text(form, "utm_source"),
        utm_medium=_text(form, "utm_medium"),
        utm_campaign=_text(form, "utm_campaign"),
        device=device,
        segments=_words(form, "segments"),
        interests=_words(form, "interests"),
        cart_items=items,
        cart_products=_products(form, "cart_products", "cart products"),
        cart_value=value,
        cart_abandoned=form.get("cart_abandoned", "") in ("1", "on", "true"),
        time=moment,
        viewed=_products(form, "viewed", "viewed products"),
    )


def _located(city: str, nearby: Nearby) -> dict[str, Any]:
    """The position of the site's location that ``city`` names ("Utrecht", or "Amsterdam"
    for "Amsterdam Centraal"), with ``nearest``; nothing for a city that names none."""
    wanted = city.casefold()
    for place in nearby.places:
        name = place.name.casefold()
        if name == wanted or name.startswith(wanted + " "):
            geo: dict[str, Any] = {"lat": place.lat, "lon": place.lon}
            nearest = nearby.attributes(geo)
            return {**geo, "nearest": nearest} if nearest is not None else geo
    return {}


def preview_attributes(
    visitor: PreviewVisitor,
    *,
    page_url: str | None,
    site_hosts: frozenset[str] | tuple[str, ...],
    nearby: Nearby | None = None,
) -> dict[str, Any]:
    """The profile sections that make a request this visitor's. They replace the request's
    own sections whole (an empty field means "not known", not "what this browser says"), so
    the page under the preview cookie decides exactly as the cockpit's preview table. A city
    that names one of the site's locations (``nearby``) puts the visitor there."""
    geo: dict[str, Any] = {}
    if visitor.country:
        geo["country"] = visitor.country
    if visitor.city:
        geo["city"] = visitor.city
        if nearby is not None:
            geo.update(_located(visitor.city, nearby))
    utm = {
        key: value
        for key, value in (
            ("utm_source", visitor.utm_source),
            ("utm_medium", visitor.utm_medium),
            ("utm_campaign", visitor.utm_campaign),
        )
        if value
    }
    out: dict[str, Any] = {
        "geo": geo,
        "device": parse_device(AGENTS[visitor.device]),
        "referrer": classify_referrer(visitor.referrer or None, page_url, frozenset(site_hosts)),
        "utm": parse_utm("https://preview.invalid/?" + urlencode(utm)) if utm else {},
        "segments": [s.strip() for s in visitor.segments.split(",") if s.strip()],
        "interests": {"top": None},
        "cart": cart_attributes({}, 0, None),
    }
    if visitor.time:
        hour, minute = (int(part) for part in visitor.time.split(":"))
        out["time"] = local_time(datetime.now(UTC).replace(hour=hour, minute=minute), None)
    keys = (category_key(i) for i in visitor.interests.split(","))
    interests = [key for key in keys if key]
    if interests:
        scores: dict[str, Any] = dict.fromkeys(interests, INTEREST_SCORE)
        scores["top"] = interests[0]
        out["interests"] = scores
    names = visitor.products
    if names:
        price = round(visitor.cart_value / len(names), 2)
        items = [
            {"id": f"preview-{n + 1}", "name": name, "price": price, "quantity": 1}
            for n, name in enumerate(names)
        ]
        out["cart"] = {
            "items": items,
            "count": len(names),
            "value": round(visitor.cart_value, 2),
            "abandoned": visitor.cart_abandoned,
            "abandoned_items": [dict(item) for item in items] if visitor.cart_abandoned else [],
            "minutes_since_update": 60 if visitor.cart_abandoned else 1,
        }
    viewed = [v.strip() for v in visitor.viewed.split(",") if v.strip()]
    out["viewed_products"] = [{"id": product} for product in viewed]
    # The described visitor has said yes to personalization: every campaign may apply.
    out["consent"] = {"tier": "full", "personalized": True, "source": "preview"}
    return out


PREVIEW_SALT = "opmaat.preview"


def preview_cookie(keys: tuple[str, ...], visitor: PreviewVisitor) -> str:
    given = {k: v for k, v in asdict(visitor).items() if v not in ("", 0)}
    return sign(keys, PREVIEW_SALT, given)


def read_preview_cookie(keys: tuple[str, ...], value: str | None) -> PreviewVisitor | None:
    """The visitor a preview cookie describes; None when there is none or it is not ours."""
    if not value or len(value) > 4096:
        return None
    try:
        data = unsign(keys, PREVIEW_SALT, value, PREVIEW_SECONDS)
    except BadData:
        return None
    if not isinstance(data, dict):
        return None
    known = {f.name for f in fields(PreviewVisitor)}
    form = {k: ("1" if v is True else str(v)) for k, v in data.items() if k in known}
    try:
        return parse_preview(form)
    except PreviewError:
        return None


def preview_profile(runtime: Runtime, visitor: PreviewVisitor, page_url: str) -> dict[str, Any]:
    """The profile the engine sees for ``visitor`` on ``page_url``."""
    facts = RequestFacts(
        peer=None, headers={"user-agent": AGENTS[visitor.device]}, page_url=page_url
    )
    context = runtime.context.build(facts)
    profile = build_profile(
        context, {}, visitor_id=None, consent=Consent("full"), sources=runtime.sources
    )
    return {
        **profile,
        **preview_attributes(
            visitor,
            page_url=page_url,
            site_hosts=runtime.context.site_hosts,
            nearby=runtime.context.nearby,
        ),
    }


RecommendFor = Callable[[Mapping[str, Any]], Callable[..., Any]]


def live_recommend_for(live: LiveRecommender, campaigns: CampaignSet) -> RecommendFor:
    """Templates' ``recommendations(...)`` for a previewed profile: what the running site
    learned, by the strategies of ``campaigns`` (the published file), nothing kept."""
    return lambda profile: live.function(campaigns, profile, None)


def unknown_viewed(visitor: PreviewVisitor, recommender: Recommender | None) -> str | None:
    """The form's error when a viewed product is not in the product feed (a feed that learns
    from pages takes any id)."""
    if recommender is None or recommender.feed.learns:
        return None
    for product in (v.strip() for v in visitor.viewed.split(",")):
        if product and product not in recommender.feed:
            return f"viewed: '{product[:40]}' is not in the product feed"
    return None


def preview_decisions(
    runtime: Runtime,
    paused: Collection[str],
    visitor: PreviewVisitor,
    channel: str,
    page_url: str,
    recommend_for: RecommendFor | None = None,
    profile: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every slot of the campaign file decided for ``visitor`` (campaigns in ``paused`` left
    out): the slot, the decision and its campaign, in the file's slot order. Templates call
    ``recommendations(...)`` through ``recommend_for(profile)`` (none without it). ``profile``:
    ``preview_profile``'s, when the caller made it already."""
    if profile is None:
        profile = preview_profile(runtime, visitor, page_url)
    engine = runtime.engine
    slots = list(runtime.campaigns.slots)
    recommend = recommend_for(profile) if recommend_for is not None else no_recommendations
    decisions = engine.decide(profile, slots, channel=channel, exclude=paused, recommend=recommend)
    out = []
    for slot in slots:
        decision = decisions[slot]
        campaign = engine.campaign(decision.campaign) if decision.campaign else None
        out.append(
            {
                "slot": slot,
                "decision": decision,
                "campaign": campaign,
                "html": decision.html,
                "text": visible_text(decision.html) if decision.html else None,
            }
        )
    return out


def preview_recommendations(
    recommender: Recommender | None, profile: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each configured strategy's list for the previewed ``profile``, with each item's reason;
    empty without a recommendations section."""
    if recommender is None:
        return []
    for_visitor = visitor_for(profile, None)
    return [
        {"strategy": strategy, "items": recommender.recommend(name, for_visitor, PREVIEW_ITEMS)}
        for name, strategy in recommender.strategies.items()
    ]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")  # "<h2>Hi</h2><p>there" reads "Hi there"
        if tag in ("script", "style", "template"):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self.hidden:
            self.hidden -= 1


def visible_text(html: str) -> str:
    """What a visitor reads of a slot's HTML: its text, on one line."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())
