from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from opmaat.campaigns import load_campaigns, load_campaigns_text
from opmaat.errors import ConfigError, Problem

HERE = Path(__file__).parent / "campaigns"


def test_the_example_file_loads_with_everything_compiled() -> None:
    campaigns = load_campaigns(HERE / "shop.yaml")
    assert campaigns.source == str(HERE / "shop.yaml")
    assert len(campaigns.version) == 12
    site = campaigns.site
    assert site.hosts == ("shop.example",)
    assert site.landing_hosts == ("shop.example",)
    assert site.geo_database == HERE / "geo.mmdb"
    assert site.trusted_proxies == ("127.0.0.1", "::1")
    assert site.session_timeout_minutes == 20
    assert list(campaigns.slots) == ["hero", "sidebar", "footer"]
    assert campaigns.slots["footer"].default == ""
    assert "Free shipping" in campaigns.slots["sidebar"].default
    search, dutch, vip = campaigns.campaigns
    assert search.schedule is not None
    assert search.schedule.start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert search.schedule.end == datetime(2026, 12, 31, 22, 59, tzinfo=UTC)
    assert search.frequency is not None
    assert search.frequency.per_seconds == 86400
    assert search.holdout == 0.1
    assert [v.weight for v in search.variants] == [1.0, 3.0]
    assert search.variants[1].source == "<h2>Looking for {{ referrer.term }}?</h2>\n"
    assert dutch.slots == ("hero", "sidebar")
    assert dutch.channels == frozenset({"web", "email"})
    assert (dutch.priority, dutch.consent, dutch.goal, dutch.holdout) == (0, "none", "click", 0)
    assert vip.allocation == "fixed"
    assert campaigns.saved_groups == {"vip_ids": ["c1", "c2"]}
    assert vip.matches is not None
    assert vip.matches({"visitor": {"id": "c2"}})


def test_defaults_for_a_minimal_file() -> None:
    campaigns = load_campaigns_text(
        "slots: {hero: {}}\ncampaigns:\n  - {id: a, slot: hero, variants: [{key: x, html: hi}]}\n"
    )
    [campaign] = campaigns.campaigns
    assert campaign.audience is None
    assert campaign.matches is None
    assert campaign.channels == frozenset({"web"})
    assert campaign.schedule is None
    assert campaign.frequency is None
    assert campaigns.site.consent_default == "session"
    assert campaigns.source == "<string>"


def test_a_label_is_what_visitors_are_shown_and_defaults_to_a_neutral_one() -> None:
    campaigns = load_campaigns_text(
        "slots: {hero: {}}\ncampaigns:\n"
        "  - {id: a, name: Which promo gets clicked, label: ' Our weekly offers ', slot: hero,"
        " variants: [{key: x, html: hi}]}\n"
        "  - {id: b, name: Internal test 7, slot: hero, variants: [{key: x, html: hi}]}\n"
    )
    labelled, unlabelled = campaigns.campaigns
    assert (labelled.name, labelled.label) == ("Which promo gets clicked", "Our weekly offers")
    assert labelled.visitor_label == "Our weekly offers"
    assert unlabelled.label == ""
    assert unlabelled.visitor_label == "a promotion"


def test_json_is_read_with_the_same_rules_and_lines() -> None:
    campaigns = load_campaigns(HERE / "shop.json")
    [norway] = campaigns.campaigns
    # YAML 1.1 would read NO as false; the file means Norway.
    assert norway.audience == {"geo.country": "NO", "visitor.visits": {"$gte": 2.0}}
    broken = (HERE / "shop.json").read_text().replace('"Hei"', '"Hei", "wieght": 2')
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text(broken, "shop.json")
    assert [str(p) for p in caught.value.problems] == [
        "shop.json:8: campaigns[0].variants[0].wieght: unknown key 'wieght'; did you mean 'weight'?"
    ]


