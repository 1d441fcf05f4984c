from __future__ import annotations

from pathlib import Path

import pytest

from opmaat.campaigns import check_file, load_campaigns
from opmaat.errors import ConfigError

HERE = Path(__file__).parent / "campaigns"


def test_check_finds_all_ten_mistakes_in_one_run() -> None:
    path = HERE / "ten_mistakes.yaml"
    lines = [str(problem) for problem in check_file(path)]
    assert lines == [
        f"{path}:8: campaigns[0].priorty: unknown key 'priorty'; did you mean 'priority'?",
        f"{path}:11: campaigns[0].audience.referrer.term.$regex: invalid regex "
        "'running (shoes': missing ), unterminated subpattern",
        f"{path}:14: campaigns[0].schedule.end: the schedule ends (2026-11-01 00:00) before it "
        "starts (2026-12-01 00:00)",
        f"{path}:15: campaigns[0].schedule.timezone: unknown time zone 'Europe/Amsterdm'; "
        "did you mean 'Europe/Amsterdam'?",
        f"{path}:18: campaigns[0].variants[0].template: template file 'templates/missing.html' "
        f"not found (looked in {HERE})",
        f"{path}:19: campaigns[0].variants[1].key: duplicate variant key 'a' "
        "(first used on line 17)",
        f"{path}:20: campaigns[0].variants[1].html: template syntax error: unexpected '}}'",
        f"{path}:21: campaigns[1].id: duplicate campaign id 'search-hero' (first used on line 6)",
        f"{path}:22: campaigns[1].slot: slot 'heor' is not declared under 'slots'; "
        "did you mean 'hero'?",
        f"{path}:23: campaigns[1].holdout: expected a share from 0 to 0.5 (0.1 is 10%), got 0.7",
    ]


def test_check_passes_a_good_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "slots: {hero: {}}\ncampaigns:\n  - {id: a, slot: hero, variants: [{key: x, html: hi}]}\n"
    )
    assert check_file(good) == []


def test_exploration_is_checked_and_only_for_adaptive_campaigns(tmp_path: Path) -> None:
    path = tmp_path / "adaptive.yaml"
    path.write_text(
        "slots: {hero: {}}\ncampaigns:\n"
        "  - id: a\n    slot: hero\n    allocation: adaptive\n    exploration: 1.5\n"
        "    variants: [{key: x, html: hi}]\n"
        "  - id: b\n    slot: hero\n    exploration: 0.2\n    goal: Not A Name\n"
        "    variants: [{key: x, html: hi}]\n"
    )
    assert [str(p) for p in check_file(path)] == [
        f"{path}:6: campaigns[0].exploration: expected a share from 0 to 1 (0.1 is 10%), got 1.5",
        f"{path}:10: campaigns[1].exploration: only an adaptive campaign explores",
        f"{path}:11: campaigns[1].goal: 'Not A Name' is not an event name: use a-z, 0-9 and '_'",
    ]
    with pytest.raises(ConfigError):
        load_campaigns(path)


def test_an_adaptive_campaign_loads_with_its_exploration(tmp_path: Path) -> None:
    path = tmp_path / "adaptive.yaml"
    path.write_text(
        "slots: {hero: {}}\ncampaigns:\n  - id: a\n    slot: hero\n    allocation: adaptive\n"
        "    exploration: 0.25\n    goal: signup\n"
        "    variants: [{key: x, html: hi}, {key: y, html: ho}]\n"
    )
    [campaign] = load_campaigns(path).campaigns
    assert (campaign.allocation, campaign.exploration, campaign.goal) == (
        "adaptive",
        0.25,
        "signup",
    )


def test_check_reports_a_missing_file(tmp_path: Path) -> None:
    [problem] = check_file(tmp_path / "missing.yaml")
    assert problem.line == 1
    assert problem.message.startswith("cannot read the file")


def test_frequency_cap_above_what_the_edge_remembers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cap.yaml"
    path.write_text(
        "slots: {hero: {}}\ncampaigns:\n  - id: a\n    slot: hero\n"
        "    frequency: {max: 500, per: 1d}\n    variants: [{key: x, html: hi}]\n"
    )
    assert [str(p) for p in check_file(path)] == [
        f"{path}:5: campaigns[0].frequency.max: expected a whole number from 1 to 100, got 500"
    ]
