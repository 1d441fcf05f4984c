"""The editor's live preview: the draft, put into the campaign file, decided for a sample
visitor exactly as the cockpit's preview decides (opmaat_edge.cockpit.preview), with the reason
each slot's visitor reads. Nothing is kept or counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opmaat.errors import ConfigError
from opmaat.runtime import Runtime
from opmaat_edge.cockpit.preview import (
    PreviewError,
    PreviewVisitor,
    live_recommend_for,
    parse_preview,
    preview_decisions,
)
from opmaat_edge.state import EdgeState

log = logging.getLogger("opmaat.cockpit")
# Visitors to preview a campaign as; the form's fields can describe any other.
SAMPLE_VISITORS: dict[str, dict[str, str]] = {
    "Berlin, on a phone, from the newsletter": {
        "country": "DE",
        "city": "Berlin",
        "device": "mobile",
        "utm_source": "newsletter",
        "utm_medium": "email",
    },
    "Utrecht, on a computer, from a Google search": {
        "country": "NL",
        "city": "Utrecht",
        "device": "desktop",
        "referrer": "https://www.google.com/search?q=trail+shoes",
    },
    "Amsterdam, on a tablet, interested in running": {
        "country": "NL",
        "city": "Amsterdam",
        "device": "tablet",
        "interests": "running",
    },
    "A best customer (RFM champion) in the evening": {
        "country": "NL",
        "segments": "rfm-champions",
        "time": "20:30",
    },
}
PREVIEW_FIELDS = (
    "country",
    "city",
    "device",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "segments",
    "interests",
    "viewed",
    "time",
)


def visitor_from(
    form: Mapping[str, list[str]],
) -> tuple[dict[str, str], PreviewVisitor | None, str]:
    """The sample visitor the form describes (a chosen one fills the fields)."""
    text = {name: (form.get(f"p_{name}") or [""])[0] for name in PREVIEW_FIELDS}
    chosen = (form.get("p_sample") or [""])[0]
    act = (form.get("act") or [""])[0]
    if act == "sample" and chosen in SAMPLE_VISITORS:
        text = {name: SAMPLE_VISITORS[chosen].get(name, "") for name in PREVIEW_FIELDS}
        text["device"] = text["device"] or "desktop"
    try:
        return text, parse_preview(text), ""
    except PreviewError as exc:
        return text, None, str(exc)


async def preview_draft(
    state: EdgeState, candidate: str, visitor: PreviewVisitor, campaign: str, base_url: str
) -> list[dict[str, Any]] | None:
    """Every slot decided for ``visitor`` with ``candidate`` as the campaign file (the
    campaign being edited counts even while paused); None when the candidate does not load."""

    def load() -> Runtime | None:
        config = Path(state.settings.config)
        try:
            return Runtime.load(config, previous=state.runtime.current, text=candidate)
        except (ConfigError, OSError, ValueError) as exc:
            log.info("cockpit: the preview could not load the draft: %s", exc)
            return None

    runtime = await asyncio.to_thread(load)
    if runtime is None:
        return None
    paused = state.personalizer.paused - {campaign}
    # Recommendations come from what the site learned, by the published file's strategies
    # (decided here, on the loop, where the recommender's lists are updated).
    published = state.runtime.current.campaigns
    return preview_decisions(
        runtime,
        paused,
        visitor,
        "web",
        base_url.rstrip("/") + "/",
        live_recommend_for(state.personalizer.recommender, published),
    )
