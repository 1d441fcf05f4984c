"""Every key of a campaign is a field of the cockpit's form: shown, changed, read back exactly
(untouched fields keep the file's very values), and refused with a message beside the field."""

from __future__ import annotations

from typing import Any

import pytest

from opmaat.campaigns.schema import CAMPAIGN_KEYS
from opmaat_edge.cockpit.campaign_form import (
    FormContext,
    field_for,
    read_campaign,
    shown,
)
from opmaat_edge.cockpit.yaml_edit import campaign_specs, same
from opmaat_edge.resources import DEMO_CAMPAIGNS

CONTEXT = FormContext(
    slots=["hero", "sidebar", "offer"], events=["purchase"], new=False, taken_ids=frozenset()
)
FULL = {
    "id": "everything",
    "name": "Every field",
    "label": "A label for visitors",
    "slots": ["hero", "sidebar"],
    "priority": 7,
    "audience": {"geo.country": "DE"},
    "schedule": {"start": "2026-12-01 09:00", "end": "2026-12-31", "timezone": "Europe/Berlin"},
    "frequency": {"max": 3, "per": "1d"},
    "holdout": 0.15,
    "consent": "session",
    "allocation": "adaptive",
    "exploration": 0.2,
    "goal": "purchase",
    "channels": ["web", "email"],
    "purl": {
        "recipients": "links.csv",
        "landing": "/spring",
        "expires_days": 30,
        "expose": ["first_name"],
    },
    "raw_utm": True,
    "variants": [
        {"key": "a", "weight": 3, "html": "<p>{{ geo.city }}</p>\n<p>two lines</p>"},
        {"key": "b", "template": "b.html"},
    ],
}


def as_form(values: dict[str, Any]) -> dict[str, list[str]]:
    """What the browser sends for the form drawn from ``values`` (shown())."""
    form: dict[str, list[str]] = {}
    for key, value in values.items():
        if key == "variants":
            for n, variant in enumerate(value):
                for part, text in variant.items():
                    form[f"variant.{n}.{part}"] = [text]
        elif isinstance(value, list):
            form[key] = list(value)
        elif isinstance(value, bool):
            if value:
                form[key] = ["1"]
        else:
            form[key] = [str(value)]
    return form


