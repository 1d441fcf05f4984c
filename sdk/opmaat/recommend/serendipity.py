"""Serendipity: a share of each list drawn from outside what the visitor already likes.

A list of ``n`` with share ``s`` gives its last ``round(n * s)`` places to products from the
snapshot's pool (the 5 most popular products of every category, most popular first), leaving out
the categories of the visitor's top 3 interests, those they asked to see less of, and whatever
the list holds or filters out. The pool is walked from the most popular product; each eligible
one is taken with probability 1/3, decided by a generator seeded with the session and the
strategy's name: a session sees the same picks on every page while the model stays the same,
popular products are likelier, and each session meets different ones. If a walk leaves places
empty, a second walk takes the eligible products in order. Such items are marked
``serendipitous`` and their reason is "something different".
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

_MASK = 2**64 - 1
_MULTIPLIER = 6364136223846793005  # Knuth's MMIX linear congruential generator
_INCREMENT = 1442695040888963407


def share_of(n: int, share: float) -> int:
    """How many of a list of ``n`` are drawn for serendipity."""
    return min(n, round(n * share))


def draw(pool: Sequence[str], k: int, seed: str, eligible: Callable[[str], bool]) -> list[str]:
    """Up to ``k`` products of ``pool`` for which ``eligible`` holds (see the module
    docstring); ``eligible`` is asked at most once per product."""
    if k <= 0:
        return []
    state = zlib.crc32(seed.encode("utf-8", "replace"))
    picked: list[str] = []
    passed: list[str] = []
    for product_id in pool:
        state = (state * _MULTIPLIER + _INCREMENT) & _MASK
        if (state >> 33) % 3 == 0:
            if eligible(product_id):
                picked.append(product_id)
                if len(picked) == k:
                    return picked
        else:
            passed.append(product_id)
    for product_id in passed:
        if eligible(product_id):
            picked.append(product_id)
            if len(picked) == k:
                break
    return picked
