"""The cockpit's campaign list: each campaign's status, audience in words and numbers per
arm (from the store's tallies), with its charts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opmaat.adaptive import traffic_shares
from opmaat.campaigns.model import CHANNELS, Campaign
from opmaat.personalizer import Personalizer
from opmaat.store import HELD_BACK, HOLDOUT_ARM, ProfileStore
from opmaat_edge.cockpit.audience import describe_audience
from opmaat_edge.cockpit.charts import rate_bars, sparkline
from opmaat_edge.cockpit.report import CampaignNumbers, campaign_numbers, daily_series, wilson


def status(campaign: Campaign, paused: frozenset[str], now: datetime) -> str:
    if campaign.id in paused:
        return "paused"
    schedule = campaign.schedule
    if schedule is not None and schedule.end is not None and schedule.end <= now:
        return "ended"
    if schedule is not None and schedule.start is not None and schedule.start > now:
        return "scheduled"
    return "running"


def _schedule_text(campaign: Campaign) -> str:
    schedule = campaign.schedule
    if schedule is None:
        return "always"
    parts = []
    if schedule.start is not None:
        parts.append(f"from {schedule.start:%d %b %Y %H:%M %Z}".strip())
    if schedule.end is not None:
        parts.append(f"until {schedule.end:%d %b %Y %H:%M %Z}".strip())
    return " ".join(parts) or "always"


async def held_back_counts(store: ProfileStore) -> dict[str, int]:
    """Decisions the visitors' own channel choices held back, per channel, on every node."""
    arms = (await store.tallies([HELD_BACK])).get(HELD_BACK, {})
    return {channel: row["held_back"] for channel, row in sorted(arms.items()) if row["held_back"]}


async def campaign_rows(personalizer: Personalizer, days: int) -> list[dict[str, Any]]:
    """One entry per campaign of the loaded file, in file order: the campaign, its status,
    audience in words, schedule, channels, numbers per arm and charts of the last ``days``."""
    engine = personalizer.runtime.current.engine
    campaigns = personalizer.runtime.current.campaigns.campaigns
    ids = [c.id for c in campaigns]
    store = personalizer.store
    tallies = await store.tallies(ids)
    daily = await store.daily_tallies(ids, days)
    now = datetime.now(UTC)
    today = now.date()
    rows = []
    for campaign in campaigns:
        keys = [v.key for v in campaign.variants]
        shares = None
        if campaign.allocation == "adaptive":
            beliefs = engine.posteriors.get(campaign.id)
            if beliefs is not None and len(beliefs) == len(keys) and len(set(beliefs)) > 1:
                shares = list(traffic_shares(beliefs, campaign.exploration))
            else:  # nothing learned yet (or the same for all): an even split, exactly
                shares = [1 / len(keys)] * len(keys)
        numbers: CampaignNumbers = campaign_numbers(keys, tallies.get(campaign.id, {}), shares)
        per_day = daily.get(campaign.id, {})
        impressions = daily_series(per_day, "impressions", days, today)
        conversions = daily_series(per_day, "conversions", days, today)
        arms = [*numbers.rows, *([numbers.holdout] if numbers.holdout else [])]
        bars = []
        for row in arms:
            interval = wilson(row.converted, row.visitors)
            low, high = interval if interval is not None else (None, None)
            bars.append(
                ("holdout" if row.key == HOLDOUT_ARM else row.key, row.visitor_rate, low, high)
            )
        rows.append(
            {
                "campaign": campaign,
                "status": status(campaign, personalizer.paused, now),
                "audience": describe_audience(campaign.audience),
                "schedule": _schedule_text(campaign),
                "channels": [c for c in CHANNELS if c in campaign.channels],
                "numbers": numbers,
                "impressions_chart": sparkline(
                    impressions, label=f"Impressions per day, last {days} days"
                ),
                "conversions_chart": sparkline(
                    conversions, label=f"Goal conversions per day, last {days} days"
                ),
                "rate_chart": rate_bars(bars, label="Visitors who reached the goal, per arm")
                if any(row.visitors for row in arms)
                else None,
            }
        )
    return rows
