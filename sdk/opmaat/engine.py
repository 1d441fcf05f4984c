"""The decision engine: which campaign, which variant and what content for each slot."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import Template

from opmaat import reasons
from opmaat.adaptive import Posterior, choose, posteriors_for
from opmaat.bucketing import in_holdout, variant_chooser
from opmaat.campaigns import CampaignSet, load_campaigns
from opmaat.campaigns.model import CHANNELS, CONSENT_TIERS, Campaign, Matcher, ReasonBuilder
from opmaat.gates import Gates, Slate, audience_gates
from opmaat.store import Tallies
from opmaat.templates import no_recommendations, render_context

# Visitors without an id (no consent, no cookie) all bucket as this one id: their decisions stay
# deterministic, and they all share one holdout draw and one variant per campaign.
ANONYMOUS_ID = "anonymous"

_CONSENT_RANK = {tier: rank for rank, tier in enumerate(CONSENT_TIERS)}


@dataclass(slots=True, init=False)
class Decision:
    """What one slot shows. ``campaign`` None: the slot keeps its default content; ``html``
    None: the page's own content stays. ``reason`` is plain text safe to show the visitor."""

    # Built a few times per request: a written __init__ (a tenth of the time of the one a frozen
    # dataclass generates, which sets each field through object.__setattr__), and Final
    # fields in place of frozen=True: mypy refuses writes to them, and the compiled build too.
    slot: Final[str]
    campaign: Final[str | None]
    variant: Final[str | None]
    html: Final[str | None]
    reason: Final[str]
    holdout: Final[bool]

    def __init__(
        self,
        slot: str,
        campaign: str | None,
        variant: str | None,
        html: str | None,
        reason: str,
        holdout: bool = False,
    ) -> None:
        self.slot = slot
        self.campaign = campaign
        self.variant = variant
        self.html = html
        self.reason = reason
        self.holdout = holdout

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "campaign": self.campaign,
            "variant": self.variant,
            "html": self.html,
            "reason": self.reason,
            "holdout": self.holdout,
        }


class _Candidate:
    # A campaign flattened for the hot path: bounds as epoch seconds, no optional look-ups.

    __slots__ = (
        "adaptive",
        "choose_variant",
        "consent_rank",
        "context",
        "end",
        "exploration",
        "frequency_max",
        "frequency_window",
        "gate_only",
        "gates",
        "holdout",
        "id",
        "labels",
        "matches",
        "reason",
        "start",
        "templates",
        "variant_contexts",
        "variant_keys",
    )

    def __init__(self, campaign: Campaign) -> None:
        schedule = campaign.schedule
        start = schedule.start if schedule else None
        end = schedule.end if schedule else None
        self.id = campaign.id
        self.start = start.timestamp() if start else -math.inf
        self.end = end.timestamp() if end else math.inf
        self.consent_rank = _CONSENT_RANK[campaign.consent]
        self.frequency_max = campaign.frequency.max if campaign.frequency else 0
        self.frequency_window = campaign.frequency.per_seconds if campaign.frequency else 0
        self.matches: Matcher | None = campaign.matches
        self.gates, self.gate_only = audience_gates(campaign.audience)
        self.holdout = campaign.holdout
        self.reason: ReasonBuilder = campaign.reason
        self.choose_variant = variant_chooser([v.weight for v in campaign.variants])
        self.variant_keys = tuple(v.key for v in campaign.variants)
        self.templates: tuple[Template, ...] = tuple(v.template for v in campaign.variants)
        self.context = {"id": campaign.id, "name": campaign.name}
        self.adaptive = campaign.allocation == "adaptive"
        self.exploration = campaign.exploration
        self.variant_contexts = tuple({"key": v.key} for v in campaign.variants)
        self.labels = tuple(
            f"campaign '{campaign.id}' variant '{v.key}'" for v in campaign.variants
        )


