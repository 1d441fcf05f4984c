"""Favourites and ratings: the events that make them, their checks, bounds and cleaning, and
how a Visit takes them (consent, full lists, the site's catalogue)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from opmaat.cart import ProductError
from opmaat.consent import Consent
from opmaat.explicit import (
    MAX_FAVOURITES,
    MAX_RATINGS,
    Catalogue,
    apply_explicit,
    explicit_product,
    favourites,
    ratings,
    removals,
    room_error,
)
from opmaat.personalizer import Personalizer, Visit
from opmaat.preferences import stored_prefs
from opmaat.tracking import EventError, check_event, known_events

KNOWN = known_events((), ())
CONFIG = """\
preferences:
  offers: offers.csv
slots: {hero: {default: x}}
campaigns:
  - id: saved
    slot: hero
    goal: favourite
    variants: [{key: a, html: "<p>saved</p>"}]
"""
OFFERS = "id,name,url\nshoe,Shoe,/p/shoe\ntent,Tent,/p/tent\n"


@pytest.mark.parametrize(
    ("name", "props", "match"),
    [
        ("favourite", None, "needs props with the product's id"),
        ("favourite", "shoe", "props"),
        ("favourite", {}, "product.id must be"),
        ("favourite", {"id": "x\ny"}, "product.id must be"),
        ("rate", {"id": "shoe"}, "rating must be a whole number from 1 to 5"),
        ("rate", {"id": "shoe", "rating": 0}, "from 1 to 5"),
        ("rate", {"id": "shoe", "rating": 6}, "from 1 to 5"),
        ("rate", {"id": "shoe", "rating": 4.5}, "from 1 to 5"),
        ("rate", {"id": "shoe", "rating": "5"}, "from 1 to 5"),
        ("rate", {"id": "shoe", "rating": True}, "from 1 to 5"),
    ],
)
def test_bad_favourites_and_ratings_are_refused(name: str, props: Any, match: str) -> None:
    with pytest.raises(ProductError, match=match):
        explicit_product(name, props, None)
    with pytest.raises(EventError, match=match):
        check_event(name, props, KNOWN)


def test_a_catalogue_refuses_products_it_does_not_know_but_not_their_removal() -> None:
    catalogue = Catalogue(frozenset({"shoe"}), frozenset({"tent"}))
    assert explicit_product("favourite", {"id": "tent"}, catalogue) == {"id": "tent", "quantity": 1}
    assert explicit_product("rate", {"id": "shoe", "rating": 5}, catalogue)["rating"] == 5
    for name, props in (("favourite", {"id": "hat"}), ("rate", {"id": "hat", "rating": 3})):
        with pytest.raises(ProductError, match="'hat' is not a product of this site"):
            explicit_product(name, props, catalogue)
    # One that left the catalogue can still be taken off the list.
    assert explicit_product("unfavourite", {"id": "hat"}, catalogue)["id"] == "hat"


def test_a_site_without_a_catalogue_takes_any_well_formed_product() -> None:
    assert Catalogue.of(None, ()) is None
    assert Catalogue.of(frozenset(), ()) is None
    assert explicit_product("favourite", {"id": 42}, None)["id"] == "42"


def test_favourites_are_newest_first_once_each_and_unfavourite_removes() -> None:
    record: dict[str, Any] = {}
    for product in ("a", "b", "a"):
        apply_explicit(record, "favourite", {"id": product})
    assert record["prefs"]["favourites"] == ["a", "b"]
    apply_explicit(record, "unfavourite", {"id": "a"})
    assert record["prefs"]["favourites"] == ["b"]
    apply_explicit(record, "unfavourite", {"id": "never"})
    assert record["prefs"]["favourites"] == ["b"]


def test_a_new_rating_replaces_the_old_one() -> None:
    record: dict[str, Any] = {"prefs": {"interests": {"running": "more"}}}
    apply_explicit(record, "rate", {"id": "a", "rating": 2})
    apply_explicit(record, "rate", {"id": "b", "rating": 5})
    apply_explicit(record, "rate", {"id": "a", "rating": 4})
    assert record["prefs"] == {"interests": {"running": "more"}, "ratings": {"b": 5, "a": 4}}


def test_full_lists_take_no_more() -> None:
    full = {
        "prefs": {
            "favourites": [f"p{i}" for i in range(MAX_FAVOURITES)],
            "ratings": {f"p{i}": 3 for i in range(MAX_RATINGS)},
        }
    }
    assert room_error(full, "favourite", {"id": "new"}) == (
        f"at most {MAX_FAVOURITES} favourites: remove one first"
    )
    assert room_error(full, "rate", {"id": "new", "rating": 1}) == (
        f"at most {MAX_RATINGS} ratings: remove one first"
    )
    # What is there already can be changed, and removing always works.
    assert room_error(full, "favourite", {"id": "p3"}) is None
    assert room_error(full, "rate", {"id": "p3", "rating": 5}) is None
    assert room_error(full, "unfavourite", {"id": "p3"}) is None
    # A list that filled up in a concurrent request does not take one more either.
    apply_explicit(full, "favourite", {"id": "new"})
    apply_explicit(full, "rate", {"id": "new", "rating": 1})
    assert "new" not in full["prefs"]["favourites"]
    assert "new" not in full["prefs"]["ratings"]


def test_long_ids_fill_the_lists_sooner() -> None:
    record = {"prefs": {"favourites": [f"{i:02d}" + "x" * 98 for i in range(30)]}}
    assert room_error(record, "favourite", {"id": "y" * 100}) is None
    record["prefs"]["ratings"] = {f"{i:02d}" + "r" * 98: 3 for i in range(10)}
    full = "your favourites and ratings are full: remove some first"
    assert room_error(record, "favourite", {"id": "y" * 100}) == full
    assert room_error(record, "rate", {"id": "y" * 100, "rating": 3}) == full
    assert room_error(record, "rate", {"id": "00" + "r" * 98, "rating": 5}) is None


@pytest.mark.parametrize(
    "stored",
    [
        {"favourites": "shoe", "ratings": ["shoe", 5]},
        {"favourites": [1, None, "", "x" * 101, "a\x00"], "ratings": {"a": 0, "b": 6, "c": "5"}},
        {"favourites": [{"id": "shoe"}], "ratings": {"d": True, "e": 2.5, "": 3}},
    ],
)
def test_malformed_stored_lists_are_read_as_empty(stored: dict[str, Any]) -> None:
    assert favourites(stored) == []
    assert ratings(stored) == {}
    assert stored_prefs({"prefs": stored}) == {"interests": {}}


def test_stored_lists_keep_what_is_well_formed() -> None:
    stored = {"favourites": ["shoe", "shoe", "tent", 7], "ratings": {"shoe": 5, "hat": 9}}
    assert favourites(stored) == ["shoe", "tent"]
    assert ratings(stored) == {"shoe": 5}


def test_a_patch_only_removes() -> None:
    assert removals({"shoe": None, "tent": None}, "favourites") == ["shoe", "tent"]
    with pytest.raises(ValueError, match=r"prefs\.favourites\.shoe: only null .* favourite event"):
        removals({"shoe": True}, "favourites")
    with pytest.raises(ValueError, match=r"prefs\.ratings\.shoe: only null .* rate event"):
        removals({"shoe": 5}, "ratings")
    with pytest.raises(ValueError, match="an object of product id: null"):
        removals(["shoe"], "ratings")


# --- through a Visit ------------------------------------------------------------------------


def _visit(tmp_path: Path, tier: str = "full") -> Visit:
    (tmp_path / "campaigns.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "offers.csv").write_text(OFFERS, encoding="utf-8")
    personalizer = Personalizer(tmp_path / "campaigns.yaml", secret_keys=["k" * 20])

    async def open_visit() -> Visit:
        visit = await personalizer.open(peer="192.0.2.1", headers={}, cookies={})
        visit.consent = Consent(tier)
        return visit

    return asyncio.run(open_visit())


def test_a_visit_keeps_favourites_and_ratings_and_counts_a_favourite_goal(
    tmp_path: Path,
) -> None:
    visit = _visit(tmp_path)
    visit.record = {"response": {"saved": {"variant": "a", "arm": "a"}}}
    assert visit.track("favourite", {"id": "shoe"}) == [
        ("saved", "a", "conversions"),
        ("saved", "a", "converted"),
    ]
    visit.track("rate", {"id": "tent", "rating": 4})
    assert stored_prefs(visit.record) == {
        "interests": {},
        "favourites": ["shoe"],
        "ratings": {"tent": 4},
    }
    profile = visit.profile(visit.runtime.context.build(visit.facts(None, None, None)))
    assert profile["prefs"]["favourites"] == ["shoe"]
    assert profile["events"]["favourite"]["count_1d"] == 1
    assert profile["offers"][0] == {
        "id": "shoe",
        "name": "Shoe",
        "url": "/p/shoe",
        "price": None,
        "category": None,
        "image": None,
        "reason": "because you saved it as a favourite",
    }


def test_a_visit_refuses_products_the_site_does_not_have(tmp_path: Path) -> None:
    visit = _visit(tmp_path)
    with pytest.raises(EventError, match="'hat' is not a product of this site"):
        visit.track("favourite", {"id": "hat"})
    assert visit.record == {}


def test_a_visit_refuses_a_favourite_past_the_full_list(tmp_path: Path) -> None:
    visit = _visit(tmp_path)
    visit.record = {"prefs": {"favourites": [f"p{i}" for i in range(MAX_FAVOURITES)]}}
    with pytest.raises(EventError, match="at most 50 favourites"):
        visit.track("favourite", {"id": "shoe"})
    assert visit.changes == []


def test_without_consent_to_keep_anything_a_favourite_is_only_checked(tmp_path: Path) -> None:
    visit = _visit(tmp_path, "none")
    assert visit.track("favourite", {"id": "shoe"}) == []
    assert visit.record == {}
    with pytest.raises(EventError):
        visit.track("rate", {"id": "shoe", "rating": 9})
