"""Version strings made comparable the way GrowthBook's `$v*` operators compare them.

"v1.2.3-rc.1+build" loses its leading ``v`` and its build suffix, splits on ``.`` and ``-``, gets
a ``~`` appended when it is a plain three-part release (so 1.0.0 sorts above 1.0.0-beta), and has
every all-digit part left-padded to five characters, after which plain string order is version
order.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

_STRIP = re.compile(r"^v|\+.*\Z")
_SPLIT = re.compile(r"[-.]")
_JS_EXPONENT = re.compile(r"e([+-])0*(?=\d)")
# Visitors control attribute strings: only short ones go through the cache, so it stays small.
_CACHEABLE = 64


def js_number_string(number: float) -> str:
    """Format a number the way JavaScript's ``String(number)`` does for everyday values."""
    if isinstance(number, int):
        if abs(number) < 10**21:
            return str(number)
        try:
            return js_number_string(float(number))
        except OverflowError:  # beyond any float: what JavaScript's Number would be
            return "Infinity" if number > 0 else "-Infinity"
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    return _JS_EXPONENT.sub(r"e\1", repr(number))


def padded_version(value: Any) -> str:
    """The comparable form of a version; numbers count as their text, anything else as "0"."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return _ZERO
    text = value if isinstance(value, str) else js_number_string(value)
    if not text:
        return _ZERO
    return _pad_cached(text) if len(text) <= _CACHEABLE else _pad(text)


def _pad(text: str) -> str:
    parts = _SPLIT.split(_STRIP.sub("", text))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5) if p.isascii() and p.isdigit() else p for p in parts)


_pad_cached = lru_cache(maxsize=4096)(_pad)
_ZERO = _pad("0")
