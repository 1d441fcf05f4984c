"""Serendipity: a share of each list from outside the visitor's interests, drawn the same way
for a whole session, and marked."""

from __future__ import annotations

import pytest

from opmaat.recommend import Recommender, Visitor
from opmaat.recommend.serendipity import draw, share_of
from tests.sdk.recommend.shop import ids, recommender, view

POPULAR = [
    view(product, visitor=f"{product}{i}")
    for product, times in (
        ("trail", 9),
        ("road", 8),
        ("socks", 7),
        ("helmet", 6),
        ("light", 5),
        ("tent", 4),
        ("jacket", 3),
        ("mat", 2),
    )
    for i in range(times)
]
RUNNER = Visitor(interests=(("running", 9.0),), session="s1")


def shop(share: float) -> Recommender:
    return recommender(*POPULAR, strategies={"personal": {"serendipity": share}})


@pytest.mark.parametrize(
    ("n", "share", "k"), [(4, 0.2, 1), (10, 0.2, 2), (1, 0.2, 0), (10, 0.5, 5)]
)
def test_the_share_of_a_list(n: int, share: float, k: int) -> None:
    assert share_of(n, share) == k


def test_the_last_places_go_to_something_different_and_say_so() -> None:
    items = shop(0.25).recommend("personal", RUNNER, 4)
    assert [item.serendipitous for item in items] == [False, False, False, True]
    assert ids(items)[:3] == ["trail", "road", "socks"]
    assert items[3].category != "running"
    assert items[3].reason == "something different"
    assert not shop(0).recommend("personal", RUNNER, 4)[3].serendipitous


def test_a_session_sees_the_same_picks_and_sessions_see_different_ones() -> None:
    rec = shop(0.5)
    picks = {
        session: ids(
            rec.recommend("personal", Visitor(interests=RUNNER.interests, session=session), 4)
        )[2:]
        for session in ("s1", "s2", "s3", "s4", "s5", "s6")
    }
    for session, picked in picks.items():
        again = Visitor(interests=RUNNER.interests, session=session)
        assert ids(rec.recommend("personal", again, 4))[2:] == picked
    assert len({tuple(p) for p in picks.values()}) > 1


def test_never_from_the_top_interests_or_what_the_visitor_wants_less_of() -> None:
    rec = shop(0.5)
    for session in range(20):
        visitor = Visitor(
            interests=(("running", 9.0), ("cycling", 4.0)),
            less=frozenset({"outdoor"}),
            bought=frozenset({"mat"}),
            session=f"s{session}",
        )
        surprises = [item for item in rec.recommend("personal", visitor, 4) if item.serendipitous]
        assert surprises == []  # outdoor is unwanted, yoga's only product is bought
    cyclist = Visitor(interests=(("running", 9.0), ("cycling", 4.0)), session="s")
    surprising = {
        item.category
        for session in range(20)
        for item in rec.recommend(
            "personal", Visitor(interests=cyclist.interests, session=f"{session}"), 4
        )
        if item.serendipitous
    }
    assert surprising <= {"outdoor", "yoga"}
    assert surprising


def test_a_list_keeps_its_own_items_when_nothing_different_can_be_drawn() -> None:
    rec = recommender(*POPULAR[:9], strategies={"personal": {"serendipity": 0.5}})
    assert ids(rec.recommend("personal", RUNNER, 4)) == ["trail"]


def test_the_draw_favours_the_first_of_the_pool_and_asks_each_product_once() -> None:
    asked: list[str] = []

    def eligible(product_id: str) -> bool:
        asked.append(product_id)
        return product_id != "b"

    picked = draw(["a", "b", "c", "d", "e", "f"], 3, "seed", eligible)
    assert len(picked) == 3
    assert len(asked) == len(set(asked))
    firsts = [draw([str(i) for i in range(30)], 1, f"s{s}", lambda _: True)[0] for s in range(300)]
    early = sum(int(first) < 5 for first in firsts)
    assert early > 200  # each product is taken with probability 1/3, the most popular first


def test_a_product_drawn_for_serendipity_is_not_listed_twice() -> None:
    rec = recommender(*POPULAR, strategies={"popular": {"serendipity": 0.5}})
    visitor = Visitor(
        interests=(("running", 9.0),),
        less=frozenset({"outdoor", "yoga"}),
        bought=frozenset({"light", "socks"}),
        session="s1",
    )
    items = rec.recommend("popular", visitor, 4)
    assert ids(items) == ["trail", "road", "helmet"]
    assert [item.serendipitous for item in items] == [False, False, True]
