"""A loaded campaign file: frozen, validated and compiled, ready for the engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Template

from opmaat.consent import TIERS
from opmaat.templates import TemplateRenderer

CONSENT_TIERS = TIERS

CHANNELS = ("web", "email", "app", "server", "contact_center")
ALLOCATIONS = ("fixed", "adaptive")

Matcher = Callable[[Mapping[str, Any]], bool]
ReasonBuilder = Callable[[Mapping[str, Any]], str]


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


@dataclass(frozen=True, slots=True)
class Campaign:
    """One campaign; ``matches`` is its compiled audience (None: every visitor)."""

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
