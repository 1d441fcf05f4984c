from __future__ import annotations

import copy
from typing import Any

import pytest

from opmaat.preference_fields import PreferenceField
from opmaat.preferences import (
    INTEREST_CHOICES,
    MAX_PREFERRED,
    PreferenceError,
    apply_patch,
    stored_prefs,
)

# apply_patch's ``current`` is the preferences themselves (``{"interests": {...}}``), as the
# edge passes them: ``apply_patch(stored_prefs(record), patch)`` (edge/opmaat_edge/me.py).


def prefs(**interests: str) -> dict[str, Any]:
    return {"interests": dict(interests)}


def refused(current: dict[str, Any], patch: Any, match: str) -> None:
    before = copy.deepcopy(current)
    with pytest.raises(PreferenceError, match=match):
        apply_patch(current, patch)
    assert current == before


# --- apply_patch -----------------------------------------------------------------------------


@pytest.mark.parametrize("choice", INTEREST_CHOICES)
def test_set_a_choice(choice: str) -> None:
    assert apply_patch(prefs(), {"interests": {"shoes": choice}}) == prefs(shoes=choice)


def test_empty_patches_change_nothing() -> None:
    assert apply_patch(prefs(), {}) == prefs()
    assert apply_patch(prefs(), {"interests": {}}) == prefs()


def test_forgetting_something_never_set_is_fine() -> None:
    assert apply_patch(prefs(), {"interests": {"shoes": None}}) == prefs()


def test_patch_keeps_earlier_preferences() -> None:
    # Was a bug: apply_patch read ``current`` as a whole record, so every patch dropped all
    # earlier preferences.
    current = prefs(shoes="more")
    assert apply_patch(current, {"interests": {"hats": "less"}}) == prefs(shoes="more", hats="less")


def test_patch_changes_an_earlier_choice() -> None:
    # Same bug as above: the earlier "hats" preference is lost.
    current = prefs(shoes="more", hats="more")
    result = apply_patch(current, {"interests": {"hats": "less"}})
    assert result == prefs(shoes="more", hats="less")


def test_null_forgets_only_that_category() -> None:
    # Same bug as above: "shoes" is lost too.
    current = prefs(shoes="more", hats="less")
    assert apply_patch(current, {"interests": {"hats": None}}) == prefs(shoes="more")


def test_success_does_not_change_the_input() -> None:
    current = prefs(shoes="more")
    before = copy.deepcopy(current)
    result = apply_patch(current, {"interests": {"shoes": None, "hats": "less"}})
    assert current == before
    assert result is not current
    assert result["interests"] is not current["interests"]


@pytest.mark.parametrize("patch", [None, "interests", 5, [], [("interests", {})]])
def test_patch_must_be_an_object(patch: Any) -> None:
    refused(prefs(shoes="more"), patch, "must be an object")


@pytest.mark.parametrize(
    "patch",
    [
        {"colour": "red"},
        {"interests": {"hats": "less"}, "colour": "red"},
        {"Interests": {"hats": "less"}},
        {5: "x"},
    ],
)
def test_unknown_top_level_key_is_refused(patch: dict[Any, Any]) -> None:
    refused(prefs(shoes="more"), patch, "unknown preference")


@pytest.mark.parametrize("interests", ["shoes", ["shoes"], 5, None, True])
def test_interests_must_be_an_object(interests: Any) -> None:
    refused(prefs(shoes="more"), {"interests": interests}, "must be an object")


@pytest.mark.parametrize(
    "category", ["Shoes", "Trail Running", "Bad!", "top", "a" * 41, "", " shoes", 5, None, True]
)
def test_bad_category_is_refused(category: Any) -> None:
    refused(prefs(shoes="more"), {"interests": {category: "more"}}, "is not a category")


def test_longest_category_is_accepted() -> None:
    assert apply_patch(prefs(), {"interests": {"a" * 40: "more"}}) == {
        "interests": {"a" * 40: "more"}
    }


@pytest.mark.parametrize("choice", ["MORE", "Less", "yes", "", 1, 0, True, False, ["more"], {}])
def test_bad_choice_is_refused(choice: Any) -> None:
    refused(prefs(shoes="more"), {"interests": {"hats": choice}}, "must be 'more', 'less' or null")


