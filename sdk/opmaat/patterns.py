"""The patterns of ``$regex`` and its kin, run by RE2: time linear in the text, for any pattern.

Python's `re` backtracks, and a pattern as innocent as ``^(\\w+\\s?)+$`` took seconds on a
25-character search term, with the server doing nothing else meanwhile. RE2 reads the text once,
so a visitor's string cannot stall a request; the constructs only a backtracking engine can run
(lookaround, backreferences, atomic groups, possessive quantifiers) it refuses, and so does
`compile_pattern`, saying which one it met.

Matching is a search, as in GrowthBook (``"shoes"`` is found in ``"/c/running-shoes/"``).
RE2 compiles a pattern into a program, and the cost of a search grows with the program as well
as with the text: `MAX_INSTRUCTIONS` keeps it to milliseconds for the longest text a visitor can
send, while leaving room for ordinary patterns and Unicode classes (``\\p{L}+`` is 1,201).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import re2

from .errors import OpmaatError

__all__ = ["MAX_INSTRUCTIONS", "PatternError", "compile_pattern"]

MAX_INSTRUCTIONS = 2_000
# RE2's memory for one pattern, program and lazily built automaton together (its default is 8 MiB).
_MAX_MEMORY = 1 << 20

# What RE2's error names (after "invalid perl operator: ") when Python's `re` accepts the pattern.
_BACKTRACKING_GROUPS = {
    "(?=": "a lookahead",
    "(?!": "a negative lookahead",
    "(?<=": "a lookbehind",
    "(?<!": "a negative lookbehind",
    "(?>": "an atomic group",
    "(?(": "a conditional group",
    "(?P": "a named backreference",
}


class PatternError(OpmaatError):
    """A pattern opmaat does not run; the message says why, for people."""


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> Callable[[str], bool]:
    """A test of whether `pattern` occurs anywhere in a text; `PatternError` if it cannot run."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.max_mem = _MAX_MEMORY
    options.log_errors = False  # RE2 would print every refusal on stderr
    try:
        size = re2.compile(pattern, options).programsize
    except re2.error as exc:
        raise PatternError(_refusal(pattern, exc)) from None
    if size > MAX_INSTRUCTIONS:
        raise PatternError(_too_large(pattern, f"{size:,}"))
    # A set of one pattern answers yes or no without locating the match: the fastest search
    # RE2 offers. Once compiled it cannot run out of memory (it clears its cache instead);
    # compiling fails when the memory cannot hold the automaton's first states.
    found = re2.Set.SearchSet(options)
    found.Add(pattern)
    try:
        found.Compile()
    except re2.error:
        raise PatternError(_too_large(pattern, "too many")) from None
    match = found.Match

    def occurs_in(text: str) -> bool:
        # "surrogatepass": a lone surrogate in a visitor's string must not raise.
        return match(text.encode("utf-8", "surrogatepass")) is not None

    return occurs_in


def _refusal(pattern: str, error: re2.error) -> str:
    said = error.args[0]  # bytes, as RE2 gives it
    detail = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    if detail.startswith("pattern too large"):
        return _too_large(pattern, f"more than {MAX_INSTRUCTIONS:,}")
    # A pattern Python's `re` refuses too is simply broken, and Python words that better.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set" and the like
            re.compile(pattern)
    except re.error as exc:
        return f"invalid regex {pattern!r}: {exc.msg}"
    except (RecursionError, OverflowError, ValueError):
        pass  # too deep or too large for Python as well: RE2's words will do
    reason, _, where = detail.partition(": ")
    feature = _backtracking_feature(reason, where)
    if feature:
        return (
            f"regex {pattern!r} needs backtracking ({feature}, {where!r}), which opmaat does "
            "not run: one visitor's text could stall the server. Write it with $and, $or and "
            "$notRegex instead"
        )
    return f"regex {pattern!r} is not RE2 syntax, which opmaat runs: {detail}"


def _backtracking_feature(reason: str, where: str) -> str | None:
    if reason == "invalid perl operator":
        return _BACKTRACKING_GROUPS.get(where)
    if reason == "invalid escape sequence" and where[1:].isdigit():
        return "a backreference"
    if reason == "bad repetition operator" and where.endswith("+"):
        return "a possessive quantifier"
    return None


def _too_large(pattern: str, instructions: str) -> str:
    shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
    return (
        f"regex {shown!r} is too large to search fast: RE2 compiles it to {instructions} "
        f"instructions, and at most {MAX_INSTRUCTIONS:,} are allowed. Counted repetitions such "
        "as {300} and Unicode classes such as \\p{L} make it grow"
    )
