from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opmaat.campaigns import load_campaigns, load_campaigns_text
from opmaat.engine import Decision, Engine

HERE = Path(__file__).parent / "campaigns"
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def engine(campaigns: str, slots: str = "hero: {}\n  sidebar: {}") -> Engine:
    return Engine(load_campaigns_text(f"slots:\n  {slots}\ncampaigns:\n{campaigns}"))


def campaign(cid: str, *, slot: str = "hero", html: str | None = None, **fields: Any) -> str:
    lines = [f"  - id: {cid}", f"    slot: {slot}"]
    lines += [f"    {key}: {value}" for key, value in fields.items()]
    lines.append(f"    variants: [{{key: v, html: {json.dumps(html or cid)}}}]")
    return "\n".join(lines) + "\n"


def visitor(vid: str = "v1", **sections: Any) -> dict[str, Any]:
    return {"visitor": {"id": vid}, "consent": {"tier": "full"}, **sections}


def winner(decisions: dict[str, Decision], slot: str = "hero") -> str | None:
    return decisions[slot].campaign


def test_the_example_file_end_to_end() -> None:
    eng = Engine.from_file(HERE / "shop.yaml")
    profile = visitor(
        "visitor-7",
        referrer={"medium": "search", "source": "google", "term": "running shoes"},
        geo={"country": "NL", "city": "Amsterdam"},
    )
    decisions = eng.decide(profile, ["hero", "sidebar", "footer", "banner"], now=NOW)
    assert decisions["hero"].campaign == "search-hero"
    assert decisions["hero"].reason == "you came from a Google search for 'running shoes'"
    assert decisions["hero"].html in {
        "<h2>Hi Google searcher</h2>",
        "<h2>Looking for running shoes?</h2>",
    }
    # dutch also targets hero but already lost it; it still wins the sidebar.
    assert decisions["sidebar"] == Decision(
        "sidebar",
        "dutch",
        "only",
        "<p>Hallo Amsterdam</p>",
        "you are in Amsterdam, the Netherlands",
    )
    assert decisions["footer"] == Decision(
        "footer",
        None,
        None,
        None,
        "no campaign applies to you here, so you see the standard content",
    )
    assert decisions["banner"].as_dict() == {
        "slot": "banner",
        "campaign": None,
        "variant": None,
        "html": None,
        "reason": "no campaign for this slot",
        "holdout": False,
    }


def test_highest_priority_wins_and_file_order_breaks_ties() -> None:
    eng = engine(
        campaign("first", priority=5)
        + campaign("second", priority=5)
        + campaign("low", priority=1)
        + campaign("top", priority=9, audience="{geo.country: NL}")
    )
    assert winner(eng.decide(visitor(), ["hero"], now=NOW)) == "first"
    assert winner(eng.decide(visitor(geo={"country": "NL"}), ["hero"], now=NOW)) == "top"


def test_a_campaign_wins_at_most_one_slot_per_decision() -> None:
    eng = engine(
        "  - id: both\n    slots: [hero, sidebar]\n    priority: 9\n"
        "    variants: [{key: v, html: both}]\n" + campaign("side", slot="sidebar")
    )
    decisions = eng.decide(visitor(), ["hero", "sidebar"], now=NOW)
    assert (winner(decisions, "hero"), winner(decisions, "sidebar")) == ("both", "side")
    decisions = eng.decide(visitor(), ["sidebar", "hero"], now=NOW)
    assert (winner(decisions, "sidebar"), winner(decisions, "hero")) == ("both", None)


def test_holdout_share_and_decision() -> None:
    eng = engine(campaign("promo", holdout=0.1))
    held = []
    for n in range(20_000):
        decision = eng.decide(visitor(f"id-{n}"), ["hero"], now=NOW)["hero"]
        if decision.holdout:
            held.append(decision)
    assert 0.09 <= len(held) / 20_000 <= 0.11
    assert held[0] == Decision(
        "hero",
        "promo",
        None,
        None,
        "you are in the comparison group that sees the standard content",
        holdout=True,
    )


