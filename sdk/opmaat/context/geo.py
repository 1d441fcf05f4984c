"""Where the visitor is: a MaxMind DB (GeoIP2/GeoLite2 City shape) or a CDN's country header."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb
from cachetools import LRUCache

from opmaat.context.network import MAX_ADDRESS_CHARS, parse_ip

log = logging.getLogger("opmaat.context")

RECHECK_SECONDS = 5.0
CACHE_SIZE = 8192
# Codes CDNs send when they do not know (XX, ZZ) or for Tor (T1, refused as not letters).
UNKNOWN_COUNTRIES = frozenset({"XX", "ZZ"})

Signature = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class _Loaded:
    reader: maxminddb.Reader
    signature: Signature | None
    cache: LRUCache[str, dict[str, Any]]


class GeoReader:
    """Looks IP addresses up in a MaxMind DB file, opened once and memory mapped.

    ``lookup`` answers a dict with the keys it knows of: ``country`` (ISO 3166 alpha-2),
    ``region`` (first subdivision, English name), ``city`` (English name), ``lat``, ``lon``,
    ``timezone`` (IANA name) and ``continent`` (two-letter code); ``{}`` for an unknown or bad
    address. Answers are cached in a bounded LRU.

    The file is reloaded when it changes: at most every ``recheck_seconds`` a lookup stats it
    (modification time, size, inode). A file that does not open as a MaxMind DB is logged and
    the running database stays. Replace the file by renaming a complete new one over it (as
    ``geoipupdate`` does): writing into a mapped file in place can crash the process.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        cache_size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Open the database; raises OSError when it cannot be read, ValueError when it is
        not a MaxMind DB."""
        self.path = Path(path)
        self._recheck_seconds = recheck_seconds
        self._cache_size = cache_size
        self._clock = clock
        self._cache_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._rejected: Signature | None = None
        signature = _signature(self.path)
        self._loaded = _Loaded(_open(self.path), signature, LRUCache(cache_size))
        self._next_check = clock() + recheck_seconds

    @classmethod
    def maybe_open(cls, path: str | os.PathLike[str] | None) -> GeoReader | None:
        """A reader for ``path``, or None when no path is configured (geo lookups are off)."""
        if path is None or not os.fspath(path):
            return None
        return cls(path)

    @property
    def database_type(self) -> str:
        """The database's own name for its kind, such as ``GeoIP2-City``."""
        return str(self._loaded.reader.metadata().database_type)

    def lookup(self, ip: str | None) -> dict[str, Any]:
        """Geo attributes of one address (IPv4, IPv6 or IPv4-mapped); ``{}`` when unknown."""
        if not ip or not isinstance(ip, str) or len(ip) > MAX_ADDRESS_CHARS:
            return {}
        if self._clock() >= self._next_check:
            self.reload_if_changed()
        loaded = self._loaded
        with self._cache_lock:
            found = loaded.cache.get(ip)
        if found is None:
            found = _resolve(loaded.reader, ip)
            with self._cache_lock:
                loaded.cache[ip] = found
        return dict(found)

    def reload_if_changed(self) -> bool:
        """Stat the file now; open and swap in a changed one. True when a new one was loaded."""
        if not self._reload_lock.acquire(blocking=False):
            return False
        try:
            self._next_check = self._clock() + self._recheck_seconds
            signature = _signature(self.path)
            if signature is None or signature in (self._loaded.signature, self._rejected):
                return False
            try:
                reader = _open(self.path)
            except (OSError, ValueError) as exc:
                self._rejected = signature
                log.warning("geo database not reloaded, keeping the running one: %s", exc)
                return False
            # One assignment swaps reader and cache together; lookups in flight keep the old
            # pair, and the old mapping is released when the last of them lets go of it.
            self._loaded = _Loaded(reader, signature, LRUCache(self._cache_size))
            self._rejected = None
            log.info("geo database reloaded from %s", self.path)
            return True
        finally:
            self._reload_lock.release()


def _signature(path: Path) -> Signature | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def database_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the geo database, in words for whoever configured it (never an
    errno), or None when it opens as a MaxMind DB."""
    try:
        _open(path).close()
    except (OSError, ValueError) as exc:
        return str(exc)
    return None


def _open(path: Path) -> maxminddb.Reader:
    # maxminddb's own errors name the file as bytes (b'GeoLite2-City.mmdb') after an errno;
    # these say what is wrong with which file, once.
    if "\x00" in str(path):
        raise ValueError(f"{str(path)[:200]!r} cannot be a file name")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a MaxMind DB file")
    try:
        return maxminddb.open_database(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file {path}") from None
    except OSError as exc:
        raise OSError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise ValueError(f"{path} is not a MaxMind DB file ({exc})") from None


def _resolve(reader: maxminddb.Reader, ip: str) -> dict[str, Any]:
    address = parse_ip(ip)
    if address is None:
        return {}
    try:
        record = reader.get(address.text)
    except (ValueError, RuntimeError):
        # An IPv6 address in an IPv4-only database, or a damaged data section.
        return {}
    return _city_attributes(record)


def _city_attributes(record: Any) -> dict[str, Any]:
    # maxminddb decodes maps to dicts; anything else in an unexpected place is skipped.
    if not isinstance(record, dict):
        return {}
    out: dict[str, Any] = {}
    country = _text(record.get("country"), "iso_code") or _text(
        record.get("registered_country"), "iso_code"
    )
    if country:
        out["country"] = country
    subdivisions = record.get("subdivisions")
    if isinstance(subdivisions, list) and subdivisions:
        region = _text(_get(subdivisions[0], "names"), "en")
        if region:
            out["region"] = region
    city = _text(_get(record, "city", "names"), "en")
    if city:
        out["city"] = city
    location = record.get("location")
    if isinstance(location, dict):
        lat, lon = location.get("latitude"), location.get("longitude")
        if isinstance(lat, (float, int)) and isinstance(lon, (float, int)):
            out["lat"], out["lon"] = float(lat), float(lon)
        timezone = _text(location, "time_zone")
        if timezone:
            out["timezone"] = timezone
    continent = _text(record.get("continent"), "code")
    if continent:
        out["continent"] = continent
    return out


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: Any, key: str) -> str | None:
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, str) and found else None


def geo_from_headers(headers: Mapping[str, str], header_name: str) -> dict[str, Any]:
    """``{"country": "NL"}`` from a CDN's country header such as ``CF-IPCountry``.

    The value must be two ASCII letters (upper-cased here); unknown markers (``XX``, ``ZZ``,
    Cloudflare's ``T1`` for Tor) and anything else give ``{}``.
    """
    try:
        value = headers.get(header_name)
        if value is None:
            value = headers.get(header_name.lower())
    except (TypeError, AttributeError):
        return {}
    if not isinstance(value, str) or len(value.strip()) != 2:
        return {}
    code = value.strip().upper()
    if not (code.isascii() and code.isalpha()) or code in UNKNOWN_COUNTRIES:
        return {}
    return {"country": code}
