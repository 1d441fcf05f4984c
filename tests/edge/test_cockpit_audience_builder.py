"""The audience builder: conditions to trees and back exactly (both ways, at any depth), the
form's fields and buttons, operators by type, values read by type, and the reach estimate."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opmaat_edge.cockpit import audience_form as af
from opmaat_edge.cockpit import audience_values as values
from opmaat_edge.cockpit.audience_tree import (
    IS,
    Cond,
    Group,
    Negation,
    Raw,
    Rule,
    from_condition,
    to_condition,
)
from opmaat_edge.cockpit.audience_tree import (
    Test as OneTest,
)
from opmaat_edge.cockpit.reach import Sample, estimate
from opmaat_edge.cockpit.yaml_edit import same


def browser_form(view: af.View, form: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """What a browser sends for the builder as drawn (the template's field names)."""
    form = {} if form is None else form
    if view.kind == "cond":
        form[f"{view.id}.c"] = ["1"]
    elif view.kind == "rule":
        form[f"{view.id}.k"] = ["rule"]
        form[f"{view.id}.attr"] = [view.attr]
        form[f"{view.id}.name"] = [view.name]
        for n, test in enumerate(view.tests):
            form[f"{view.id}.op.{n}"] = [test["op"]]
            form[f"{view.id}.v.{n}"] = [test["text"]]
    elif view.kind == "raw":
        form[f"{view.id}.k"] = ["raw"]
        form[f"{view.id}.raw"] = [view.raw]
    else:
        form[f"{view.id}.k"] = [view.kind]
    for part in view.parts:
        browser_form(part, form)
    return form


def through_the_form(condition: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    tree = from_condition(condition)
    back, errors = af.read(browser_form(af.view(tree, {})))
    return af.audience_of(back), errors


# --- conditions as they come -----------------------------------------------------------------

scalars = st.one_of(
    st.text(max_size=8),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
)
paths = st.sampled_from(
    [
        "geo.country",
        "device.type",
        "visitor.visits",
        "segments",
        "cart.abandoned",
        "interests.running",
        "utm.source",
        "page.category",
        "viewed_products",
        "custom.thing",
        "events.purchase.count_7d",
    ]
)
operators = st.sampled_from(["$eq", "$ne", "$gt", "$lte", "$in", "$nin", "$exists", "$regex"])


def _test_value(op: str) -> st.SearchStrategy[Any]:
    return st.lists(scalars, max_size=3) if op in ("$in", "$nin") else scalars


tests = operators.flatmap(lambda op: _test_value(op).map(lambda v: (op, v)))
field_values = st.one_of(
    scalars,
    st.dictionaries(st.sampled_from(["$gte", "$lt", "$in", "$exists"]), scalars, min_size=1),
    st.lists(tests, min_size=1, max_size=3).map(dict),
)


def conditions(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.dictionaries(paths, field_values, max_size=3)
    if depth == 0:
        return leaf
    inner = conditions(depth - 1)
    logic = st.one_of(
        st.tuples(st.sampled_from(["$and", "$or", "$nor"]), st.lists(inner, max_size=3)),
        st.tuples(st.just("$not"), inner),
    )
    return st.tuples(leaf, st.lists(logic, max_size=2)).map(
        lambda pair: {**pair[0], **dict(pair[1])}
    )


@settings(max_examples=300, deadline=None)
@given(conditions(3))
def test_a_condition_comes_back_exactly_through_the_tree_and_the_form(
    condition: dict[str, Any],
) -> None:
    assert same(to_condition(from_condition(condition)), condition)
    back, errors = through_the_form(condition)
    assert errors == {}
    assert same(back or {}, condition)


# --- trees the builder makes -----------------------------------------------------------------

rules = st.one_of(
    st.builds(lambda v: Rule("geo.country", [OneTest(IS, v)]), st.sampled_from(["DE", "NL", "BE"])),
    st.builds(lambda n: Rule("visitor.visits", [OneTest("$gte", n)]), st.integers(0, 50)),
    st.builds(
        lambda a, b: Rule("cart.value", [OneTest("$gt", a), OneTest("$lte", b)]),
        st.integers(0, 100),
        st.integers(100, 500),
    ),
    st.builds(
        lambda items: Rule("segments", [OneTest("$in", items)]),
        st.lists(st.sampled_from(["vip", "new", "rfm-champions"]), min_size=1, max_size=3),
    ),
    st.builds(lambda b: Rule("cart.abandoned", [OneTest(IS, b)]), st.booleans()),
    st.just(Rule("device.type", [OneTest("$ne", "desktop")])),
    st.just(Rule("viewed_products", [OneTest("$elemMatch:id", "tent")])),
)


def trees(depth: int) -> st.SearchStrategy[Cond]:
    def unique(entries: list[Any]) -> Cond:
        seen: set[str] = set()
        kept = []
        for entry in entries:
            key = entry.path if isinstance(entry, Rule) else type(entry).__name__ + str(id(entry))
            if isinstance(entry, Group):
                key = entry.op
            if isinstance(entry, Negation):
                key = "$not"
            if key not in seen:
                seen.add(key)
                kept.append(entry)
        return Cond(kept)

    if depth == 0:
        return st.lists(rules, max_size=3).map(unique)
    inner = trees(depth - 1)
    entries = st.one_of(
        rules,
        st.builds(Group, st.sampled_from(["$and", "$or", "$nor"]), st.lists(inner, max_size=3)),
        st.builds(Negation, inner),
    )
    return st.lists(entries, max_size=4).map(unique)


@settings(max_examples=300, deadline=None)
@given(trees(3))
def test_a_tree_the_builder_makes_comes_back_the_same(tree: Cond) -> None:
    assert from_condition(to_condition(tree)) == tree
    back, errors = af.read(browser_form(af.view(tree, {})))
    assert errors == {}
    assert back == tree


# --- the form --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        {"viewed_products": {"$elemMatch": {"price": {"$gt": 10}}}},  # no form for this one
        {"geo.country": " NL"},  # spaces the form would trim
        {"geo.country": 3},  # a number for a text attribute
        {"visitor.visits": {"$not": {"$gte": 3}}},
        {"$where": "1"},
    ],
)
def test_what_the_form_has_no_fields_for_is_shown_as_json_and_kept(
    condition: dict[str, Any],
) -> None:
    view = af.view(from_condition(condition), {})
    assert [p.kind for p in view.parts] == ["raw"]
    back, errors = through_the_form(condition)
    assert errors == {}
    assert back == condition


def test_operators_follow_the_attribute_s_type() -> None:
    def ops(path: str) -> list[str]:
        return [op for op, _ in values.operators(path, "")]

    assert "$gte" in ops("visitor.visits")
    assert "$regex" not in ops("visitor.visits")
    assert ops("device.type") == ["is", "$ne", "$in", "$nin", "$exists"]  # an enumeration
    assert ops("cart.abandoned") == ["is", "$ne", "$exists"]
    assert "$all" in ops("segments")
    assert "$elemMatch:id" in ops("viewed_products")
    assert dict(values.operators("orders.last", ""))["$gt"] == "after"  # a time
    assert dict(values.operators("segments", ""))["$in"] == "includes any of"


@pytest.mark.parametrize(
    ("path", "op", "text", "value"),
    [
        ("geo.country", IS, "DE", "DE"),
        ("visitor.visits", "$gte", "3", 3),
        ("cart.value", "$gt", "12.5", 12.5),
        ("cart.abandoned", IS, "true", True),
        ("geo.country", "$in", "DE, AT", ["DE", "AT"]),
        ("segments", "$in", '["a,b", "c"]', ["a,b", "c"]),
        ("page.category", IS, "3", 3),
        ("page.category", IS, '"3"', "3"),
        ("geo.nearest.distance_km", "$exists", "false", False),
        ("segments", "$size", "2", 2),
    ],
)
def test_values_are_read_by_the_attribute_s_type(path: str, op: str, text: str, value: Any) -> None:
    assert same(values.read_value(op, path, text), value)
    shown = values.value_text(op, path, value)
    assert shown is not None
    assert same(values.read_value(op, path, shown), value)


@pytest.mark.parametrize(
    ("path", "op", "text", "said"),
    [
        ("visitor.visits", "$gte", "three", "a number"),
        ("cart.abandoned", IS, "yes", "true or false"),
        ("geo.country", "$in", " , ", "one or more values"),
        ("segments", "$size", "-1", "whole number"),
        ("geo.country", IS, "", "a value"),
    ],
)
def test_a_value_that_cannot_be_used_is_said_beside_it(
    path: str, op: str, text: str, said: str
) -> None:
    attr, name = values.split_path(path)
    form = {
        "a.c": ["1"],
        "a.0.k": ["rule"],
        "a.0.attr": [attr],
        "a.0.name": [name],
        "a.0.op.0": [op],
        "a.0.v.0": [text],
    }
    _, errors = af.read(form)
    assert said in errors["a.0.v.0"]


def test_the_same_attribute_twice_in_one_group_is_an_error_not_an_overwrite() -> None:
    form = {
        "a.c": ["1"],
        "a.0.k": ["rule"],
        "a.0.attr": ["geo.country"],
        "a.0.op.0": ["is"],
        "a.0.v.0": ["NL"],
        "a.1.k": ["rule"],
        "a.1.attr": ["geo.country"],
        "a.1.op.0": ["is"],
        "a.1.v.0": ["DE"],
    }
    tree, errors = af.read(form)
    assert "geo.country is tested already" in errors["a.1"]
    assert len(tree.entries) == 2  # both kept, for the marketer to fix


def test_a_wildcard_attribute_needs_its_name() -> None:
    form = {
        "a.c": ["1"],
        "a.0.k": ["rule"],
        "a.0.attr": ["interests.<category>"],
        "a.0.name": ["running"],
        "a.0.op.0": ["$gte"],
        "a.0.v.0": ["2"],
    }
    tree, errors = af.read(form)
    assert errors == {}
    assert af.audience_of(tree) == {"interests.running": {"$gte": 2}}
    form["a.0.name"] = [""]
    _, errors = af.read(form)
    assert "say which one" in errors["a.0.attr"]


def test_the_buttons_build_nested_groups() -> None:
    tree = Cond()
    tree = af.act(tree, "add-rule:a")
    tree = af.act(tree, "add-group:a:$or")
    tree = af.act(tree, "add-not:a.1.0")
    tree = af.act(tree, "add-option:a.1")
    assert [type(e).__name__ for e in tree.entries] == ["Rule", "Group"]
    group = tree.entries[1]
    assert isinstance(group, Group)
    assert len(group.items) == 3
    assert isinstance(group.items[0].entries[1], Negation)
    tree = af.act(tree, "remove:a.1.1")
    assert len(group.items) == 2
    tree = af.act(tree, "remove:a.0")
    assert [type(e).__name__ for e in tree.entries] == ["Group"]
    assert af.act(tree, "remove:a.9.9.9") == tree  # naming nothing changes nothing


def test_a_rule_can_get_a_second_test_and_become_json() -> None:
    tree = from_condition({"visitor.visits": 3})
    tree = af.act(tree, "add-test:a.0")
    rule = tree.entries[0]
    assert isinstance(rule, Rule)
    assert [t.op for t in rule.tests] == ["$eq", "$ne"]
    tree = af.act(tree, "raw:a.0")
    assert isinstance(tree.entries[0], Raw)


def test_the_whole_audience_reads_as_words() -> None:
    tree = from_condition(
        {"geo.country": "DE", "device.type": "mobile", "utm.source": "newsletter"}
    )
    assert af.words(tree) == "country is DE and device is mobile and UTM source is newsletter"


# --- the estimate ----------------------------------------------------------------------------


def profiles(*visits: int) -> Sample:
    made = [
        {"visitor": {"visits": n}, "utm": {"source": "newsletter"} if n % 2 else {}} for n in visits
    ]
    return Sample(made, len(made), 0.0, complete=True)


def test_the_estimate_counts_what_stored_profiles_know() -> None:
    sample = profiles(1, 2, 3, 4, 5)
    found = estimate(from_condition({"visitor.visits": {"$gte": 3}}), sample, {})
    assert (found.matched, found.maybe, found.total) == (3, 0, 5)
    assert "3 of 5 stored visitors" in found.words()


def test_what_each_request_tells_makes_an_estimate_a_range() -> None:
    sample = profiles(1, 2, 3, 4, 5)
    tree = from_condition({"geo.country": "DE", "utm.source": "newsletter"})
    found = estimate(tree, sample, {})
    assert (found.matched, found.maybe) == (0, 3)  # newsletter visitors, country unknown
    assert found.depends == ("geo",)
    assert "3 more may, depending on where they are" in found.words()
    either = estimate(
        from_condition({"$or": [{"geo.country": "DE"}, {"visitor.visits": 5}]}), sample, {}
    )
    assert (either.matched, either.maybe) == (1, 4)
    negated = estimate(from_condition({"$not": {"visitor.visits": 5}}), sample, {})
    assert (negated.matched, negated.maybe) == (4, 0)