def test_variants_are_sticky_across_engines_and_follow_the_weights() -> None:
    text = (
        "slots: {hero: {}}\ncampaigns:\n  - id: ab\n    slot: hero\n    variants:\n"
        "      - {key: a, weight: 1, html: A}\n      - {key: b, weight: 3, html: B}\n"
    )
    first, second = Engine(load_campaigns_text(text)), Engine(load_campaigns_text(text))
    counts = {"a": 0, "b": 0}
    for n in range(20_000):
        profile = visitor(f"id-{n}")
        one = first.decide(profile, ["hero"], now=NOW)["hero"]
        if n < 2000:
            assert second.decide(profile, ["hero"], now=NOW + timedelta(days=3)) == {"hero": one}
        assert one.variant is not None
        counts[one.variant] += 1
    assert 0.235 <= counts["a"] / 20_000 <= 0.265


def test_visitors_without_an_id_get_a_fixed_deterministic_decision() -> None:
    eng = engine(
        "  - id: ab\n    slot: hero\n    holdout: 0.5\n    variants:\n"
        "      - {key: a, html: A}\n      - {key: b, html: B}\n"
    )
    anonymous = [eng.decide({}, ["hero"], now=NOW)["hero"] for _ in range(3)]
    assert anonymous[0] == anonymous[1] == anonymous[2]
    assert eng.decide({"visitor": {"id": ""}}, ["hero"], now=NOW)["hero"] == anonymous[0]


def test_schedule_across_the_dst_change_in_amsterdam() -> None:
    # On 2026-10-25 the clocks in Amsterdam go from 03:00 CEST back to 02:00 CET: 02:30 local
    # happens twice (the first time counts) and 03:00 local is 02:00 UTC.
    eng = engine(
        campaign(
            "night",
            schedule="{start: '2026-10-25 02:30', end: '2026-10-25 03:00', "
            "timezone: Europe/Amsterdam}",
        )
    )

    def live(hour: int, minute: int) -> bool:
        at = datetime(2026, 10, 25, hour, minute, tzinfo=UTC)
        return winner(eng.decide(visitor(), ["hero"], now=at)) == "night"

    assert [live(0, 29), live(0, 30), live(1, 59), live(2, 0)] == [False, True, True, False]


def test_schedules_in_different_time_zones() -> None:
    eng = engine(
        campaign("tokyo", schedule="{start: '2026-11-01 09:00', timezone: Asia/Tokyo}")
        + campaign("new-york", schedule="{start: '2026-11-01 09:00', timezone: America/New_York}")
    )
    at = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert winner(eng.decide(visitor(), ["hero"], now=at)) == "tokyo"
    assert winner(eng.decide(visitor(), ["hero"], now=at - timedelta(minutes=1))) is None
    only_ny = engine(
        campaign("new-york", schedule="{start: '2026-11-01 09:00', timezone: America/New_York}")
    )
    # 09:00 EST (the US changed back on 2026-11-01) is 14:00 UTC.
    assert (
        winner(only_ny.decide(visitor(), ["hero"], now=datetime(2026, 11, 1, 13, 59, tzinfo=UTC)))
        is None
    )
    assert (
        winner(only_ny.decide(visitor(), ["hero"], now=datetime(2026, 11, 1, 14, 0, tzinfo=UTC)))
        == "new-york"
    )


def test_naive_now_is_taken_as_utc() -> None:
    eng = engine(campaign("later", schedule="{start: '2026-11-01 09:00'}"))
    assert winner(eng.decide(visitor(), ["hero"], now=datetime(2026, 11, 1, 9, 0))) == "later"
    assert winner(eng.decide(visitor(), ["hero"], now=datetime(2026, 11, 1, 8, 59))) is None


def test_frequency_cap() -> None:
    eng = engine(
        campaign("capped", priority=5, frequency="{max: 3, per: 1d}") + campaign("fallback")
    )
    stamp = NOW.timestamp()

    def shown(seen: Any) -> str | None:
        profile = visitor(response={"capped": {"seen": seen}})
        return winner(eng.decide(profile, ["hero"], now=NOW))

    assert shown([stamp - 10, stamp - 20]) == "capped"
    assert shown([stamp - 10, stamp - 20, stamp - 30]) == "fallback"
    assert shown([stamp - 10, stamp - 20, stamp - 86_401]) == "capped"
    assert shown(["x", None, True, {"t": 1}]) == "capped"
    assert shown("not a list") == "capped"


