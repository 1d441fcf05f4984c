from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from opmaat import load_campaigns_text, reasons
from opmaat.consent import (
    CHOICES,
    OPT_OUT,
    TIERS,
    Consent,
    lowest,
    parse_choice,
    privacy_signal,
    resolve_consent,
)
from opmaat.engine import Decision, Engine
from opmaat.profile import build_profile

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
GPC = {"sec-gpc": "1"}
DNT = {"dnt": "1"}


# --- resolve_consent -------------------------------------------------------------------------
# Precedence: the visitor's choice, else the page's default (when valid), else the site's;
# then Sec-GPC / DNT cap the result at session.


@pytest.mark.parametrize("default", TIERS)
def test_site_default_applies_without_a_choice(default: str) -> None:
    consent = resolve_consent(default, None, {})
    assert consent == Consent(default, choice=None, capped_by=None, personalized=True)
    assert consent.source == "site"


@pytest.mark.parametrize(
    ("default", "choice"),
    [("session", "full"), ("full", "none"), ("none", "session"), ("session", "none")],
)
def test_choice_overrides_the_default(default: str, choice: str) -> None:
    consent = resolve_consent(default, choice, {})
    assert consent.tier == choice
    assert consent.choice == choice
    assert consent.capped_by is None
    assert consent.personalized is True
    assert consent.source == "choice"


@pytest.mark.parametrize("default", TIERS)
def test_off_means_tier_none_and_not_personalized(default: str) -> None:
    consent = resolve_consent(default, OPT_OUT, {})
    assert (consent.tier, consent.choice, consent.capped_by) == ("none", "off", None)
    assert consent.personalized is False
    assert consent.source == "choice"
    assert not consent.stores


def test_only_off_turns_personalization_off() -> None:
    for choice in (None, *TIERS, "junk", 0):
        assert resolve_consent("full", choice, {}).personalized is True
        assert resolve_consent("full", choice, {}, "none").personalized is True


@pytest.mark.parametrize(("headers", "signal"), [(GPC, "gpc"), (DNT, "dnt")])
@pytest.mark.parametrize(("default", "choice"), [("full", None), ("none", "full")])
def test_privacy_signals_cap_full_at_session(
    headers: dict[str, str], signal: str, default: str, choice: str | None
) -> None:
    consent = resolve_consent(default, choice, headers)
    assert consent.tier == "session"
    assert consent.capped_by == signal
    assert consent.choice == choice


def test_gpc_is_named_when_both_signals_are_sent() -> None:
    assert resolve_consent("full", None, {**GPC, **DNT}).capped_by == "gpc"


@pytest.mark.parametrize("headers", [GPC, DNT])
@pytest.mark.parametrize("tier", ["none", "session"])
def test_privacy_signals_never_raise_a_lower_tier(headers: dict[str, str], tier: str) -> None:
    chosen = resolve_consent("full", tier, headers)
    assert (chosen.tier, chosen.capped_by) == (tier, None)
    by_site = resolve_consent(tier, None, headers)
    assert (by_site.tier, by_site.capped_by) == (tier, None)
    by_page = resolve_consent("full", None, headers, tier)
    assert (by_page.tier, by_page.capped_by) == (tier, None)


def test_privacy_signal_with_opt_out_stays_none() -> None:
    consent = resolve_consent("full", "off", GPC)
    assert (consent.tier, consent.capped_by, consent.personalized) == ("none", None, False)


@pytest.mark.parametrize("value", ["0", "", "yes", "true", "2", "10", "1 1"])
def test_other_signal_values_are_ignored(value: str) -> None:
    for name in ("sec-gpc", "dnt"):
        consent = resolve_consent("full", None, {name: value})
        assert consent.tier == "full"
        assert consent.capped_by is None


def test_signal_value_is_stripped() -> None:
    assert resolve_consent("full", None, {"sec-gpc": " 1 "}).tier == "session"
    assert resolve_consent("full", None, {"dnt": "1\t"}).tier == "session"


