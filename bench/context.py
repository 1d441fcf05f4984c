"""Benchmark: User-Agent parsing (new and cached) and condition evaluation, in µs per call."""

from __future__ import annotations

import timeit

import user_agents

from opmaat.conditions import compile_condition
from opmaat.context.device import ResolvedUserAgent, parse_device

UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240205.004) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/{n}.0.0.0 Mobile Safari/537.36"
)
CONDITION = {
    "geo.country": {"$in": ["NL", "BE", "DE"]},
    "device.type": "mobile",
    "visitor.visits": {"$gte": 2},
    "referrer.medium": {"$ne": "email"},
}
PROFILE = {
    "geo": {"country": "NL"},
    "device": {"type": "mobile"},
    "visitor": {"visits": 3},
    "referrer": {"medium": "search"},
}


def _per_call(stmt: object, number: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e6  # type: ignore[arg-type]


def run(number: int = 2000) -> dict[str, float]:
    fresh = (UA.format(n=n) for n in range(10**9))
    parse_device(UA.format(n=1))
    matches = compile_condition(CONDITION)
    assert matches(PROFILE)
    return {
        "new User-Agent, user-agents on ua-parser-rs (ours)": _per_call(
            lambda: ResolvedUserAgent(next(fresh)), number // 10
        ),
        "new User-Agent, plain user_agents.parse": _per_call(
            lambda: user_agents.parse(next(fresh)), number // 10
        ),
        "cached User-Agent, parse_device": _per_call(lambda: parse_device(UA.format(n=1)), number),
        "4-leaf condition, compiled": _per_call(lambda: matches(PROFILE), number * 10),
    }


if __name__ == "__main__":
    for label, micros in run().items():
        print(f"{label}: {micros:.2f} µs")
