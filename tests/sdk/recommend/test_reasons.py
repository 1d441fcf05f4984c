"""Reasons in plain words, naming the product, place, group or category from the feed."""

from __future__ import annotations

import pytest

from opmaat.recommend import reason
from opmaat.recommend.reasons import SOURCES


@pytest.mark.parametrize(
    ("source", "subject", "said"),
    [
        ("viewed-together", "Trail Runner 3", "people who viewed Trail Runner 3 also viewed this"),
        ("viewed-together", None, "people who viewed what you viewed also viewed this"),
        ("bought-together", "Rain jacket", "people who bought Rain jacket also bought this"),
        ("viewed-then-bought", "Road Racer", "people who viewed Road Racer bought this"),
        ("popular", "Utrecht", "popular in Utrecht"),
        ("popular", "", "popular right now"),
        ("popular-with", "vip", "popular with vip visitors"),
        ("trending", "Utrecht", "trending in Utrecht this week"),
        ("trending", None, "trending this week"),
        ("recently-viewed", None, "you viewed this recently"),
        ("interest", "trail-running", "because you like trail running"),
        ("favourite", "City helmet", "because you like City helmet"),
        ("viewed", "Yoga mat", "because you viewed Yoga mat"),
        ("different", None, "something different"),
    ],
)
def test_each_source_has_its_words(source: str, subject: str | None, said: str) -> None:
    assert reason(source, subject) == said


def test_every_source_reads_without_a_subject() -> None:
    for source in SOURCES:
        assert "{}" not in reason(source)
