"""Consent: how much the visitor lets the site keep, and the tier each decision uses.

Three tiers, lowest first:

- ``none``: decide from this request's context only; no cookie, nothing stored;
- ``session``: a session cookie, and a record that expires with the session;
- ``full``: a persistent cookie and profile, kept for the site's retention period.

The visitor's *choice* is one of the tiers or ``off`` (opted out of personalization: tier
``none`` and every slot keeps its default content). Without a choice the site's default applies,
or the page's when it is lower (``data-consent`` on the snippet: a consent banner not answered
yet). ``Sec-GPC: 1`` and ``DNT: 1`` cap the tier at ``session`` whatever was chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TIERS = ("none", "session", "full")
OPT_OUT = "off"
CHOICES = (*TIERS, OPT_OUT)
CONSENT_COOKIE = "opmaat_consent"
_RANK = {tier: rank for rank, tier in enumerate(TIERS)}


def lowest(a: str, b: str) -> str:
    """The lower of two tiers."""
    return a if _RANK[a] <= _RANK[b] else b


def privacy_signal(headers: Mapping[str, str]) -> str | None:
    """``gpc`` or ``dnt`` when the browser asks not to be tracked (lower-case header names)."""
    if headers.get("sec-gpc", "").strip() == "1":
        return "gpc"
    if headers.get("dnt", "").strip() == "1":
        return "dnt"
    return None


@dataclass(frozen=True, slots=True)
class Consent:
    """The consent one request is handled with.

    ``tier`` is what the edge uses; ``choice`` what the visitor chose (None: no choice yet);
    ``source`` where the wanted tier came from (``choice``, ``page`` or ``site``); ``capped_by``
    names the browser signal that lowered it (``gpc`` or ``dnt``).
    """

    tier: str
    choice: str | None = None
    capped_by: str | None = None
    personalized: bool = True
    source: str = "site"

    @property
    def stores(self) -> bool:
        """Whether anything about the visitor may be kept (a cookie and a record)."""
        return self.tier != "none"

    @property
    def persistent(self) -> bool:
        return self.tier == "full"

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "choice": self.choice,
            "capped_by": self.capped_by,
            "personalized": self.personalized,
            "source": self.source,
        }


def parse_choice(value: Any) -> str | None:
    """A stored or sent choice if it is one of CHOICES, else None."""
    return value if isinstance(value, str) and value in CHOICES else None


def resolve_consent(
    default: str,
    choice: Any,
    headers: Mapping[str, str],
    page_default: Any = None,
) -> Consent:
    """The tier for one request: the visitor's choice, else the page's default (when valid),
    else the site's; then capped by the browser's privacy signal."""
    chosen = parse_choice(choice)
    page = page_default if isinstance(page_default, str) and page_default in _RANK else None
    key = (default, chosen, page, privacy_signal(headers))
    found = _RESOLVED.get(key)
    if found is None:
        found = _resolve(*key)
        if len(_RESOLVED) >= 1024:  # only a few tiers, choices and signals: never, in practice
            _RESOLVED.clear()
        _RESOLVED[key] = found
    return found


# Consents are frozen: requests with the same inputs share one.
_RESOLVED: dict[tuple[str, str | None, str | None, str | None], Consent] = {}


def _resolve(
    default: str, chosen: str | None, page_default: str | None, signal: str | None
) -> Consent:
    if chosen is not None:
        wanted, source = ("none" if chosen == OPT_OUT else chosen), "choice"
    else:
        wanted, source = (default if default in _RANK else "none"), "site"
        # A page may only lower the site's default: anyone can send one.
        if page_default is not None and _RANK[page_default] < _RANK[wanted]:
            wanted, source = page_default, "page"
    tier, capped_by = wanted, None
    if signal is not None and _RANK[tier] > _RANK["session"]:
        tier, capped_by = "session", signal
    return Consent(tier, chosen, capped_by, personalized=chosen != OPT_OUT, source=source)
