from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from opmaat.context import GeoReader, geo_from_headers

from .conftest import AMSTERDAM, PARIS, WriteDb

DEMO_DB = Path(__file__).resolve().parents[3] / "edge" / "opmaat_edge" / "demo" / "geo-demo.mmdb"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def demo() -> GeoReader:
    return GeoReader(DEMO_DB)


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        (
            "203.0.113.17",
            {
                "country": "NL",
                "region": "Noord-Holland",
                "city": "Amsterdam",
                "lat": 52.37,
                "lon": 4.89,
                "timezone": "Europe/Amsterdam",
                "continent": "EU",
            },
        ),
        (
            "198.51.100.200",
            {
                "country": "US",
                "region": "New York",
                "city": "New York",
                "lat": 40.71,
                "lon": -74.01,
                "timezone": "America/New_York",
                "continent": "NA",
            },
        ),
        (
            "192.0.2.1",
            {
                "country": "DE",
                "region": "Berlin",
                "city": "Berlin",
                "lat": 52.52,
                "lon": 13.40,
                "timezone": "Europe/Berlin",
                "continent": "EU",
            },
        ),
        (
            "2001:db8:1234::5",
            {
                "country": "BE",
                "region": "Brussels Capital",
                "city": "Brussels",
                "lat": 50.85,
                "lon": 4.35,
                "timezone": "Europe/Brussels",
                "continent": "EU",
            },
        ),
    ],
)
def test_demo_database_answers_the_documented_networks(
    demo: GeoReader, ip: str, expected: dict[str, object]
) -> None:
    assert demo.lookup(ip) == expected


def test_demo_database_is_city_shaped(demo: GeoReader) -> None:
    assert demo.database_type == "GeoIP2-City"


def test_ipv4_mapped_address_finds_the_ipv4_network(demo: GeoReader) -> None:
    assert demo.lookup("::ffff:203.0.113.17")["city"] == "Amsterdam"


@pytest.mark.parametrize(
    "ip",
    [
        None,
        "",
        "8.8.8.8",
        "10.0.0.1",
        "::1",
        "testclient",
        "203.0.113",
        "203.0.113.17\x00",
        "ünïcödé",
        "2001:db8::zz",
        "203.0.113.17" * 700,
        "9" * 8192,
    ],
)
def test_unknown_or_bad_address_gives_nothing(demo: GeoReader, ip: str | None) -> None:
    assert demo.lookup(ip) == {}


def test_answer_is_a_copy(demo: GeoReader) -> None:
    demo.lookup("192.0.2.1")["city"] = "Hacked"
    assert demo.lookup("192.0.2.1")["city"] == "Berlin"


def test_maybe_open_without_a_path() -> None:
    assert GeoReader.maybe_open(None) is None
    assert GeoReader.maybe_open("") is None
    assert GeoReader.maybe_open(DEMO_DB) is not None


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"nope\.mmdb"):
        GeoReader(tmp_path / "nope.mmdb")


def test_file_that_is_not_a_database_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a maxmind database" * 10)
    with pytest.raises(ValueError, match=r"bad\.mmdb"):
        GeoReader(bad)


def test_country_database_gives_only_what_it_knows(make_db: WriteDb) -> None:
    path = make_db(
        "country.mmdb",
        {
            "203.0.113.0/24": {"continent": {"code": "EU"}, "country": {"iso_code": "NL"}},
            "198.51.100.0/24": {"registered_country": {"iso_code": "US"}},
            "192.0.2.0/24": {"country": "not a mapping", "location": {"latitude": "north"}},
        },
        database_type="GeoLite2-Country",
    )
    reader = GeoReader(path)
    assert reader.lookup("203.0.113.1") == {"country": "NL", "continent": "EU"}
    assert reader.lookup("198.51.100.1") == {"country": "US"}
    assert reader.lookup("192.0.2.1") == {}


