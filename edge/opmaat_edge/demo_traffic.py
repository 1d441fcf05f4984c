"""Seeded demo traffic: `opmaat demo` starts the numbers of its one campaign with a holdout
with made-up visitors, so the cockpit shows an uplift with its interval from the first minute.

Only in demo mode, only through the store's tally API (what real visits count with), and only
into a store that holds no numbers for that campaign yet: a shared store is seeded once, and
a restart adds nothing. The cockpit marks the campaign's numbers as seeded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opmaat.engine import Engine
from opmaat.store import HOLDOUT_ARM, ProfileStore

log = logging.getLogger("opmaat.demo")

CAMPAIGN = "third-visit"
# Arm -> tally field -> count: 15% of the visitors shown the code bought, 8% of the holdout.
COUNTS: Mapping[str, Mapping[str, int]] = {
    "a": {"visitors": 800, "converted": 120, "impressions": 1040, "clicks": 96, "conversions": 131},
    HOLDOUT_ARM: {"visitors": 200, "converted": 16},
}
NOTE = (
    "Seeded demo data: opmaat demo started these numbers with 1,000 made-up visitors (800 shown "
    "the code, 200 held out) so that the uplift and its interval show; your own visits add to them."
)


def seeded(engine: Engine) -> bool:
    """Whether this campaign file has the campaign the demo seeds, as the demo defines it."""
    campaign = engine.campaign(CAMPAIGN)
    return (
        campaign is not None
        and campaign.holdout > 0
        and {v.key for v in campaign.variants} == set(COUNTS) - {HOLDOUT_ARM}
    )


async def seed(store: ProfileStore, engine: Engine) -> bool:
    """Count the seeded visitors into an empty store; whether it did. A store that fails is
    logged and left alone: the demo runs on without the seeded numbers."""
    if not seeded(engine):
        return False
    try:
        if (await store.tallies([CAMPAIGN])).get(CAMPAIGN):
            return False
        for arm, counts in COUNTS.items():
            for field, count in counts.items():
                for _ in range(count):
                    await store.tally(CAMPAIGN, arm, field)
    except Exception as exc:
        log.warning("demo: the seeded numbers of %s could not be counted: %s", CAMPAIGN, exc)
        return False
    return True