class Engine:
    """Decides slot content for one profile at a time; pure apart from the render-error count.

    Everything that can be prepared is prepared here, once per campaign set: candidates per
    slot and channel, in priority order (file order breaks ties).
    """

    def __init__(self, campaigns: CampaignSet, rng: random.Random | None = None) -> None:
        self.campaigns = campaigns
        self.rng = rng if rng is not None else random.Random()
        # Beta posteriors of the adaptive campaigns' variants, refreshed from the shared
        # tallies by the host (Personalizer.keep_in_step); uniform until the first refresh.
        self.posteriors: dict[str, tuple[Posterior, ...]] = {}
        self.adaptive = tuple(c for c in campaigns.campaigns if c.allocation == "adaptive")
        self.adaptive_ids = frozenset(c.id for c in self.adaptive)
        ranked = sorted(
            enumerate(campaigns.campaigns), key=lambda pair: (-pair[1].priority, pair[0])
        )
        self._candidates: dict[str, dict[str, Slate[_Candidate]]] = {}
        self._by_id = {campaign.id: campaign for campaign in campaigns.campaigns}
        self._by_goal: dict[str, tuple[Campaign, ...]] = {}
        for campaign in campaigns.campaigns:
            self._by_goal[campaign.goal] = (*self._by_goal.get(campaign.goal, ()), campaign)
        self.goals = frozenset(self._by_goal)
        flattened = {campaign.id: _Candidate(campaign) for _, campaign in ranked}
        self._gates = Gates(flattened.values())
        # What templates see as ``slot``: shared by every render (the sandbox is immutable).
        self._slot_contexts = {slot: {"name": slot} for slot in campaigns.slots}
        for slot in campaigns.slots:
            in_slot = [c for _, c in ranked if slot in c.slots]
            self._candidates[slot] = {
                channel: Slate(
                    [flattened[c.id] for c in in_slot if channel in c.channels], self._gates
                )
                for channel in CHANNELS
            }

    @classmethod
    def from_file(cls, path: str | Path) -> Engine:
        """An engine for the campaign file at ``path``; raises ``ConfigError`` if it is bad."""
        return cls(load_campaigns(path))

    def goal_campaigns(self, name: str) -> tuple[Campaign, ...]:
        """The campaigns whose goal is the event ``name``."""
        return self._by_goal.get(name, ())

    def campaign(self, campaign_id: str) -> Campaign | None:
        """The campaign with this id, if the loaded file has one."""
        return self._by_id.get(campaign_id)

    @property
    def render_errors(self) -> int:
        """How many renders failed (and left their slot's default in place) so far."""
        return self.campaigns.templates.errors

    def decide(
        self,
        profile: Mapping[str, Any],
        slots: Sequence[object],
        channel: str = "web",
        now: datetime | None = None,
        exclude: Collection[str] = (),
        recommend: Callable[..., Any] = no_recommendations,
    ) -> dict[str, Decision]:
        """One decision per requested slot; never raises on a malformed profile.

        ``exclude`` names campaigns already shown elsewhere on the page (they are skipped).
        ``recommend`` is what templates call as ``recommendations(...)``: the host binds it to
        this visitor (the engine opens no store; by default every list is empty).
        ``now`` defaults to the current time; a naive datetime is taken as UTC. A profile
        without ``visitor.id`` is bucketed as ``ANONYMOUS_ID``, so it still gets a stable
        decision (all such visitors share the same holdout draw and variant).
        """
        if now is None:
            now_ts = datetime.now(UTC).timestamp()
        elif now.tzinfo is None:
            now_ts = now.replace(tzinfo=UTC).timestamp()
        else:
            now_ts = now.timestamp()
        consent: Any = profile.get("consent")
        # type() first: an isinstance test against Mapping runs Python code in the abc module.
        if type(consent) is not dict and not isinstance(consent, Mapping):
            consent = _NOTHING
        tier = consent.get("tier")
        if consent.get("personalized") is False:
            return {
                slot: Decision(
                    slot,
                    None,
                    None,
                    None,
                    reasons.BOT if consent.get("source") == "bot" else reasons.OPTED_OUT,
                )
                for slot in slots
                if isinstance(slot, str)
            }
        rank = _CONSENT_RANK.get(tier, 0) if isinstance(tier, str) else 0
        visitor = profile.get("visitor")
        visitor_id = (
            visitor.get("id") if type(visitor) is dict or isinstance(visitor, Mapping) else None
        )
        if not isinstance(visitor_id, str) or not visitor_id:
            visitor_id = ANONYMOUS_ID
        response = profile.get("response")
        if type(response) is not dict and not isinstance(response, Mapping):
            response = {}
        used: set[str] = set(exclude)
        signature: tuple[Any, ...] | None = None
        decisions: dict[str, Decision] = {}
        for slot in slots:
            if not isinstance(slot, str) or slot in decisions:
                continue
            by_channel = self._candidates.get(slot)
            slate = by_channel.get(channel) if by_channel is not None else None
            if slate is None or not slate.candidates:
                decisions[slot] = Decision(slot, None, None, None, reasons.NO_CAMPAIGN)
                continue
            winner = None
            if signature is None:
                signature = self._gates.signature(profile)
            for candidate, matches in slate.passing(signature):
                if (
                    candidate.id in used
                    or not candidate.start <= now_ts < candidate.end
                    or candidate.consent_rank > rank
                    or (
                        candidate.frequency_max
                        and _capped(candidate, response.get(candidate.id), now_ts)
                    )
                ):
                    continue
                if matches is not None and not matches(profile):
                    continue
                winner = candidate
                break
            if winner is None:
                decisions[slot] = Decision(slot, None, None, None, reasons.NOTHING_ELIGIBLE)
                continue
            used.add(winner.id)
            decisions[slot] = self._show(winner, slot, profile, visitor_id, response, recommend)
        return decisions

    def render_default(self, slot: str, profile: Mapping[str, Any]) -> str | None:
        """The slot's default content from the campaign file, rendered for this profile;
        None for an unknown slot or a failed render."""
        found = self.campaigns.slots.get(slot)
        if found is None:
            return None
        context = render_context(profile, {"id": None, "name": None}, {"key": None}, {"name": slot})
        return self.campaigns.templates.render(found.template, context, f"slot '{slot}' default")

    def _show(
        self,
        candidate: _Candidate,
        slot: str,
        profile: Mapping[str, Any],
        visitor_id: str,
        response: Mapping[str, Any],
        recommend: Callable[..., Any],
    ) -> Decision:
        if candidate.holdout > 0 and in_holdout(candidate.id, visitor_id, candidate.holdout):
            return Decision(slot, candidate.id, None, None, reasons.HOLDOUT, holdout=True)
        if candidate.adaptive:
            index = self._adaptive_variant(candidate, profile, response.get(candidate.id))
        else:
            index = candidate.choose_variant(candidate.id, visitor_id)
        key = candidate.variant_keys[index]
        html = self.campaigns.templates.render_for(
            candidate.templates[index],
            profile,
            candidate.context,
            candidate.variant_contexts[index],
            self._slot_contexts[slot],
            candidate.labels[index],
            recommend,
        )
        if html is None:
            return Decision(slot, None, None, None, reasons.STANDARD_CONTENT)
        return Decision(slot, candidate.id, key, html, candidate.reason(profile))

    def _adaptive_variant(
        self, candidate: _Candidate, profile: Mapping[str, Any], response: Any
    ) -> int:
        # Sticky per visitor per session: the variant this session already saw, if any.
        session = profile.get("session")
        session_id = session.get("id") if isinstance(session, Mapping) else None
        sticky = response.get("adaptive") if isinstance(response, Mapping) else None
        if session_id and isinstance(sticky, Mapping) and sticky.get("session") == session_id:
            key = sticky.get("variant")
            if key in candidate.variant_keys:
                return candidate.variant_keys.index(key)
        beliefs = self.posteriors.get(candidate.id)
        if beliefs is None or len(beliefs) != len(candidate.variant_keys):
            beliefs = tuple(Posterior(1.0, 1.0) for _ in candidate.variant_keys)
        return choose(beliefs, self.rng, candidate.exploration)

    def carry_over(self, previous: Engine) -> None:
        """Keep what ``previous`` learned for adaptive campaigns whose variants did not
        change (a reload must not start them over until the next refresh)."""
        for campaign in self.adaptive:
            old = previous.campaign(campaign.id)
            beliefs = previous.posteriors.get(campaign.id)
            keys = [v.key for v in campaign.variants]
            if old is not None and beliefs is not None and [v.key for v in old.variants] == keys:
                self.posteriors[campaign.id] = beliefs

    def learn(self, tallies: Tallies) -> None:
        """Take fresh per-variant counts for the adaptive campaigns (from the store)."""
        self.posteriors = {
            c.id: posteriors_for(tallies, c.id, [v.key for v in c.variants]) for c in self.adaptive
        }


_NOTHING: Mapping[str, Any] = {}


def _capped(candidate: _Candidate, response: Any, now_ts: float) -> bool:
    seen = response.get("seen") if type(response) is dict or isinstance(response, Mapping) else None
    if not isinstance(seen, (list, tuple)):
        return False
    since = now_ts - candidate.frequency_window
    count = 0
    for stamp in seen:
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and stamp > since:
            count += 1
            if count >= candidate.frequency_max:
                return True
    return False