def test_one_bad_entry_refuses_the_whole_patch() -> None:
    current = prefs(shoes="more")
    refused(current, {"interests": {"hats": "less", "socks": "maybe"}}, "socks")
    refused(current, {"interests": {"shoes": None, "Bad!": "less"}}, "not a category")


def test_max_preferred_at_once() -> None:
    many = {f"cat{i}": "more" for i in range(MAX_PREFERRED)}
    assert apply_patch(prefs(), {"interests": many}) == {"interests": many}
    too_many = {f"cat{i}": "more" for i in range(MAX_PREFERRED + 1)}
    refused(prefs(), {"interests": too_many}, f"at most {MAX_PREFERRED}")


def test_too_many_counting_earlier_preferences_is_refused() -> None:
    # Fails because of the bug above: earlier preferences are not counted (nor kept).
    current = {"interests": {f"cat{i}": "less" for i in range(MAX_PREFERRED)}}
    refused(current, {"interests": {"one-more": "more"}}, f"at most {MAX_PREFERRED}")


def test_forgetting_makes_room() -> None:
    # Fails because of the bug above: the 29 other earlier preferences are dropped.
    current = {"interests": {f"cat{i}": "less" for i in range(MAX_PREFERRED)}}
    result = apply_patch(current, {"interests": {"cat0": None, "one-more": "more"}})
    assert len(result["interests"]) == MAX_PREFERRED
    assert "cat0" not in result["interests"]
    assert result["interests"]["one-more"] == "more"


def test_error_message_is_short_for_long_keys() -> None:
    with pytest.raises(PreferenceError) as info:
        apply_patch(prefs(), {"x" * 10_000: 1})
    assert len(str(info.value)) < 200


def test_preference_error_is_a_value_error() -> None:
    assert issubclass(PreferenceError, ValueError)


# --- stored_prefs ----------------------------------------------------------------------------


def test_stored_prefs_keeps_well_formed_entries() -> None:
    record = {"prefs": {"interests": {"shoes": "more", "hats": "less"}}}
    assert stored_prefs(record) == prefs(shoes="more", hats="less")


def test_stored_prefs_drops_malformed_entries() -> None:
    record = {
        "prefs": {
            "interests": {
                "shoes": "more",
                "hats": "maybe",
                "socks": None,
                "coats": 1,
                "Bad!": "more",
                "Shoes": "less",
                "top": "less",
                "a" * 41: "more",
                5: "more",
                "bags": ["more"],
            },
            "colour": "red",
        }
    }
    assert stored_prefs(record) == prefs(shoes="more")


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"prefs": None},
        {"prefs": "more"},
        {"prefs": 5},
        {"prefs": ["interests"]},
        {"prefs": {}},
        {"prefs": {"interests": "shoes"}},
        {"prefs": {"interests": ["shoes", "more"]}},
        {"prefs": {"interests": None}},
    ],
)
def test_stored_prefs_of_malformed_records_are_empty(record: dict[str, Any]) -> None:
    assert stored_prefs(record) == prefs()


def test_stored_prefs_is_a_copy() -> None:
    record = {"prefs": {"interests": {"shoes": "more"}}}
    result = stored_prefs(record)
    result["interests"]["hats"] = "less"
    assert record == {"prefs": {"interests": {"shoes": "more"}}}


# --- favourites, ratings, the site's fields, channels -----------------------------------------

SIZE = PreferenceField("size", "Size", "choice", ("41", "42", "43"), column="sizes")
BUDGET = PreferenceField("budget", "Budget", "number", minimum=0, maximum=500)
FIELDS = {"size": SIZE, "budget": BUDGET}


