"""Signed values the edge hands out and takes back (form tokens, preview cookies, tracking
tokens): itsdangerous with the edge's keys, newest first, one salt per purpose so a value made
for one purpose is refused for another."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from itsdangerous import URLSafeTimedSerializer


@lru_cache(maxsize=16)
def _serializer(keys: tuple[str, ...], salt: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key of its list and checks with all of them.
    return URLSafeTimedSerializer(list(reversed(keys)), salt=salt)


def sign(keys: tuple[str, ...], salt: str, payload: Any) -> str:
    """``payload`` (JSON-able) signed with the newest key, with the time it was signed."""
    value = _serializer(keys, salt).dumps(payload)
    return value if isinstance(value, str) else value.decode("ascii")


def unsign(keys: tuple[str, ...], salt: str, value: str, max_age: int) -> Any:
    """What ``sign`` signed, when any of ``keys`` signed it at most ``max_age`` seconds ago;
    raises itsdangerous.BadData otherwise."""
    return _serializer(keys, salt).loads(value, max_age=max_age)
