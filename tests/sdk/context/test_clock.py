from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from opmaat.context import local_time
from opmaat.context.clock import WEEKDAYS

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


def test_the_kept_answer_is_the_datetime_arithmetic_to_the_second() -> None:
    # Keyed by the whole second since the epoch: the same hour, weekday and local time as
    # the datetime itself gives, around transitions, before 1970 and at a second's last µs.
    rnd = random.Random(21)
    zones = ["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", None]
    moments = [
        datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),  # Amsterdam springs forward
        datetime(2026, 10, 25, 0, 59, 59, 999_999, tzinfo=UTC),  # and falls back
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(1901, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        *(
            datetime.fromtimestamp(rnd.uniform(-2e9, 4e9), UTC).replace(
                microsecond=rnd.choice([0, 1, 500_000, 999_999])
            )
            for _ in range(300)
        ),
    ]
    for now in moments:
        for name in zones:
            local = now.replace(microsecond=0).astimezone(ZoneInfo(name) if name else UTC)
            assert local_time(now, name) == {
                "hour": local.hour,
                "weekday": WEEKDAYS[local.weekday()],
                "local": local.isoformat(timespec="seconds"),
            }, (now, name)