@pytest.mark.parametrize(
    ("site", "page"),
    [
        ("full", "session"),
        ("full", "none"),
        ("session", "none"),
    ],
)
def test_a_lower_page_default_replaces_the_site_default(site: str, page: str) -> None:
    consent = resolve_consent(site, None, {}, page)
    assert consent.tier == page
    assert consent.source == "page"
    assert consent.choice is None
    assert consent.capped_by is None


@pytest.mark.parametrize(
    ("site", "page"), [("session", "full"), ("none", "full"), ("none", "session"), ("full", "full")]
)
def test_a_page_default_never_raises_the_site_default(site: str, page: str) -> None:
    # Anyone can send a page default; only the visitor's own choice may go above the site's.
    consent = resolve_consent(site, None, {}, page)
    assert consent.tier == site
    assert consent.source == "site"


@pytest.mark.parametrize("choice", [*TIERS, OPT_OUT])
@pytest.mark.parametrize("page", TIERS)
def test_a_choice_beats_the_page_default(choice: str, page: str) -> None:
    consent = resolve_consent("session", choice, {}, page)
    assert consent.tier == ("none" if choice == OPT_OUT else choice)
    assert consent.source == "choice"


def test_privacy_signal_caps_the_page_default() -> None:
    consent = resolve_consent("full", None, GPC, "session")
    assert (consent.tier, consent.capped_by, consent.source) == ("session", None, "page")
    consent = resolve_consent("full", None, GPC, "full")
    assert (consent.tier, consent.capped_by, consent.source) == ("session", "gpc", "site")


@pytest.mark.parametrize("page", ["FULL", "None", "off", "", "high", 0, 1, ["none"], {"none"}])
def test_invalid_page_default_is_ignored(page: Any) -> None:
    consent = resolve_consent("full", None, {}, page)
    assert (consent.tier, consent.source) == ("full", "site")
    consent = resolve_consent("none", None, {}, page)
    assert (consent.tier, consent.source) == ("none", "site")


@pytest.mark.parametrize(
    "choice",
    [0, 1, 2, True, False, 1.0, ["full"], ("none",), {"tier": "none"}, "FULL", "", " full"],
)
def test_invalid_choice_is_ignored(choice: Any) -> None:
    consent = resolve_consent("session", choice, {})
    assert (consent.tier, consent.choice, consent.source) == ("session", None, "site")
    assert resolve_consent("full", choice, {}).tier == "full"
    assert resolve_consent("full", choice, {}, "none").tier == "none"


def test_unknown_default_falls_back_to_none() -> None:
    assert resolve_consent("everything", None, {}).tier == "none"
    assert resolve_consent("off", None, {}).tier == "none"


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "low"),
    [
        ("none", "none", "none"),
        ("none", "session", "none"),
        ("none", "full", "none"),
        ("session", "session", "session"),
        ("session", "full", "session"),
        ("full", "full", "full"),
    ],
)
def test_lowest(a: str, b: str, low: str) -> None:
    assert lowest(a, b) == low
    assert lowest(b, a) == low


@pytest.mark.parametrize(
    ("headers", "signal"),
    [
        ({}, None),
        (GPC, "gpc"),
        (DNT, "dnt"),
        ({**GPC, **DNT}, "gpc"),
        ({"sec-gpc": "0", "dnt": "1"}, "dnt"),
        ({"sec-gpc": "0", "dnt": "0"}, None),
        ({"user-agent": "1"}, None),
    ],
)
def test_privacy_signal(headers: dict[str, str], signal: str | None) -> None:
    assert privacy_signal(headers) == signal


def test_parse_choice() -> None:
    assert CHOICES == ("none", "session", "full", "off")
    for choice in CHOICES:
        assert parse_choice(choice) == choice
    for junk in (None, "", "FULL", "Off", " none", 0, 1, True, ["full"], {"full": 1}, 2.5):
        assert parse_choice(junk) is None


def test_consent_stores_and_persistent() -> None:
    assert (Consent("none").stores, Consent("none").persistent) == (False, False)
    assert (Consent("session").stores, Consent("session").persistent) == (True, False)
    assert (Consent("full").stores, Consent("full").persistent) == (True, True)


