"""geo.nearest: the nearest store or service point to a visitor's position."""

from __future__ import annotations

import math
from typing import Any

import pytest

from opmaat.campaigns.model import Location
from opmaat.context.nearby import Nearby, distance_km

AMSTERDAM = (52.3676, 4.9041)
BERLIN = (52.5200, 13.4050)
PARIS = (48.8566, 2.3522)

STORES = (
    Location("Amsterdam", *AMSTERDAM, "/stores/amsterdam"),
    Location("Berlin", *BERLIN, "https://shop.example/stores/berlin"),
    Location("Paris", *PARIS),
)


def test_haversine_gives_known_distances() -> None:
    assert distance_km(*AMSTERDAM, *BERLIN) == pytest.approx(577, abs=2)
    assert distance_km(*AMSTERDAM, *PARIS) == pytest.approx(430, abs=2)
    # Symmetric, zero for one point, and a quarter of the equator for 90 degrees of longitude.
    assert distance_km(*BERLIN, *AMSTERDAM) == pytest.approx(distance_km(*AMSTERDAM, *BERLIN))
    assert distance_km(*PARIS, *PARIS) == 0.0
    assert distance_km(0.0, 0.0, 0.0, 90.0) == pytest.approx(math.pi * 6371.0088 / 2)


def test_antipodes_and_the_date_line() -> None:
    half = math.pi * 6371.0088
    assert distance_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(half)
    assert distance_km(90.0, 0.0, -90.0, 0.0) == pytest.approx(half)
    # Across the date line is the short way round: 2 degrees, not 358.
    assert distance_km(0.0, 179.0, 0.0, -179.0) == pytest.approx(2 * half / 180)


def test_nearest_picks_the_closest_place_with_its_distance_and_url() -> None:
    nearby = Nearby(STORES)
    utrecht = {"lat": 52.0907, "lon": 5.1214}
    assert nearby.attributes(utrecht) == {
        "name": "Amsterdam",
        "distance_km": pytest.approx(34.4, abs=0.5),
        "url": "/stores/amsterdam",
    }
    potsdam = {"lat": 52.3906, "lon": 13.0645}
    found = nearby.attributes(potsdam)
    assert found is not None
    assert (found["name"], found["url"]) == ("Berlin", "https://shop.example/stores/berlin")
    brussels = {"lat": 50.8503, "lon": 4.3517}
    found = nearby.attributes(brussels)
    assert found is not None
    assert (found["name"], found["url"]) == ("Amsterdam", "/stores/amsterdam")
    lille = {"lat": 50.6292, "lon": 3.0573}
    found = nearby.attributes(lille)
    assert found is not None
    assert (found["name"], found["url"]) == ("Paris", None)


def test_the_distance_is_rounded_to_100_metres() -> None:
    nearby = Nearby(STORES)
    found = nearby.attributes({"lat": AMSTERDAM[0], "lon": AMSTERDAM[1]})
    assert found == {"name": "Amsterdam", "distance_km": 0.0, "url": "/stores/amsterdam"}
    found = nearby.attributes({"lat": 52.0, "lon": 5.0})
    assert found is not None
    exact = distance_km(52.0, 5.0, *AMSTERDAM)
    assert found["distance_km"] == round(exact, 1)
    assert found["distance_km"] != exact


def test_the_first_listed_place_wins_a_tie() -> None:
    west = Location("West", 0.0, -1.0)
    east = Location("East", 0.0, 1.0)
    origin = {"lat": 0.0, "lon": 0.0}
    assert (Nearby([west, east]).attributes(origin) or {})["name"] == "West"
    assert (Nearby([east, west]).attributes(origin) or {})["name"] == "East"


def test_answers_are_cached_per_rounded_position() -> None:
    nearby = Nearby(STORES, cache_size=2)
    nearby.attributes({"lat": 52.09071, "lon": 5.12141})
    nearby.attributes({"lat": 52.09069, "lon": 5.12139})  # the same to 3 decimals
    info = nearby.nearest.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 1, 2)
    nearby.attributes({"lat": 48.0, "lon": 2.0})
    nearby.attributes({"lat": 47.0, "lon": 2.0})
    info = nearby.nearest.cache_info()
    assert (info.misses, info.currsize) == (3, 2)  # bounded


def test_a_caller_changing_an_answer_does_not_change_the_cache() -> None:
    nearby = Nearby(STORES)
    position = {"lat": 52.0907, "lon": 5.1214}
    first = nearby.attributes(position)
    assert first is not None
    first["name"] = "changed"
    first["extra"] = 1
    again = nearby.attributes(position)
    assert again is not None
    assert again["name"] == "Amsterdam"
    assert "extra" not in again
    assert nearby.nearest.cache_info().hits == 1


def test_two_lists_of_places_do_not_share_a_cache() -> None:
    near = Nearby([Location("Near", 52.0, 5.0)])
    far = Nearby([Location("Far", -33.9, 18.4)])
    position = {"lat": 52.0, "lon": 5.0}
    assert (near.attributes(position) or {})["name"] == "Near"
    assert (far.attributes(position) or {})["name"] == "Far"


@pytest.mark.parametrize(
    "geo",
    [
        {},
        {"country": "NL"},
        {"lat": 52.1},
        {"lon": 5.1},
        {"lat": None, "lon": None},
        {"lat": "52.1", "lon": "5.1"},
        {"lat": True, "lon": 5.1},
        {"lat": 90.5, "lon": 5.1},
        {"lat": -90.5, "lon": 5.1},
        {"lat": 52.1, "lon": 180.5},
        {"lat": 52.1, "lon": -181.0},
        {"lat": math.nan, "lon": 5.1},
        {"lat": 52.1, "lon": math.nan},
        {"lat": math.inf, "lon": 5.1},
        {"lat": 52.1, "lon": -math.inf},
    ],
)
def test_no_usable_position_gives_none(geo: dict[str, Any]) -> None:
    nearby = Nearby(STORES)
    assert nearby.attributes(geo) is None
    assert nearby.nearest.cache_info().currsize == 0  # nothing odd reached the cache


@pytest.mark.parametrize(("lat", "lon"), [(90.0, 180.0), (-90.0, -180.0)])
def test_positions_on_the_bounds_are_used(lat: float, lon: float) -> None:
    assert Nearby(STORES).attributes({"lat": lat, "lon": lon}) is not None


def test_no_places_gives_none() -> None:
    nearby = Nearby([])
    assert nearby.attributes({"lat": 52.0, "lon": 5.0}) is None
    assert nearby.nearest(52.0, 5.0) is None