def test_the_sites_fields_are_set_changed_and_forgotten() -> None:
    out = apply_patch(prefs(), {"size": "42", "budget": 120.5}, FIELDS)
    assert out == {"interests": {}, "size": "42", "budget": 120.5}
    assert apply_patch(out, {"size": 43, "budget": "99"}, FIELDS) == {
        "interests": {},
        "size": "43",
        "budget": 99,
    }
    assert apply_patch(out, {"size": None}, FIELDS) == {"interests": {}, "budget": 120.5}


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"colour": "red"}, r"unknown preference 'colour'; known: interests, .*size, budget"),
        ({"size": "47"}, r"prefs\.size must be one of 41, 42, 43"),
        ({"size": ["42"]}, r"prefs\.size must be one of"),
        ({"budget": 501}, r"prefs\.budget must be a number from 0 to 500"),
        ({"budget": "lots"}, r"prefs\.budget must be a number"),
        ({"budget": True}, r"prefs\.budget must be a number"),
        ({"budget": float("nan")}, r"prefs\.budget must be a number"),
        ({"favourites": {"shoe": True}}, r"prefs\.favourites\.shoe: only null"),
        ({"ratings": {"shoe": 4}}, r"prefs\.ratings\.shoe: only null"),
        ({"channels": {"fax": {"personalized": False}}}, r"prefs\.channels\.fax: unknown channel"),
        ({"channels": {"email": {"quiet_from": 25, "quiet_until": 2}}}, r"quiet_from must be"),
        ({"channels": {"email": {"quiet_from": 21}}}, "need both quiet_from and quiet_until"),
        ({"channels": {"email": {"per_week": 0}}}, r"per_week must be a whole number from 1"),
        ({"channels": {"email": {"personalized": "no"}}}, "personalized must be true or false"),
        ({"channels": {"email": {"often": 1}}}, "unknown choice 'often'"),
        ({"time_zone": "Mars/Olympus"}, r"prefs\.time_zone must be a time zone name"),
    ],
)
def test_a_bad_patch_names_the_field(patch: dict[str, Any], match: str) -> None:
    current = {"interests": {"shoes": "more"}, "size": "42", "favourites": ["shoe"]}
    before = copy.deepcopy(current)
    with pytest.raises(PreferenceError, match=match):
        apply_patch(current, {"interests": {"hats": "less"}, **patch}, FIELDS)
    assert current == before


def test_favourites_and_ratings_are_removed_one_by_one() -> None:
    current = {"interests": {}, "favourites": ["a", "b"], "ratings": {"a": 5, "c": 2}}
    out = apply_patch(current, {"favourites": {"a": None, "z": None}, "ratings": {"c": None}})
    assert out == {"interests": {}, "favourites": ["b"], "ratings": {"a": 5}}
    assert apply_patch(out, {"favourites": {"b": None}, "ratings": {"a": None}}) == prefs()


def test_channels_and_time_zone_are_kept_and_reset() -> None:
    out = apply_patch(
        prefs(),
        {
            "channels": {"email": {"personalized": False, "quiet_from": 21, "quiet_until": 8}},
            "time_zone": "Europe/Amsterdam",
        },
    )
    assert out == {
        "interests": {},
        "channels": {
            "email": {"personalized": False, "per_week": None, "quiet_from": 21, "quiet_until": 8}
        },
        "time_zone": "Europe/Amsterdam",
    }
    out = apply_patch(out, {"channels": {"email": {"personalized": True}, "app": {"per_week": 2}}})
    assert out["channels"] == {
        "email": {"personalized": True, "per_week": None, "quiet_from": 21, "quiet_until": 8},
        "app": {"personalized": True, "per_week": 2, "quiet_from": None, "quiet_until": None},
    }
    # Back to the defaults is as if never chosen.
    out = apply_patch(
        out, {"channels": {"email": None, "app": {"per_week": None}}, "time_zone": None}
    )
    assert out == prefs()


def test_stored_fields_are_read_only_as_the_campaign_file_still_allows() -> None:
    record = {"prefs": {"interests": {}, "size": "44", "budget": 100, "colour": "red"}}
    assert stored_prefs(record, FIELDS) == {"interests": {}, "budget": 100}
    assert stored_prefs(record) == prefs()


def test_stored_channels_keep_only_what_is_well_formed() -> None:
    record = {
        "prefs": {
            "channels": {
                "email": {"personalized": False, "per_week": 99, "quiet_from": 3},
                "app": {"personalized": True},
                "fax": {"personalized": False},
                "web": "no",
            },
            "time_zone": "Nowhere/Land",
        }
    }
    assert stored_prefs(record) == {
        "interests": {},
        "channels": {
            "email": {
                "personalized": False,
                "per_week": None,
                "quiet_from": None,
                "quiet_until": None,
            }
        },
    }
