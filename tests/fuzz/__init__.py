"""Property-based tests (hypothesis) over every parser of outside input: no 5xx from it.

Each test states what a parser may do with anything it is given: return its documented
neutral or typed result, or raise its documented error, and keep its output invariants.
The shared strategies and the settings are here; nothing is registered globally (no
settings profile is loaded), so the rest of the suite runs as before.

Every test is derandomized (the same examples on every run, so CI is repeatable) and writes
no example database.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

__all__ = [
    "CONTROL",
    "HUGE_INTS",
    "any_text",
    "fuzz",
    "integers",
    "json_values",
    "long_text",
    "short_text",
    "token_soup",
]

_SUPPRESSED = (HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example)


def fuzz(max_examples: int) -> settings:
    """The settings of one fuzz test: derandomized, no deadline, no example database, and no
    explain phase (slow, and the shrunk example is what the report needs)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
        suppress_health_check=_SUPPRESSED,
        report_multiple_bugs=False,
    )


# C0 and C1 control characters and DEL: what a header, URL or CSV cell from outside may hold.
CONTROL = "".join(chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)))
_NASTY = CONTROL + " <>&;=,./:?#%@[]\"'\\`{}|$*!~+-_é€ß\u0130\u2028\u2029\ufeff\U0001d11e"


def _repeat(piece: str, times: int) -> str:
    return piece * times


short_text = st.text(max_size=24)
"""Any unicode text (hypothesis leaves surrogates out), short."""

control_text = st.text(alphabet=_NASTY + string.ascii_letters + string.digits, max_size=48)
"""Text dense in control characters and punctuation."""

binaryish_text = st.one_of(
    st.binary(max_size=96).map(lambda data: data.decode("latin-1")),
    st.binary(max_size=96).map(lambda data: data.decode("utf-8", "replace")),
)
"""Bytes read as text the way a server might: Latin-1 (headers) or UTF-8 with replacements."""

long_text = st.builds(_repeat, st.text(min_size=1, max_size=12), st.integers(200, 3000))
"""A few KB: longer than any limit a parser cuts at."""

any_text = st.one_of(short_text, st.text(max_size=200), control_text, binaryish_text, long_text)
"""The text strategy for "anything a visitor sends"."""


def token_soup(tokens: list[str], max_size: int = 40) -> st.SearchStrategy[str]:
    """Text stitched from ``tokens`` and arbitrary pieces: structured enough to get past a
    parser's first check, broken enough to reach its error paths."""
    piece = st.one_of(st.sampled_from(tokens), st.sampled_from(tokens), short_text)
    return st.lists(piece, max_size=max_size).map("".join)


HUGE_INTS = [2**53 + 1, -(2**63), 2**64, 10**21, 10**309, -(10**309), 10**400]

# JSON numbers have no size limit: json.loads gives Python ints of hundreds of digits. The
# huge ones are sampled (they shrink at once); drawn integers stay below 2**80.
integers = st.one_of(st.integers(-(2**80), 2**80), st.sampled_from(HUGE_INTS))

json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(),  # NaN and Infinity too: json.loads takes them
    short_text,
    control_text,
)

_keys = st.one_of(st.text(max_size=12), st.sampled_from(["", "id", "type", "name", "$in", "a.b"]))


def _nest(depth: int, inner: Any, as_list: bool) -> Any:
    for _ in range(depth):
        inner = [inner] if as_list else {"a": inner}
    return inner


def _containers(items: st.SearchStrategy[Any], size: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(items, max_size=size), st.dictionaries(_keys, items, max_size=size))


# Layered rather than st.recursive: the same shapes, at a fraction of the generation time.
_level1 = st.one_of(json_scalars, _containers(json_scalars, 4))
_level2 = st.one_of(json_scalars, _containers(_level1, 4))
_deep = st.builds(_nest, st.integers(1, 200), json_scalars, st.booleans())

json_values: st.SearchStrategy[Any] = st.one_of(json_scalars, _containers(_level2, 4), _deep)
"""Any JSON value, nested (as json.loads would give it), sometimes hundreds of levels deep."""
