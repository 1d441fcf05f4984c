"""Sticky, deterministic assignment of visitors to holdouts and variants.

The hash is GrowthBook's version 2 (FNV-1a 32 bit, applied twice), so a visitor lands in the same
bucket on every node, in every process and in the SDK, with no shared state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF

# Holdout and variant draws hash the same id under different seeds, so being held out says
# nothing about which variant a visitor would otherwise have seen.
_HOLDOUT_NAMESPACE = "holdout:"


def _fnv1a32_from(value: int, text: str) -> int:
    # Iterating bytes yields the code points of ASCII text without a call to ord() per char.
    codes = text.encode("ascii") if text.isascii() else map(ord, text)
    for code in codes:
        value = ((value ^ code) * _FNV_PRIME) & _MASK
    return value


def fnv1a32(text: str) -> int:
    """FNV-1a over the code points of ``text``, as GrowthBook's SDKs compute it."""
    return _fnv1a32_from(_FNV_OFFSET, text)


# FNV-1a reads left to right, so the state after a seed can be reused for every visitor; seeds
# are campaign ids, few and fixed, which keeps this cache small.
_seed_state = lru_cache(maxsize=4096)(fnv1a32)


# A visitor's requests come in sessions, so the same few (campaign, visitor) pairs are hashed
# again and again; the hash is Python arithmetic per character. Bounded: about 3 MB when full.
BUCKET_CACHE = 16384


@lru_cache(maxsize=BUCKET_CACHE)
def bucket(seed: str, value: str) -> float:
    """GrowthBook hash v2: a number in [0, 1) with four decimals, fixed for (seed, value)."""
    first = _fnv1a32_from(_seed_state(seed), value)
    return (fnv1a32(str(first)) % 10000) / 10000


def in_holdout(campaign_seed: str, visitor_id: str, share: float) -> bool:
    """Whether this visitor is in the campaign's comparison group that sees default content."""
    if share <= 0:
        return False
    return bucket(_HOLDOUT_NAMESPACE + campaign_seed, visitor_id) < share


def choose_variant(campaign_seed: str, visitor_id: str, weights: Sequence[float]) -> int:
    """The index of the visitor's variant, with chances proportional to ``weights``."""
    return variant_chooser(weights)(campaign_seed, visitor_id)


def variant_chooser(weights: Sequence[float]) -> Callable[[str, str], int]:
    """`choose_variant` for these ``weights``, with the sums made once."""
    total = 0.0
    for weight in weights:
        total += max(weight, 0.0)
    if total <= 0 or len(weights) == 1:
        return _first
    steps: list[tuple[float, int]] = []
    cumulative = 0.0
    for index, weight in enumerate(weights):
        if weight <= 0:
            continue
        cumulative += weight
        steps.append((cumulative, index))
    bounds = tuple(steps)
    last = bounds[-1][1]

    def choose(campaign_seed: str, visitor_id: str) -> int:
        point = bucket(campaign_seed, visitor_id) * total
        for bound, index in bounds:
            if point < bound:
                return index
        return last

    return choose


def _first(campaign_seed: str, visitor_id: str) -> int:
    return 0
