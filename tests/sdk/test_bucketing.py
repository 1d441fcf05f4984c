from __future__ import annotations

import pytest

from opmaat.bucketing import bucket, choose_variant, fnv1a32, in_holdout

IDS = [f"visitor-{n}" for n in range(20_000)]

# [seed, value, expected] for hash version 2, from GrowthBook's shared SDK test cases: the same
# visitor must land in the same bucket here as in every GrowthBook SDK.
GROWTHBOOK_V2 = [
    ("seed", "a", 0.0505),
    ("seed", "b", 0.2696),
    ("foo", "ab", 0.2575),
    ("foo", "def", 0.2019),
    ("89123klj", "8952klfjas09ujkasdf", 0.124),
    ("90850943850283058242805", "123", 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 0.0128),
]


@pytest.mark.parametrize(("seed", "value", "expected"), GROWTHBOOK_V2)
def test_bucket_matches_growthbook_hash_v2(seed: str, value: str, expected: float) -> None:
    assert bucket(seed, value) == expected


def test_fnv1a32_reference_values() -> None:
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_non_ascii_ids_hash_by_code_point() -> None:
    # The ASCII fast path must agree with the per-code-point definition.
    assert fnv1a32("é") == ((0x811C9DC5 ^ 0xE9) * 0x01000193) & 0xFFFFFFFF
    assert 0 <= bucket("camp", "visitör-ß-😀") < 1


def test_holdout_share_is_respected() -> None:
    held = sum(in_holdout("spring-sale", visitor, 0.1) for visitor in IDS)
    assert 0.09 <= held / len(IDS) <= 0.11


def test_holdout_zero_holds_nobody_out() -> None:
    assert not any(in_holdout("spring-sale", visitor, 0) for visitor in IDS[:2000])


def test_holdout_and_variant_are_independent() -> None:
    # Among held-out visitors the variant split must look like everyone's: a shared hash would
    # put all held-out visitors in the first variant.
    held = [v for v in IDS if in_holdout("spring-sale", v, 0.2)]
    first = sum(choose_variant("spring-sale", v, [1, 1]) == 0 for v in held)
    assert 0.45 <= first / len(held) <= 0.55


def test_weights_set_the_split() -> None:
    counts = [0, 0, 0]
    for visitor in IDS:
        counts[choose_variant("hero-test", visitor, [1, 3, 0])] += 1
    assert counts[2] == 0
    assert 0.235 <= counts[0] / len(IDS) <= 0.265
    assert 0.735 <= counts[1] / len(IDS) <= 0.765


def test_assignment_is_sticky_and_seeded_per_campaign() -> None:
    first = [choose_variant("a", v, [1, 1]) for v in IDS[:500]]
    again = [choose_variant("a", v, [1, 1]) for v in IDS[:500]]
    other = [choose_variant("b", v, [1, 1]) for v in IDS[:500]]
    assert first == again
    assert first != other


def test_degenerate_weights_do_not_raise() -> None:
    assert choose_variant("x", "v", []) == 0
    assert choose_variant("x", "v", [0, 0]) == 0
    assert choose_variant("x", "v", [0, 5]) == 1