def test_consent_gates_campaigns() -> None:
    eng = engine(
        campaign("full-only", priority=2, consent="full")
        + campaign("session-ok", priority=1, consent="session")
        + campaign("anyone")
    )

    def shown(consent: Any) -> str | None:
        return winner(eng.decide({"visitor": {"id": "v"}, "consent": consent}, ["hero"], now=NOW))

    assert shown({"tier": "full"}) == "full-only"
    assert shown({"tier": "session"}) == "session-ok"
    assert shown({"tier": "none"}) == "anyone"
    assert shown({"tier": "everything"}) == "anyone"
    assert shown(None) == "anyone"


def test_channels() -> None:
    eng = engine(campaign("mail", channels="[email, app]") + campaign("site", slot="sidebar"))
    assert winner(eng.decide(visitor(), ["hero"], now=NOW)) is None
    assert winner(eng.decide(visitor(), ["hero"], channel="email", now=NOW)) == "mail"
    assert winner(eng.decide(visitor(), ["sidebar"], channel="email", now=NOW), "sidebar") is None
    assert winner(eng.decide(visitor(), ["sidebar"], now=NOW), "sidebar") == "site"
    assert winner(eng.decide(visitor(), ["hero"], channel="fax", now=NOW)) is None


def test_profile_values_are_escaped_in_content() -> None:
    eng = engine(campaign("echo", html="<p>{{ referrer.term }}</p>"))
    profile = visitor(referrer={"term": "<script>alert(1)</script>"})
    html = eng.decide(profile, ["hero"], now=NOW)["hero"].html
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"


@pytest.mark.parametrize(
    "source", ["{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}", "{{ 1 / 0 }}"]
)
def test_failed_renders_keep_the_default_and_are_counted(
    source: str, caplog: pytest.LogCaptureFixture
) -> None:
    eng = engine(campaign("broken", html=source, priority=1) + campaign("fine", slot="sidebar"))
    with caplog.at_level(logging.WARNING, logger="opmaat.templates"):
        decisions = eng.decide(visitor(), ["hero", "sidebar"], now=NOW)
    assert decisions["hero"] == Decision("hero", None, None, None, "you see the standard content")
    assert decisions["sidebar"].html == "fine"
    assert eng.render_errors == 1
    assert len(caplog.records) == 1


def test_render_default() -> None:
    eng = Engine(load_campaigns(HERE / "shop.yaml"))
    assert eng.render_default("sidebar", {"geo": {"country": "NL"}}) == (
        "<aside>Free shipping to NL</aside>"
    )
    assert eng.render_default("hero", {}) == "<h2>Welcome</h2>"
    assert eng.render_default("nope", {}) is None


def test_template_context_names_campaign_variant_and_slot() -> None:
    eng = Engine(load_campaigns(HERE / "shop.yaml"))
    decision = eng.decide(visitor("c1"), ["footer"], now=NOW)["footer"]
    assert decision.html == "<p>vip/gold/footer</p>"


@pytest.mark.parametrize(
    "profile",
    [
        {"visitor": "x", "consent": [], "response": 5, "geo": None},
        {"visitor": {"id": 12}, "response": {"capped": 3}},
        {"geo": {"country": ["NL"]}, "referrer": {"medium": {"$eq": "search"}}},
    ],
)
def test_malformed_profiles_never_raise(profile: dict[str, Any]) -> None:
    eng = Engine(load_campaigns(HERE / "shop.yaml"))
    decisions = eng.decide(profile, ["hero", "sidebar", 7, "hero"], now=NOW)  # type: ignore[list-item]
    assert set(decisions) == {"hero", "sidebar"}


def test_campaign_lookup_by_id() -> None:
    eng = Engine(load_campaigns(HERE / "shop.yaml"))
    found = eng.campaign("search-hero")
    assert found is not None
    assert found.goal == "purchase"
    assert eng.campaign("nope") is None