def test_yaml_booleans_are_only_true_and_false() -> None:
    campaigns = load_campaigns_text(
        "slots: {hero: {}}\ncampaigns:\n  - id: a\n    slot: hero\n"
        "    audience: {geo.country: NO, prefs.newsletter: yes, visitor.new: true}\n"
        "    variants: [{key: x, html: hi}]\n"
    )
    assert campaigns.campaigns[0].audience == {
        "geo.country": "NO",
        "prefs.newsletter": "yes",
        "visitor.new": True,
    }


def test_yaml_syntax_errors_name_their_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text("slots:\n  hero: {}\ncampaigns:\n  - id: a\n   slot: hero\n", "c.yaml")
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("c.yaml", 5, "yaml")


def test_duplicate_yaml_keys_are_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text("slots: {hero: {}}\nslots: {}\n", "c.yaml")
    assert [str(p) for p in caught.value.problems] == ["c.yaml:2: slots: duplicate key 'slots'"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "c.yaml:1: file: the file is empty; it needs at least 'slots' and 'campaigns'"),
        (
            "- a\n",
            "c.yaml:1: file: expected a mapping with keys such as 'site', 'slots', "
            "'segments', got a list",
        ),
        ("slot: {}\n", "c.yaml:1: slot: unknown key 'slot'; did you mean 'slots'?"),
    ],
)
def test_top_level_problems(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text(text, "c.yaml")
    assert [str(p) for p in caught.value.problems] == [expected]


BASE = (
    "slots: {hero: {}}\ncampaigns:\n  - id: a\n    slot: hero\n    variants: [{key: x, html: hi}]\n"
)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    priority: high\n", "campaigns[0].priority: expected a whole number, got 'high'"),
        (
            "    frequency: {max: 3, per: 1w}\n",
            "campaigns[0].frequency.per: expected a window like '30m', '12h' or '7d', got '1w'",
        ),
        (
            "    frequency: {per: 2h}\n",
            "campaigns[0].frequency: a frequency cap needs 'max' "
            "(impressions) and 'per' (a window)",
        ),
        (
            "    channels: [web, sms]\n",
            "campaigns[0].channels[1]: must be one of web, email, "
            "app, server, contact_center, got 'sms'",
        ),
        (
            "    consent: ful\n",
            "campaigns[0].consent: must be one of none, session, full, "
            "got 'ful'; did you mean 'full'?",
        ),
        (
            "    schedule: {start: next week}\n",
            "campaigns[0].schedule.start: cannot read "
            "'next week' as a date and time; write it like '2026-11-01 09:00' (optionally with an "
            "offset such as +01:00)",
        ),
        (
            "    audience: [referrer.medium]\n",
            "campaigns[0].audience: expected a condition (a mapping), got a list",
        ),
        (
            "    audience: {visitor.id: {$inGroup: vips}}\n",
            "campaigns[0].audience.visitor.id.$inGroup: unknown saved group 'vips'",
        ),
        ("    id: b\n", "campaigns[0].id: duplicate key 'id'"),
        ("    goal: ''\n", "campaigns[0].goal: must not be empty"),
        (
            '    label: "Our offers\\nfor you"\n',
            "campaigns[0].label: a label is one line of at most 80 characters",
        ),
        (
            f"    label: {'x' * 81}\n",
            "campaigns[0].label: a label is one line of at most 80 characters",
        ),
        ("    label: [offers]\n", "campaigns[0].label: expected text, got a list"),
    ],
)
def test_campaign_field_problems(extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text(BASE + extra, "c.yaml")
    assert [str(p) for p in caught.value.problems] == [f"c.yaml:6: {expected}"]


def test_variant_problems() -> None:
    text = (
        "slots: {hero: {}}\ncampaigns:\n  - id: Bad Id\n    slot: hero\n    variants:\n"
        "      - {key: a, weight: 0, html: x}\n"
        "      - {key: b}\n"
        "      - {key: c, html: x, template: y.html}\n"
        "  - id: b\n    slot: hero\n    variants: []\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text(text, "c.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "c.yaml:3: campaigns[0].id: 'Bad Id' is not a campaign id: use lower-case letters, "
        "digits, '-' and '_' (at most 64)",
        "c.yaml:6: campaigns[0].variants[0].weight: expected a number above 0, got 0",
        "c.yaml:7: campaigns[0].variants[1]: a variant needs either 'html' or 'template' "
        "(one of the two)",
        "c.yaml:8: campaigns[0].variants[2]: a variant needs either 'html' or 'template' "
        "(one of the two)",
        "c.yaml:11: campaigns[1].variants: a campaign needs at least one variant "
        "(a list under 'variants')",
    ]


def test_site_problems() -> None:
    text = (
        "site:\n  hosts: ['https://shop.example/']\n  allowed_origins: [shop.example]\n"
        "  trusted_proxies: [10.0.0.0/8, 'proxy.local']\n  cdn_geo_header: 'CF IPCountry'\n"
        "  session_timeout_minutes: 0\nslots: {}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text(text, "c.yaml")
    assert [f"{p.line}: {p.field}" for p in caught.value.problems] == [
        "2: site.hosts[0]",
        "3: site.allowed_origins[0]",
        "4: site.trusted_proxies[1]",
        "5: site.cdn_geo_header",
        "6: site.session_timeout_minutes",
    ]


def test_template_files_resolve_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "hero.html").write_text("<h1>{{ geo.city }}</h1>")
    text = "slots: {hero: {default_template: hero.html}}\n"
    assert load_campaigns_text(text, base_dir=tmp_path).slots["hero"].default == (
        "<h1>{{ geo.city }}</h1>"
    )
    (tmp_path / "bad.html").write_text("line one\n{% for x in %}\n")
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text(
            "slots: {hero: {default_template: bad.html}}\n", "c.yaml", base_dir=tmp_path
        )
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(tmp_path / "bad.html"), 2)
    assert problem.field == "slots.hero.default_template"
    assert problem.message.startswith("template syntax error: ")


