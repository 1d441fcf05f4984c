from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opmaat.context import local_time

WINTER = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)  # a Monday
SUMMER = datetime(2026, 7, 6, 12, 0, tzinfo=UTC)  # a Monday


def test_amsterdam_in_winter_crosses_midnight() -> None:
    assert local_time(WINTER, "Europe/Amsterdam") == {
        "hour": 0,
        "weekday": "tuesday",
        "local": "2026-01-06T00:30:00+01:00",
    }


def test_amsterdam_in_summer_time() -> None:
    assert local_time(SUMMER, "Europe/Amsterdam") == {
        "hour": 14,
        "weekday": "monday",
        "local": "2026-07-06T14:00:00+02:00",
    }


def test_new_york_is_behind() -> None:
    assert local_time(WINTER, "America/New_York") == {
        "hour": 18,
        "weekday": "monday",
        "local": "2026-01-05T18:30:00-05:00",
    }


UTC_ANSWER = {"hour": 23, "weekday": "monday", "local": "2026-01-05T23:30:00+00:00"}


@pytest.mark.parametrize(
    "tz",
    [
        None,
        "",
        "Mars/Olympus_Mons",
        "europe/amsterdam",
        "Europe/Amsterdam\n",
        "../../../etc/passwd",
        "/etc/localtime",
        "Europe",
        "Europe/",
        "a\x00b",
        "\udcff",
        "😀",
        "x" * 8192,
    ],
)
def test_unknown_time_zone_is_utc(tz: str | None) -> None:
    assert local_time(WINTER, tz) == UTC_ANSWER


def test_naive_now_is_taken_as_utc() -> None:
    assert local_time(WINTER.replace(tzinfo=None), None) == UTC_ANSWER
    assert local_time(WINTER.replace(tzinfo=None), "Europe/Amsterdam")["hour"] == 0