def test_consent_defaults_and_as_dict() -> None:
    assert Consent("full").as_dict() == {
        "tier": "full",
        "choice": None,
        "capped_by": None,
        "personalized": True,
        "source": "site",
    }
    consent = resolve_consent("full", "off", GPC)
    assert consent.as_dict() == {
        "tier": "none",
        "choice": "off",
        "capped_by": None,
        "personalized": False,
        "source": "choice",
    }
    capped = resolve_consent("session", "full", DNT).as_dict()
    assert capped == {
        "tier": "session",
        "choice": "full",
        "capped_by": "dnt",
        "personalized": True,
        "source": "choice",
    }
    json.dumps(capped)  # goes to the browser as is


def test_consent_is_frozen() -> None:
    consent = Consent("full")
    with pytest.raises(dataclasses.FrozenInstanceError):
        consent.tier = "none"  # type: ignore[misc]


# --- the engine honours an opt-out -----------------------------------------------------------


def _engine() -> Engine:
    campaigns = ""
    for cid, slot in (("hero-promo", "hero"), ("side-promo", "sidebar")):
        campaigns += (
            f"  - id: {cid}\n    slot: {slot}\n"
            f"    variants: [{{key: v, html: {json.dumps('<p>' + cid + '</p>')}}}]\n"
        )
    return Engine(
        load_campaigns_text(f"slots:\n  hero: {{}}\n  sidebar: {{}}\ncampaigns:\n{campaigns}")
    )


SLOTS = ["hero", "sidebar", "footer"]


def test_opted_out_profile_gets_default_content_in_every_slot() -> None:
    profile = {"visitor": {"id": "v1"}, "consent": {"tier": "full", "personalized": False}}
    decisions = _engine().decide(profile, SLOTS, now=NOW)
    assert list(decisions) == SLOTS
    for slot in SLOTS:
        assert decisions[slot] == Decision(slot, None, None, None, reasons.OPTED_OUT)


def test_personalized_profile_gets_the_campaigns() -> None:
    profile = {"visitor": {"id": "v1"}, "consent": {"tier": "full", "personalized": True}}
    decisions = _engine().decide(profile, SLOTS, now=NOW)
    assert decisions["hero"].campaign == "hero-promo"
    assert decisions["hero"].html == "<p>hero-promo</p>"
    assert decisions["sidebar"].campaign == "side-promo"
    assert decisions["footer"].campaign is None
    assert decisions["footer"].reason != reasons.OPTED_OUT


@pytest.mark.parametrize("personalized", [None, 0, "false", "no"])
def test_only_personalized_false_opts_out(personalized: Any) -> None:
    profile = {"visitor": {"id": "v1"}, "consent": {"tier": "full", "personalized": personalized}}
    assert _engine().decide(profile, ["hero"], now=NOW)["hero"].campaign == "hero-promo"


def test_opt_out_choice_through_build_profile_and_engine() -> None:
    eng = _engine()
    off = build_profile({}, {}, visitor_id=None, consent=resolve_consent("full", "off", {}), now=0)
    on = build_profile({}, {}, visitor_id="v1", consent=resolve_consent("none", "full", {}), now=0)
    assert all(d.reason == reasons.OPTED_OUT for d in eng.decide(off, SLOTS, now=NOW).values())
    assert eng.decide(on, SLOTS, now=NOW)["hero"].campaign == "hero-promo"


def test_requests_with_the_same_inputs_share_one_consent() -> None:
    first = resolve_consent("full", None, {"sec-gpc": "1"}, "session")
    assert resolve_consent("full", None, {"sec-gpc": "1"}, "session") is first
    assert resolve_consent("full", "opt-out", {}, None) is not first


@pytest.mark.parametrize("page", [["full"], {"tier": "none"}, 1, "everything", None])
def test_a_page_default_that_is_no_tier_is_ignored(page: Any) -> None:
    # From a request body: any JSON value (an unhashable one too) leaves the site's default.
    assert resolve_consent("full", None, {}, page) == Consent("full", source="site")
