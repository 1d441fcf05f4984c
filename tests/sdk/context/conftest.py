from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

WriteDb = Callable[..., Path]


def city(country: str, city_name: str, tz: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "continent": {"code": "EU"},
        "country": {"iso_code": country},
        "subdivisions": [{"names": {"en": f"{city_name} Region"}}],
        "city": {"names": {"en": city_name}},
        "location": {"latitude": lat, "longitude": lon, "time_zone": tz},
    }


AMSTERDAM = city("NL", "Amsterdam", "Europe/Amsterdam", 52.37, 4.89)
PARIS = city("FR", "Paris", "Europe/Paris", 48.86, 2.35)


def write_db(
    path: Path,
    networks: Mapping[str, Mapping[str, Any]],
    *,
    ip_version: int = 6,
    database_type: str = "GeoIP2-City",
) -> Path:
    writer = MMDBWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type=database_type,
        languages=["en"],
        description="opmaat test database",
    )
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), dict(record))
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def make_db(tmp_path: Path) -> WriteDb:
    """Write a MaxMind DB into tmp_path: make_db("name.mmdb", {"203.0.113.0/24": record})."""

    def make(name: str, networks: Mapping[str, Mapping[str, Any]], **options: Any) -> Path:
        return write_db(tmp_path / name, networks, **options)

    return make
