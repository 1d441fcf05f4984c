"""URLs and short texts from outside, made safe to classify, store and show."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

MAX_URL_CHARS = 2048
MAX_TEXT_CHARS = 200
# Landing pages and referrers repeat; these bound the memory to a few MB of URLs.
CACHE_SIZE = 2048
SCHEMES = frozenset({"http", "https", "android-app"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_HOST = re.compile(r"[a-z0-9_.:-]{1,253}")


@dataclass(frozen=True, slots=True)
class Url:
    text: str
    host: str
    query: str


def clean_text(value: object, limit: int = MAX_TEXT_CHARS) -> str | None:
    """Control characters and runs of white space become one space; None when nothing is left."""
    if not isinstance(value, str):
        return None
    text = " ".join(_CONTROL.sub(" ", value[: limit * 4]).split())[:limit]
    return text or None


def split_url(value: object) -> Url | None:
    """An http(s) or android-app URL with a plausible host (IDNA-encoded), else None.

    Cut to 2 KB first; control characters are dropped.
    """
    if not value or not isinstance(value, str):
        return None
    return _split_url(value[:MAX_URL_CHARS])


@lru_cache(maxsize=CACHE_SIZE)
def _split_url(value: str) -> Url | None:
    text = _CONTROL.sub("", value).strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in SCHEMES or not host:
        return None
    host = ascii_host(host)
    if host is None:
        return None
    return Url(text, host, parts.query)


def ascii_host(host: str) -> str | None:
    """Lower-case ASCII form of a host name (punycode for unicode labels), or None."""
    host = host.rstrip(".").lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOST.fullmatch(host) else None


@lru_cache(maxsize=CACHE_SIZE)
def query_params(query: str) -> Mapping[str, str]:
    """First value of each parameter, names lower-cased; blank values left out (read-only)."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query):
        params.setdefault(name.lower(), value)
    return MappingProxyType(params)