def test_ipv6_address_in_an_ipv4_only_database(make_db: WriteDb) -> None:
    reader = GeoReader(make_db("v4.mmdb", {"203.0.113.0/24": AMSTERDAM}, ip_version=4))
    assert reader.lookup("203.0.113.1")["country"] == "NL"
    assert reader.lookup("2001:db8::1") == {}


def replace(path: Path, new: Path) -> None:
    os.replace(new, path)
    # Some file systems keep whole-second times; make the change visible regardless.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_reloads_a_replaced_file_after_the_recheck_interval(make_db: WriteDb) -> None:
    path = make_db("geo.mmdb", {"203.0.113.0/24": AMSTERDAM})
    clock = FakeClock()
    reader = GeoReader(path, recheck_seconds=5.0, clock=clock)
    assert reader.lookup("203.0.113.9")["city"] == "Amsterdam"

    replace(path, make_db("next.mmdb", {"203.0.113.0/24": PARIS}))
    clock.now += 4.9
    assert reader.lookup("203.0.113.9")["city"] == "Amsterdam"
    clock.now += 0.2
    assert reader.lookup("203.0.113.9")["city"] == "Paris"


def test_stats_the_file_at_most_once_per_interval(
    make_db: WriteDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader_clock = FakeClock()
    reader = GeoReader(make_db("geo.mmdb", {"203.0.113.0/24": AMSTERDAM}), clock=reader_clock)
    stats: list[Path] = []
    real_stat = Path.stat

    def counting(path: Path, **options: Any) -> os.stat_result:
        stats.append(path)
        return real_stat(path, **options)

    # Path.stat, not the module's own function: a compiled geo.py calls that directly.
    monkeypatch.setattr(Path, "stat", counting)
    for i in range(1200):  # 12 seconds of lookups, 100 a second
        reader_clock.now = 1000.0 + i / 100
        reader.lookup(f"203.0.113.{i % 256}")
    assert len(stats) == 2  # at 5 s and 10 s


def test_corrupt_replacement_keeps_the_running_database(
    make_db: WriteDb, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = make_db("geo.mmdb", {"203.0.113.0/24": AMSTERDAM})
    clock = FakeClock()
    reader = GeoReader(path, clock=clock)
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(path.read_bytes()[:40])
    replace(path, broken)
    clock.now += 6
    with caplog.at_level(logging.WARNING, logger="opmaat.context"):
        assert reader.lookup("203.0.113.9")["city"] == "Amsterdam"
        clock.now += 6
        assert reader.lookup("203.0.113.9")["city"] == "Amsterdam"
    # Said once, not every five seconds for as long as the bad file stays.
    warnings = [r.getMessage() for r in caplog.records if r.name == "opmaat.context"]
    assert len(warnings) == 1
    assert "keeping the running one" in warnings[0]

    # A good file after the bad one is picked up.
    replace(path, make_db("next.mmdb", {"203.0.113.0/24": PARIS}))
    clock.now += 6
    assert reader.lookup("203.0.113.9")["city"] == "Paris"


def test_deleted_file_keeps_the_running_database(make_db: WriteDb) -> None:
    path = make_db("geo.mmdb", {"203.0.113.0/24": AMSTERDAM})
    clock = FakeClock()
    reader = GeoReader(path, clock=clock)
    path.unlink()
    clock.now += 6
    assert reader.lookup("203.0.113.9")["city"] == "Amsterdam"
    assert reader.reload_if_changed() is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("NL", {"country": "NL"}),
        ("nl", {"country": "NL"}),
        (" be ", {"country": "BE"}),
        ("XX", {}),
        ("T1", {}),
        ("A1", {}),
        ("", {}),
        ("NLD", {}),
        ("ÑL", {}),
        ("N\x00", {}),
        ("N" * 8192, {}),
    ],
)
def test_country_from_cdn_header(value: str, expected: dict[str, str]) -> None:
    assert geo_from_headers({"cf-ipcountry": value}, "CF-IPCountry") == expected


def test_missing_cdn_header() -> None:
    assert geo_from_headers({"user-agent": "x"}, "cf-ipcountry") == {}
