"""Writing one campaign into the campaign file: the lines of what changed change, and nothing
else (comments, order, quoting, layout and the other campaigns stay byte for byte)."""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opmaat.campaigns import load_campaigns_text
from opmaat_edge.cockpit.yaml_edit import EditError, campaign_specs, find_spec, rewrite, same

FILES = Path(__file__).parent / "cockpit_files"
COMMENTED = (FILES / "commented.yaml").read_text()


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines taken out and the lines put in, as ``git diff`` shows them."""
    removed, added = [], []
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += before.splitlines()[i1:i2]
            added += after.splitlines()[j1:j2]
    return removed, added


def edited(campaign: str, **fields: Any) -> dict[str, Any]:
    spec = copy.deepcopy(find_spec(COMMENTED, campaign))
    assert spec is not None
    spec.update(fields)
    return spec


def test_one_changed_field_changes_one_line() -> None:
    after = rewrite(COMMENTED, "search-hero", edited("search-hero", priority=35))
    assert changed_lines(COMMENTED, after) == (["    priority: 30"], ["    priority: 35"])
    load_campaigns_text(after, base_dir=FILES)


def test_a_nested_value_keeps_its_comment() -> None:
    after = rewrite(COMMENTED, "dutch-hero", edited("dutch-hero", audience={"geo.country": "BE"}))
    assert changed_lines(COMMENTED, after) == (
        ["      geo.country: NL   # NL only, not BE"],
        ["      geo.country: BE   # NL only, not BE"],
    )


def test_a_variant_in_a_flow_list_changes_alone() -> None:
    spec = edited("dutch-hero")
    spec["variants"][1]["html"] = "<h2>Hoi!</h2>"
    after = rewrite(COMMENTED, "dutch-hero", spec)
    removed, added = changed_lines(COMMENTED, after)
    assert removed == ['      - {key: b, html: "<h2>Goedendag!</h2>"}   # the challenger']
    # The comment stays in its column.
    assert added == ['      - {key: b, html: "<h2>Hoi!</h2>"}         # the challenger']


def test_new_keys_go_where_the_schema_puts_them() -> None:
    after = rewrite(COMMENTED, "returning", edited("returning", label="Welcome back", holdout=0.1))
    removed, added = changed_lines(COMMENTED, after)
    assert removed == []
    assert added == ["    label: Welcome back", "    holdout: 0.1"]
    lines = after.splitlines()
    assert lines.index("    label: Welcome back") < lines.index("    slot: sidebar")
    assert lines.index("    holdout: 0.1") > lines.index(
        "    audience: {visitor.visits: {$gte: 2}}"
    )


def test_multi_line_html_becomes_a_literal_block() -> None:
    spec = edited("returning")
    spec["variants"][0]["html"] = "<p>Welcome back,</p>\n<p>{{ customer.first_name }}!</p>"
    after = rewrite(COMMENTED, "returning", spec)
    assert "        html: |-\n          <p>Welcome back,</p>\n" in after
    assert find_spec(after, "returning") == spec


def test_a_new_campaign_goes_after_its_original_with_the_file_s_blank_line() -> None:
    spec = {
        "id": "search-hero-copy",
        "name": "From a search (copy)",
        "slot": "hero",
        "variants": [{"key": "a", "html": "<h2>Hi</h2>"}],
    }
    after = rewrite(COMMENTED, "search-hero-copy", spec, after="search-hero")
    removed, added = changed_lines(COMMENTED, after)
    assert removed == []
    assert added[0] == "  - id: search-hero-copy"
    assert [c["id"] for c in campaign_specs(after)] == [
        "search-hero",
        "search-hero-copy",
        "dutch-hero",
        "returning",
    ]
    # The comments above the next campaign stay above it, one blank line before them.
    text = after.split("  - id: search-hero-copy")[1]
    assert "        html: <h2>Hi</h2>\n\n  # ---- the Netherlands" in text


def test_a_campaign_taken_out_takes_only_its_own_lines() -> None:
    after = rewrite(COMMENTED, "dutch-hero", None)
    removed, added = changed_lines(COMMENTED, after)
    assert added == []
    assert removed[:2] == [
        "  # ---- the Netherlands ------------------------------------------------------",
        "  # Two variants, weighted.",
    ]
    assert "  # ---- returning visitors -----------------------------------------" in after
    assert after.endswith("# The end. Nothing below this line.\n")


def test_the_last_campaign_taken_out_leaves_the_end_of_the_file() -> None:
    after = rewrite(COMMENTED, "returning", None)
    assert after.endswith("# The end. Nothing below this line.\n")
    assert [c["id"] for c in campaign_specs(after)] == ["search-hero", "dutch-hero"]


def test_a_file_with_its_own_layout_keeps_it() -> None:
    text = (FILES / "dash_left.yaml").read_text()
    spec = copy.deepcopy(find_spec(text, "two"))
    assert spec is not None
    spec["variants"][0]["html"] = "<p>2</p>"
    after = rewrite(text, "two", spec)
    assert changed_lines(text, after) == (['    html: "<p>two</p>"'], ['    html: "<p>2</p>"'])


def test_unchanged_campaigns_are_written_as_they_are() -> None:
    for spec in campaign_specs(COMMENTED):
        assert rewrite(COMMENTED, spec["id"], copy.deepcopy(spec)) == COMMENTED


def test_a_campaign_that_shares_an_anchor_leaves_the_other_as_it_was() -> None:
    text = (
        "slots: {hero: {}}\n"
        "campaigns:\n"
        "  - id: one\n"
        "    slot: hero\n"
        "    audience: &dutch {geo.country: NL}\n"
        "    variants: [{key: a, html: one}]\n"
        "  - id: two\n"
        "    slot: hero\n"
        "    audience: *dutch\n"
        "    variants: [{key: a, html: two}]\n"
    )
    spec = copy.deepcopy(find_spec(text, "one"))
    assert spec is not None
    spec["audience"] = {"geo.country": "BE"}
    after = rewrite(text, "one", spec)  # replaced, not changed in place: "two" keeps NL
    assert find_spec(after, "two") == find_spec(text, "two")
    assert find_spec(after, "one") == spec


def test_a_json_campaign_file_stays_json() -> None:
    data = {
        "slots": {"hero": {}},
        "campaigns": [{"id": "one", "slot": "hero", "variants": [{"key": "a", "html": "x"}]}],
    }
    text = json.dumps(data)
    spec = {**data["campaigns"][0], "priority": 5}
    after = rewrite(text, "one", spec, filename="campaigns.json")
    assert json.loads(after)["campaigns"] == [spec]


def test_a_file_that_does_not_parse_is_not_edited() -> None:
    with pytest.raises(EditError, match="does not parse"):
        rewrite("campaigns: [", "x", {"id": "x"})


def test_same_tells_json_types_apart() -> None:
    assert same({"a": [1, "x"]}, {"a": [1, "x"]})
    assert not same(1, 1.0)
    assert not same(True, 1)
    assert not same({"a": 1}, {"a": 1, "b": 2})


tricky = st.one_of(
    st.sampled_from(["NO", "yes", "null", "~", "1.0", "0x1F", " padded", "a: b", "#x", "", "é"]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
audiences = st.dictionaries(
    st.sampled_from(["geo.country", "page.category", "utm.source", "visitor.visits"]),
    st.one_of(tricky, st.dictionaries(st.sampled_from(["$in", "$nin"]), st.lists(tricky))),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(audiences)
def test_any_audience_written_reads_back_the_same_and_alone(audience: dict[str, Any]) -> None:
    after = rewrite(COMMENTED, "dutch-hero", edited("dutch-hero", audience=audience))
    assert same(find_spec(after, "dutch-hero"), edited("dutch-hero", audience=audience))
    removed, _ = changed_lines(COMMENTED, after)
    campaign = COMMENTED.split("  - id: dutch-hero")[1].split("  # ---- returning")[0]
    assert all(line in campaign for line in removed)


def test_a_value_with_a_control_character_is_refused_with_a_reason() -> None:
    spec = edited("dutch-hero", audience={"geo.country": "\x1f\n"})
    with pytest.raises(EditError, match="control character"):
        rewrite(COMMENTED, "dutch-hero", spec)


def test_a_text_that_reads_otherwise_unquoted_in_a_one_line_list_is_quoted() -> None:
    # Found by the property above: ruamel writes [:0], which no YAML reader takes back.
    audience = {"geo.country": {"$in": [":0", "a: b", "#x", "NL"]}}
    after = rewrite(COMMENTED, "dutch-hero", edited("dutch-hero", audience=audience))
    assert same(find_spec(after, "dutch-hero"), edited("dutch-hero", audience=audience))
    assert '[":0", "a: b", "#x", NL]' in after
