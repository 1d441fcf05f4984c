"""What a campaign file reads of the profile, and the decision's profile built from it: the
costly derived sections nobody reads are left out, event counts only for the names read, a list
only templates show is built when a template first looks at it, and whatever a file reads
reads the same as in the full profile."""

from __future__ import annotations

import time
from pathlib import Path

from opmaat.campaigns.loader import load_campaigns_text
from opmaat.consent import Consent
from opmaat.event_counts import note_event
from opmaat.profile import ProfileSources, build_profile
from opmaat.profile_reads import COSTLY, EVERYTHING, Deferred, ProfileReads, profile_reads
from opmaat.runtime import Runtime

SLOTS = 'slots:\n  hero: {default: "<p>hi</p>"}\n  picks: {default: ""}\n'


def reads_of(campaigns: str, tmp_path: Path) -> ProfileReads:
    text = SLOTS + "campaigns:\n" + campaigns
    return profile_reads(load_campaigns_text(text, base_dir=tmp_path))


def test_audiences_and_templates_name_what_is_read(tmp_path: Path) -> None:
    reads = reads_of(
        """\
  - id: buyers
    slot: hero
    audience: {$or: [{events.purchase.count_7d: {$gte: 1}}, {$nor: [{intent.score: 3}]}]}
    variants: [{key: a, html: "{{ geo.city }} {{ profile.milestone.visits }}"}]
  - id: picks
    slot: picks
    variants: [{key: a, html: "{% for o in offers %}{{ o.name }}{% endfor %}"}]
""",
        tmp_path,
    )
    assert reads.sections == {"events", "intent", "milestone", "offers"}
    assert reads.events == {"purchase"}
    assert reads.deferred == {"offers"}  # only a template reads it
    assert reads.wants("events")
    assert not reads.wants("viewed_products")


def test_a_section_read_whole_or_the_whole_profile_reads_everything(tmp_path: Path) -> None:
    every_event = reads_of(
        '  - id: a\n    slot: hero\n    variants: [{key: a, html: "{{ events|length }}"}]\n',
        tmp_path,
    )
    assert every_event.sections == {"events"}
    assert every_event.events is None
    whole = reads_of(
        '  - id: a\n    slot: hero\n    variants: [{key: a, html: "{{ profile|tojson }}"}]\n',
        tmp_path,
    )
    assert whole == EVERYTHING
    assert all(whole.wants(section) for section in COSTLY)
    audience = reads_of(
        "  - id: a\n    slot: picks\n    audience: {offers.0: {$exists: true}}\n"
        '    variants: [{key: a, html: "{{ offers[0].name }}"}]\n',
        tmp_path,
    )
    assert audience.deferred == frozenset()  # an audience reads it: built before deciding


def record_with_history(now: float) -> dict[str, object]:
    record: dict[str, object] = {
        "visits": 3,
        "viewed": [{"id": "tent", "name": "Tent", "at": now - 60}],
    }
    note_event(record, "purchase", now - 3600)
    note_event(record, "signup", now - 3600)
    return record


def test_the_decision_profile_has_what_is_read_and_nothing_costly_besides() -> None:
    now = time.time()
    record = record_with_history(now)
    full = build_profile({}, record, visitor_id="v", consent=Consent("full"), now=now)
    reads = ProfileReads(frozenset({"events"}), frozenset({"purchase"}))
    lean = build_profile({}, record, visitor_id="v", consent=Consent("full"), now=now, reads=reads)
    assert lean["events"] == {"purchase": full["events"]["purchase"]}
    for section in ("viewed_products", "intent", "journey", "milestone"):
        assert section in full
        assert section not in lean
    assert {k: v for k, v in full.items() if k not in COSTLY} == {
        k: v for k, v in lean.items() if k not in COSTLY
    }


def test_a_deferred_list_is_built_once_when_first_looked_at() -> None:
    made: list[int] = []

    def make() -> list[int]:
        made.append(1)
        return [1, 2, 3]

    items = Deferred(make)
    assert made == []
    assert (len(items), items[0], items[:2], list(items)) == (3, 1, [1, 2], [1, 2, 3])
    assert items == [1, 2, 3]
    assert bool(items)
    assert made == [1]


def test_offers_only_templates_show_render_the_same_deferred(tmp_path: Path) -> None:
    (tmp_path / "offers.csv").write_text(
        "id,name,url,price,category\ntent,Tent,/p/tent,150,outdoor\nmat,Mat,/p/mat,30,outdoor\n",
        encoding="utf-8",
    )
    config = tmp_path / "campaigns.yaml"
    config.write_text(
        "preferences: {offers: offers.csv}\n"
        + SLOTS
        + "campaigns:\n  - id: picks\n    slot: picks\n    variants:\n"
        + '      - {key: a, html: "{% for o in offers[:2] %}<li>{{ o.name }}</li>{% endfor %}"}\n',
        encoding="utf-8",
    )
    runtime = Runtime.load(config)
    assert runtime.reads.deferred == {"offers"}
    sources: ProfileSources = runtime.sources
    args = {"visitor_id": "v", "consent": Consent("full"), "sources": sources}
    lean = build_profile({}, {}, reads=runtime.reads, **args)  # type: ignore[arg-type]
    full = build_profile({}, {}, **args)  # type: ignore[arg-type]
    assert isinstance(lean["offers"], Deferred)
    assert lean["offers"] == full["offers"]
    engine = runtime.engine
    shown = engine.decide(lean, ["picks"])["picks"].html
    assert shown == engine.decide(full, ["picks"])["picks"].html == "<li>Tent</li><li>Mat</li>"
