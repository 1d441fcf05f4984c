"""The learned state stays bounded and fades; readers get what changed since they last read."""

from __future__ import annotations

import asyncio

import pytest

from opmaat.recommend import ModelSettings, Recommender, Visitor
from opmaat.recommend.model import Update
from opmaat.recommend.store import MemoryModelStore
from tests.sdk.recommend.shop import DAY, FEED, NOW, ids, learn, view


def add(store: MemoryModelStore, at: float, *updates: Update) -> None:
    asyncio.run(store.add(updates, at))


def counts(store: MemoryModelStore, now: float = NOW) -> dict[tuple[str, str], dict[str, float]]:
    return {key: dict(ranked) for key, ranked in asyncio.run(store.read(None, now)).lists.items()}


def test_a_list_is_cut_back_to_its_best_when_it_outgrows_its_bound() -> None:
    settings = ModelSettings(keep=4, show=4)
    store = MemoryModelStore(settings)
    assert settings.cut_at("viewed", "x") == 6
    for i in range(6):
        add(store, NOW, Update("viewed", "x", f"m{i}", float(i + 1)))
    assert len(counts(store)[("viewed", "x")]) == 4  # read: the best `show`
    assert len(store._lists[("viewed", "x")].scores) == 6
    add(store, NOW, Update("viewed", "x", "m6", 0.5))
    assert sorted(store._lists[("viewed", "x")].scores) == ["m2", "m3", "m4", "m5"]


def test_popular_lists_have_bounds_of_their_own() -> None:
    settings = ModelSettings(keep=4, show=2, keep_popular=10, max_items=20)
    assert settings.cap("popular", "all") == 20
    assert settings.cap("popular", "city:utrecht") == 10
    assert settings.cap("trending", "all") == 10
    assert settings.cap("bought", "x") == 4
    store = MemoryModelStore(settings)
    add(store, NOW, *(Update("popular", "all", f"p{i}", i) for i in range(40)))
    assert len(counts(store)[("popular", "all")]) == 20  # popular:all is read whole


def test_the_least_recently_changed_list_goes_first() -> None:
    store = MemoryModelStore(ModelSettings(max_keys=2))
    for key in ("a", "b", "a", "c"):
        add(store, NOW, Update("viewed", key, "m", 1.0))
    assert set(counts(store)) == {("viewed", "a"), ("viewed", "c")}


def test_counts_halve_every_half_life_and_old_weight_ranks_below_new() -> None:
    store = MemoryModelStore(ModelSettings(relation_half_life_days=10))
    add(store, NOW, Update("viewed", "x", "old", 4.0))
    assert counts(store, NOW + 10 * DAY)[("viewed", "x")]["old"] == pytest.approx(2.0)
    add(store, NOW + 20 * DAY, Update("viewed", "x", "new", 1.5))  # rescales the list
    later = counts(store, NOW + 20 * DAY)[("viewed", "x")]
    assert later == pytest.approx({"old": 1.0, "new": 1.5})
    assert store._lists[("viewed", "x")].stamp == NOW + 20 * DAY
    add(store, NOW + 21 * DAY, Update("viewed", "x", "old", 1.0))  # within 1/8 half-life
    assert store._lists[("viewed", "x")].stamp == NOW + 20 * DAY
    assert counts(store, NOW + 21 * DAY)[("viewed", "x")] == pytest.approx(
        {"old": 1.0 * 0.5**0.1 + 1.0, "new": 1.5 * 0.5**0.1}
    )


def test_a_reader_gets_only_the_lists_changed_since_its_cursor() -> None:
    store = MemoryModelStore()
    add(store, NOW, Update("viewed", "a", "m", 1.0), Update("viewed", "b", "m", 1.0))
    first = asyncio.run(store.read(None, NOW))
    assert first.full
    assert len(first.lists) == 2
    add(store, NOW, Update("viewed", "b", "n", 1.0))
    second = asyncio.run(store.read(first.cursor, NOW))
    assert not second.full
    assert list(second.lists) == [("viewed", "b")]
    assert asyncio.run(store.read(second.cursor, NOW)).lists == {}


def test_the_snapshot_follows_the_store_and_drops_what_it_forgot() -> None:
    now = [NOW]
    store = MemoryModelStore(ModelSettings(max_keys=4))
    rec = Recommender(FEED, store, clock=lambda: now[0])
    learn(rec, view("road", "trail"))
    visitor = Visitor(viewed=("trail",))
    assert ids(rec.recommend("viewed-together", visitor, 1)) == ["road"]
    learn(rec, view("helmet", "light"))  # evicts the lists of road and trail
    assert ("viewed", "trail") not in store._lists
    assert ids(rec.recommend("viewed-together", visitor, 1)) == ["road"]  # until a full read
    now[0] += 600
    learn(rec)
    assert rec.recommend("viewed-together", visitor, 1)[0].reason == "popular right now"