def test_schedule_bounds_in_time_zones() -> None:
    text = BASE + (
        "    schedule:\n      start: '2026-11-01T00:00:00+09:00'\n      end: 2026-11-30\n"
        "      timezone: America/New_York\n"
    )
    [campaign] = load_campaigns_text(text).campaigns
    assert campaign.schedule is not None
    # An explicit offset wins over the time zone; a date alone as the end means the whole day.
    assert campaign.schedule.start == datetime(2026, 10, 31, 15, 0, tzinfo=UTC)
    assert campaign.schedule.end == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def test_version_follows_the_bytes() -> None:
    first = load_campaigns_text(BASE)
    assert load_campaigns_text(BASE).version == first.version
    assert load_campaigns_text(BASE + "    name: x\n").version != first.version


def test_unreadable_files_are_problems_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_campaigns(tmp_path / "nope.yaml")
    [problem] = caught.value.problems
    assert problem.field == "file"
    (tmp_path / "latin1.yaml").write_bytes(b"slots:\n  hero: {default: caf\xe9}\n")
    with pytest.raises(ConfigError) as caught:
        load_campaigns(tmp_path / "latin1.yaml")
    assert caught.value.problems == [
        Problem(str(tmp_path / "latin1.yaml"), 2, "file", "the file is not UTF-8 text")
    ]


def test_condition_errors_point_at_the_offending_key() -> None:
    text = BASE + (
        "    audience:\n"
        "      $or:\n"
        "        - {geo.country: NL}\n"
        "        - visitor.visits: {$gte: 2}\n"
        "          referrer.host: {$regex: '[a-'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text(text, "c.yaml")
    [problem] = caught.value.problems
    assert problem.line == 10
    assert problem.field == "campaigns[0].audience.$or[1].referrer.host.$regex"


def test_trusting_every_address_is_refused() -> None:
    from opmaat.errors import ConfigError

    text = "site: {trusted_proxies: [10.0.0.0/8, 0.0.0.0/0]}\nslots: {hero: {default: x}}\n"
    with pytest.raises(ConfigError) as caught:
        load_campaigns_text(text, "c.yaml")
    assert "trusts every address" in str(caught.value)
    assert "site.trusted_proxies[1]" in str(caught.value)
