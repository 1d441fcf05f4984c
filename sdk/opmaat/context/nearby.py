"""Location services: the visitor's nearest store or service point (``geo.nearest``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from opmaat.campaigns.model import Location

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the haversine formula."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class Nearby:
    """Finds the nearest of a fixed list of places; answers are cached per position (a geo
    database gives one position per city, so a few thousand cover most visitors)."""

    def __init__(self, places: Sequence[Location], cache_size: int = 4096) -> None:
        self.places = tuple(places)
        self.nearest = lru_cache(maxsize=cache_size)(self._nearest)

    def _nearest(self, lat: float, lon: float) -> dict[str, Any] | None:
        best: tuple[float, Location] | None = None
        for place in self.places:
            d = distance_km(lat, lon, place.lat, place.lon)
            if best is None or d < best[0]:
                best = (d, place)
        if best is None:
            return None
        d, place = best
        return {"name": place.name, "distance_km": round(d, 1), "url": place.url}

    def attributes(self, geo: dict[str, Any]) -> dict[str, Any] | None:
        """``geo.nearest`` for a geo dict with ``lat``/``lon``; None without a position."""
        lat, lon = geo.get("lat"), geo.get("lon")
        if not self.places or not isinstance(lat, float) or not isinstance(lon, float):
            return None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None
        found = self.nearest(round(lat, 3), round(lon, 3))
        return dict(found) if found is not None else None