def back(spec: dict[str, Any], **changes: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
    values = {**shown(spec), **changes}
    filled = read_campaign(as_form(values), spec, CONTEXT)
    if filled.spec is not None and "audience" in spec:
        filled.spec["audience"] = spec["audience"]  # the builder's part (its own tests)
    return filled.spec, filled.errors


def test_the_form_has_every_key_a_campaign_has() -> None:
    assert set(FULL) == set(CAMPAIGN_KEYS) - {"slot"}
    spec, errors = back(FULL)
    assert errors == {}
    assert spec is not None
    assert same(spec, FULL)


@pytest.mark.parametrize("spec", campaign_specs(DEMO_CAMPAIGNS.read_text()), ids=lambda s: s["id"])
def test_an_untouched_campaign_comes_back_as_the_file_has_it(spec: dict[str, Any]) -> None:
    context = FormContext(
        slots=["hero", "sidebar", "cart_banner", "promo", "store", "offer", "related", "picks"],
        events=[],
        new=False,
    )
    values = shown(spec)
    filled = read_campaign(as_form(values), spec, context)
    assert filled.errors == {}
    assert filled.spec is not None
    if "audience" in spec:
        filled.spec["audience"] = spec["audience"]
    assert same(filled.spec, spec)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "New name"}, {"name": "New name"}),
        ({"label": ""}, {"label": ""}),
        ({"slots": ["offer"]}, {"slots": ["offer"]}),
        ({"priority": "-3"}, {"priority": -3}),
        ({"channels": ["app"]}, {"channels": ["app"]}),
        ({"consent": "full"}, {"consent": "full"}),
        (
            {"schedule_start": "2027-01-01 08:00"},
            {
                "schedule": {
                    "start": "2027-01-01 08:00",
                    "end": "2026-12-31",
                    "timezone": "Europe/Berlin",
                }
            },
        ),
        (
            {"schedule_start": "", "schedule_end": "", "schedule_timezone": "UTC"},
            {"schedule": {"timezone": "UTC"}},
        ),
        ({"frequency_max": "5", "frequency_per": "12h"}, {"frequency": {"max": 5, "per": "12h"}}),
        ({"holdout": "20"}, {"holdout": 0.2}),
        ({"allocation": "fixed"}, {"allocation": "fixed", "exploration": None}),
        ({"exploration": "5"}, {"exploration": 0.05}),
        ({"goal": "click"}, {"goal": "click"}),
        ({"raw_utm": False}, {"raw_utm": False}),
        ({"purl": False}, {"purl": None}),
        (
            {"purl_landing": "/"},
            {"purl": {"recipients": "links.csv", "expires_days": 30, "expose": ["first_name"]}},
        ),
    ],
)
def test_each_field_changes_its_key(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    spec, errors = back(FULL, **changes)
    assert errors == {}
    assert spec is not None
    for key, value in expected.items():
        if value is None:
            assert key not in spec
        else:
            assert same(spec[key], value), key


def test_variants_change_add_and_go() -> None:
    values = shown(FULL)
    values["variants"][0]["html"] = "<p>changed</p>"
    values["variants"][1] = {**values["variants"][1], "source": "html", "html": "<p>b</p>"}
    values["variants"].append(
        {"key": "c", "weight": "0.5", "source": "html", "html": "", "template": ""}
    )
    filled = read_campaign(as_form(values), FULL, CONTEXT)
    assert filled.errors == {}
    assert filled.spec is not None
    assert filled.spec["variants"] == [
        {"key": "a", "weight": 3, "html": "<p>changed</p>"},
        {"key": "b", "html": "<p>b</p>"},
        {"key": "c", "weight": 0.5, "html": ""},
    ]


def test_a_new_campaign_writes_only_what_is_not_the_default() -> None:
    values = {
        **shown(None),
        "id": "germany-mobile",
        "name": "Germany on a phone",
        "slots": ["hero"],
        "variants": [
            {"key": "a", "weight": "1", "source": "html", "html": "<p>Hallo</p>", "template": ""}
        ],
    }
    context = FormContext(slots=["hero"], events=[], new=True, taken_ids=frozenset({"other"}))
    filled = read_campaign(as_form(values), None, context)
    assert filled.errors == {}
    assert filled.spec == {
        "id": "germany-mobile",
        "name": "Germany on a phone",
        "slot": "hero",
        "variants": [{"key": "a", "html": "<p>Hallo</p>"}],
    }


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        ({"slots": []}, "slots", "at least one slot"),
        ({"slots": ["nowhere"]}, "slots", "declares no slot"),
        ({"priority": "high"}, "priority", "whole number"),
        ({"channels": ["fax"]}, "channels", "at least one channel"),
        ({"consent": "some"}, "consent", "one of"),
        ({"schedule_start": "next week"}, "schedule_start", "a date and time"),
        ({"schedule_timezone": "Europe/Amsterdm"}, "schedule_timezone", "time zone"),
        ({"frequency_max": "0"}, "frequency_max", "whole number from 1"),
        ({"frequency_per": "daily"}, "frequency_per", "30m, 12h or 7d"),
        ({"holdout": "60"}, "holdout", "0 to 50"),
        ({"exploration": "x"}, "exploration", "percentage"),
        ({"goal": "Buy it"}, "goal", "event name"),
        ({"label": "x" * 81}, "label", "at most 80"),
        ({"name": "two\nlines"}, "name", "one line"),
        ({"purl_recipients": ""}, "purl_recipients", "recipients file"),
        ({"purl_expires_days": "0"}, "purl_expires_days", "whole number"),
    ],
)
def test_a_field_that_cannot_be_used_is_said_beside_it(
    changes: dict[str, Any], field: str, said: str
) -> None:
    spec, errors = back(FULL, **changes)
    assert spec is None
    assert said in errors[field]


def test_variant_mistakes_are_said_beside_the_variant() -> None:
    values = shown(FULL)
    values["variants"][1]["key"] = "a"
    values["variants"][0]["weight"] = "0"
    filled = read_campaign(as_form(values), FULL, CONTEXT)
    assert "used twice" in filled.errors["variant.1.key"]
    assert "above 0" in filled.errors["variant.0.weight"]


def test_a_new_campaign_needs_a_free_id() -> None:
    context = FormContext(slots=["hero"], events=[], new=True, taken_ids=frozenset({"taken"}))
    for wanted, said in (("Taken!", "lower-case"), ("taken", "already")):
        values = {**shown(None), "id": wanted, "slots": ["hero"]}
        filled = read_campaign(as_form(values), None, context)
        assert said in filled.errors["id"]


@pytest.mark.parametrize(
    ("problem_field", "form_field"),
    [
        ("audience.geo.country", "audience"),
        ("variants[1].html", "variant.1.html"),
        ("variants[0]", "variant.0.html"),
        ("schedule.timezone", "schedule_timezone"),
        ("slots[0]", "slots"),
        ("purl.expose[0]", "purl_expose"),
        ("frequency", "frequency_max"),
        ("", "campaign"),
    ],
)
def test_check_problems_find_their_field(problem_field: str, form_field: str) -> None:
    assert field_for(problem_field) == form_field
