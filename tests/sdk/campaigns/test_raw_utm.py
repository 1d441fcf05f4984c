"""``raw_utm``: a campaign's templates show ``utm.*`` (text anyone can put in a link) only when
the campaign says so; conditions read it regardless."""

from __future__ import annotations

from pathlib import Path

import pytest

from opmaat.campaigns import check_file, load_campaigns
from opmaat.engine import Engine

FILE = """slots:
  hero: {default: "<p>Welcome</p>"}
campaigns:
  - id: spring
    slot: hero
    audience: {utm.campaign: spring}
    variants:
      - key: a
        html: "<p>{{ utm.term }}</p>"
"""
SHOWS_UTM = (
    "the template shows utm.*: text from the link, which anyone can write; only a campaign "
    "with 'raw_utm: true' may show it (conditions on utm.* belong in the audience)"
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaigns.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_template_that_shows_utm_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, FILE)
    assert [str(p) for p in check_file(path)] == [
        f"{path}:9: campaigns[0].variants[0].html: {SHOWS_UTM}"
    ]


def test_a_slot_default_cannot_show_utm(tmp_path: Path) -> None:
    text = FILE.replace('"<p>Welcome</p>"', '"<p>\\n{{ profile.utm.source }}</p>"')
    path = write(tmp_path, text.replace("{{ utm.term }}", "hi"))
    shows = SHOWS_UTM.replace("utm.*:", "utm.* on line 2 of the template:")
    assert [str(p) for p in check_file(path)] == [f"{path}:2: slots.hero.default: {shows}"]


def test_a_campaign_that_opts_in_shows_utm_escaped(tmp_path: Path) -> None:
    path = write(tmp_path, FILE.replace("    slot: hero\n", "    slot: hero\n    raw_utm: true\n"))
    engine = Engine(load_campaigns(path))
    profile = {"utm": {"campaign": "spring", "term": "<b>call 0800</b>"}}
    decision = engine.decide(profile, ["hero"])["hero"]
    assert decision.campaign == "spring"
    assert decision.html == "<p>&lt;b&gt;call 0800&lt;/b&gt;</p>"


@pytest.mark.parametrize(
    ("value", "described"), [("yes", "'yes'"), ("1", "1"), ("[true]", "a list")]
)
def test_raw_utm_is_true_or_false(tmp_path: Path, value: str, described: str) -> None:
    text = FILE.replace("    slot: hero\n", f"    slot: hero\n    raw_utm: {value}\n")
    path = write(tmp_path, text)
    assert [str(p) for p in check_file(path)] == [
        f"{path}:6: campaigns[0].raw_utm: expected true or false, got {described}",
        f"{path}:10: campaigns[0].variants[0].html: {SHOWS_UTM}",
    ]
