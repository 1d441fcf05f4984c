"""A loaded campaign file: frozen, validated and compiled, ready for the engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from jinja2 import Template

from opmaat.consent import TIERS
from opmaat.preference_fields import Preferences
from opmaat.templates import TemplateRenderer

if TYPE_CHECKING:
    from opmaat.purl import Recipient
    from opmaat.recommend.feed import Feed
    from opmaat.recommend.strategies import Strategy
CONSENT_TIERS = TIERS

CHANNELS = ("web", "email", "app", "server", "contact_center")
ALLOCATIONS = ("fixed", "adaptive")

Matcher = Callable[[Mapping[str, Any]], bool]
ReasonBuilder = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Location:
    """A store or service point, for ``geo.nearest``."""

    name: str
    lat: float
    lon: float
    url: str | None = None


# Named events the edge takes without the campaign file declaring them (docs/campaigns.md).
BUILTIN_EVENTS = (
    "page_view",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
    "search",
    "signup",
    "favourite",
    "unfavourite",
    "rate",
)
DEFAULT_INTENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "depth": 4.0,
        "product_views": 10.0,
        "add_to_cart": 30.0,
        "return_visits": 8.0,
        "searches": 6.0,
    }
)


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """How the edge serves this site. ``landing_hosts`` defaults to ``hosts``."""

    name: str = ""
    hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    landing_hosts: tuple[str, ...] = ()
    consent_default: str = "session"
    geo_database: Path | None = None
    trusted_proxies: tuple[str, ...] = ()
    cdn_geo_header: str | None = None
    session_timeout_minutes: int = 30
    retention_days: int = 395
    interest_half_life_days: int = 7
    events: tuple[str, ...] = ()
    customers: Path | None = None
    locations: tuple[Location, ...] = ()
    intent_weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_INTENT_WEIGHTS)
    cart_abandon_minutes: int = 30
    purl_forward_limit: int = 3


@dataclass(frozen=True, slots=True)
class Slot:
    """A named place on a page, with the content it shows when no campaign wins."""

    name: str
    default: str
    template: Template


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    weight: float
    source: str
    template: Template


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a campaign runs; bounds are UTC, ``end`` is exclusive, either may be open."""

    start: datetime | None
    end: datetime | None
    timezone: str

    def active(self, now: datetime) -> bool:
        if self.start is not None and now < self.start:
            return False
        return self.end is None or now < self.end


@dataclass(frozen=True, slots=True)
class Frequency:
    """At most ``max`` impressions per visitor within any ``per_seconds`` window."""

    max: int
    per_seconds: int


# What the visitor's privacy page calls a campaign that has no ``label``.
NEUTRAL_LABEL = "a promotion"


@dataclass(frozen=True, slots=True)
class Campaign:
    """One campaign; ``matches`` is its compiled audience (None: every visitor). ``name`` is
    the marketers' (the cockpit's), ``label`` what visitors are shown (their privacy page)."""

    id: str
    name: str
    slots: tuple[str, ...]
    priority: int
    audience: Mapping[str, Any] | None
    matches: Matcher | None
    reason: ReasonBuilder
    schedule: Schedule | None
    frequency: Frequency | None
    holdout: float
    consent: str
    allocation: str
    goal: str
    channels: frozenset[str]
    variants: tuple[Variant, ...]
    line: int
    exploration: float = 0.1
    purl: Purl | None = None
    label: str = ""

    @property
    def visitor_label(self) -> str:
        """How the visitor's privacy page names this campaign: its label, else a neutral
        phrase (the internal name and id are for marketers only)."""
        return self.label or NEUTRAL_LABEL


@dataclass(frozen=True, slots=True)
class Purl:
    """A campaign's personalized landing URLs: who they were made for and where they land.
    ``landing`` is a path on the site or an absolute URL on one of the landing hosts;
    ``expose`` the recipients file's columns that become ``purl.<column>`` (no others)."""

    recipients: Path
    landing: str
    expires_days: int
    expose: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendations:
    """The file's ``recommendations`` section: the product feed file (None: the catalogue is
    learned from the product pages visitors view) and the strategies templates may name."""

    feed: Path | None
    strategies: Mapping[str, Strategy]


@dataclass(frozen=True, slots=True)
class CampaignSet:
    """Everything one campaign file defines. ``version`` is a short hash of the file's bytes."""

    site: SiteSettings
    slots: dict[str, Slot]
    campaigns: tuple[Campaign, ...]
    saved_groups: dict[str, list[Any]]
    source: str
    version: str
    templates: TemplateRenderer = field(default_factory=TemplateRenderer, compare=False)
    recommendations: Recommendations | None = None
    # Loaded with the file: the customer table (customer id -> entry), the PURL recipients
    # (link key -> campaign id, recipient) and the product feed. ``data_files`` are watched
    # like the file itself.
    customers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)
    recipients: Mapping[str, tuple[str, Recipient]] = field(default_factory=dict, compare=False)
    feed: Feed | None = field(default=None, compare=False)
    # The preference fields visitors may set, and the offers file they filter (read with it).
    preferences: Preferences = field(default_factory=Preferences, compare=False)
    data_files: tuple[Path, ...] = ()
    data_mtimes: tuple[float | None, ...] = ()
