"""The profile's one description: the value sets it lists are the code's, paths are found (and
near misses mended) as conditions read them, and docs/profile.md's table is made from it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from opmaat.campaigns.model import DEFAULT_INTENT_WEIGHTS
from opmaat.consent import CHOICES, TIERS, privacy_signal, resolve_consent
from opmaat.context.clock import WEEKDAYS
from opmaat.context.device import parse_device
from opmaat.context.referrer import MEDIUMS
from opmaat.context.utm import UTM_KEYS
from opmaat.customers import rfm_segment
from opmaat.event_counts import WINDOWS, milestone_attributes
from opmaat.intent import journey_stage
from opmaat.preferences import INTEREST_CHOICES
from opmaat.profile_reference import (
    ATTRIBUTES,
    REFERENCE_END,
    REFERENCE_START,
    _attribute,
    lookup,
    reference_table,
    suggest,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"


def values(path: str) -> tuple[str, ...]:
    found = lookup(path)
    assert found is not None
    assert found.attribute is not None
    return found.attribute.values


def described(prefix: str) -> list[str]:
    return [a.path.removeprefix(prefix) for a in ATTRIBUTES if a.path.startswith(prefix)]


def test_the_value_sets_are_the_codes() -> None:
    assert values("referrer.medium") == MEDIUMS
    assert values("time.weekday") == WEEKDAYS
    assert values("consent.tier") == TIERS
    assert values("consent.choice") == CHOICES
    assert values("prefs.interests.running") == INTEREST_CHOICES
    assert tuple(described("utm.")) == UTM_KEYS
    assert tuple(described("intent.signals.")) == tuple(DEFAULT_INTENT_WEIGHTS)
    assert described("events.<name>.") == [*WINDOWS, "session"]
    assert described("milestone.") == list(milestone_attributes({}))
    scores = range(1, 6)
    segments = {rfm_segment(r, f, m) for r, f, m in itertools.product(scores, scores, scores)}
    assert set(values("rfm.segment")) == segments
    stages = {
        journey_stage({}, score, orders=o, in_cart=c)
        for score in (0, 40, 80)
        for o in (0, 2)
        for c in (False, True)
    }
    assert set(values("journey.stage")) == stages
    signals = {privacy_signal({"sec-gpc": "1"}), privacy_signal({"dnt": "1"})}
    assert set(values("consent.capped_by")) == signals
    sources = {resolve_consent("full", choice, {}).source for choice in (None, "full")}
    assert sources <= set(values("consent.source"))


@pytest.mark.parametrize(
    "agent",
    [
        None,
        "curl/8.4",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    ],
)
def test_every_device_type_is_described(agent: str | None) -> None:
    assert parse_device(agent)["type"] in values("device.type")


@pytest.mark.parametrize(
    ("path", "attribute", "kind", "bindings"),
    [
        ("geo.country", "geo.country", "string", {}),
        ("geo", None, "object", {}),
        ("interests.top", "interests.top", "string", {}),
        ("interests.running", "interests.<category>", "number", {"category": "running"}),
        (
            "events.signup.count_7d",
            "events.<name>.count_7d",
            "integer",
            {"name": "signup"},
        ),
        ("response.a-b.adaptive.variant", "response.<campaign>.adaptive.variant", "string", {}),
        ("session.pages.0", None, "string", {}),
        ("session.pages.length", None, "integer", {}),
        ("cart.items.0.price", None, "scalar", {}),
    ],
)
def test_lookup_reads_paths_as_conditions_do(
    path: str, attribute: str | None, kind: str, bindings: dict[str, str]
) -> None:
    found = lookup(path)
    assert found is not None
    assert (found.attribute.path if found.attribute else None) == attribute
    assert found.type == kind
    assert bindings.items() <= found.bindings.items()


@pytest.mark.parametrize(
    "path", ["geo.contry", "geo.country.code", "session.pages.first", "segments.vip", "nope"]
)
def test_lookup_finds_nothing_where_no_profile_has_anything(path: str) -> None:
    assert lookup(path) is None


@pytest.mark.parametrize(
    ("path", "near"),
    [
        ("geo.contry", "geo.country"),
        ("geo.cty", "geo.city"),
        ("visitr.visits", "visitor.visits"),
        ("evnts.product_view.count_1d", "events.product_view.count_1d"),
        ("milestone.third_vist", "milestone.third_visit"),
        ("cart.abandonned", "cart.abandoned"),
        ("zzz.qqq", None),
    ],
)
def test_suggest_mends_misspelt_segments(path: str, near: str | None) -> None:
    assert suggest(path) == near


def test_a_malformed_entry_names_itself() -> None:
    with pytest.raises(ValueError, match=r"profile\.yaml: geo\.x: unknown type"):
        _attribute("geo.x", {"type": "text"})
    with pytest.raises(ValueError, match="unknown wildcard"):
        _attribute("geo.<place>", {"type": "string"})
    with pytest.raises(ValueError, match="expected a mapping"):
        _attribute("geo.x", {"type": "string", "colour": "red"})


def test_docs_profile_md_holds_the_generated_table() -> None:
    text = (DOCS / "profile.md").read_text(encoding="utf-8")
    table = text.split(REFERENCE_START + "\n", 1)[1].split(REFERENCE_END, 1)[0]
    assert table == reference_table(), "run scripts/generate"
    for attribute in ATTRIBUTES:
        assert f"| `{attribute.path}` |" in table
