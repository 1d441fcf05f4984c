"""Small predicates over JSON values, with the value semantics of GrowthBook's JavaScript SDK.

`opmaat.conditions` compiles conditions out of these: combinators, dotted-path readers, strict
JSON equality, JavaScript's number conversion for ``<``/``>``, and hashed ``includes``.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

Predicate = Callable[[Any], bool]

ARRAY_TYPES = (list, tuple)
NUMBER_TYPES = frozenset({int, float})
# A number as JSON and Python keep it: an int stays exact beyond 2**53 (a compiled build,
# opmaat/compiled.py, would make a ``float`` annotation a C double).
Number = int | float
_NAN = math.nan


# Combinators -------------------------------------------------------------------------------


def always(_: Any) -> bool:
    """The predicate of an empty condition; combinators recognise it and drop it."""
    return True


def never(_: Any) -> bool:
    """The predicate that matches nothing; combinators recognise it and short-circuit."""
    return False


def all_of(parts: list[Predicate]) -> Predicate:
    """True when every part is (an empty list is always true)."""
    if any(p is never for p in parts):
        return never
    parts = [p for p in parts if p is not always]
    if not parts:
        return always
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda value: first(value) and second(value)
    chain = tuple(parts)

    # Plain loops here and below: all()/any() over a generator add a frame on the hot path.
    def every(value: Any) -> bool:
        for part in chain:  # noqa: SIM110
            if not part(value):
                return False
        return True

    return every


def any_of(parts: list[Predicate]) -> Predicate:
    """True when some part is (an empty list is never true)."""
    if any(p is always for p in parts):
        return always
    chain = tuple(p for p in parts if p is not never)
    if not chain:
        return never
    if len(chain) == 1:
        return chain[0]

    def some(value: Any) -> bool:
        for part in chain:  # noqa: SIM110
            if part(value):
                return True
        return False

    return some


def not_equals(expected: Any) -> Predicate:
    """The opposite of `equals`, with the common scalars tested directly."""
    if isinstance(expected, str):
        return lambda value: value != expected
    return negate(equals(expected))


def negate(predicate: Predicate) -> Predicate:
    """The opposite predicate."""
    if predicate is always:
        return never
    if predicate is never:
        return always
    return lambda value: not predicate(value)


# Attribute paths ---------------------------------------------------------------------------


def field(path: str, check: Predicate) -> Predicate:
    """Read a dotted path (split now, not per call) and test what is there."""
    if check is never or check is always:
        return check
    steps = [(part, _array_index(part)) for part in path.split(".")]
    if len(steps) == 1:
        ((key, index),) = steps
        return lambda obj: check(obj.get(key) if type(obj) is dict else _step(obj, key, index))
    if len(steps) == 2:
        (key1, index1), (key2, index2) = steps

        def field2(obj: Any) -> bool:
            value = obj.get(key1) if type(obj) is dict else _step(obj, key1, index1)
            return check(value.get(key2) if type(value) is dict else _step(value, key2, index2))

        return field2

    def deep_field(obj: Any) -> bool:
        for key, index in steps:
            obj = obj.get(key) if type(obj) is dict else _step(obj, key, index)
        return check(obj)

    return deep_field


def field_is(path: str, text: str) -> Predicate:
    """``field(path, equals(text))`` in one call: the commonest test in a campaign file."""
    steps = [(part, _array_index(part)) for part in path.split(".")]
    if len(steps) == 1:
        ((key, index),) = steps
        return lambda obj: (obj.get(key) if type(obj) is dict else _step(obj, key, index)) == text
    if len(steps) == 2:
        (key1, index1), (key2, index2) = steps

        def field2_is(obj: Any) -> bool:
            value = obj.get(key1) if type(obj) is dict else _step(obj, key1, index1)
            value = value.get(key2) if type(value) is dict else _step(value, key2, index2)
            return bool(value == text)

        return field2_is
    return field(path, equals(text))


def _step(obj: Any, key: str, index: int) -> Any:
    # Like JavaScript, an array exposes its indices ("0", "1", …) and "length".
    if isinstance(obj, Mapping):
        return obj.get(key)
    if isinstance(obj, ARRAY_TYPES):
        if index >= 0:
            return obj[index] if index < len(obj) else None
        if key == "length":
            return len(obj)
    return None


def _array_index(part: str) -> int:
    canonical = part.isascii() and part.isdigit() and (part == "0" or part[0] != "0")
    return int(part) if canonical and len(part) <= 10 else -1


# Values ------------------------------------------------------------------------------------


def type_name(value: Any) -> str:
    """The JSON type of a value as ``$type`` names it, or "unknown"."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, ARRAY_TYPES):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unknown"


def is_operator_object(value: Any) -> bool:
    """A non-empty object whose keys all start with ``$``."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality of JSON values, never across types (``True != 1``, ``1 == 1.0``)."""
    kind = type_name(a)
    if kind != type_name(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return len(a) == len(b) and all(k in b and json_equal(v, b[k]) for k, v in a.items())
    return bool(a == b)


def equals(expected: Any) -> Predicate:
    """Matches values `json_equal` to `expected`, specialised for the common scalars."""
    if expected is None:
        return is_none
    if expected is True:
        return lambda value: value is True
    if expected is False:
        return lambda value: value is False
    if isinstance(expected, str):
        return lambda value: value == expected
    if isinstance(expected, (int, float)):
        return lambda value: type(value) in NUMBER_TYPES and value == expected
    # A private copy: editing the source condition later must not change the compiled one.
    literal = copy.deepcopy(expected)
    return lambda value: json_equal(value, literal)


def is_none(value: Any) -> bool:
    return value is None


def is_not_none(value: Any) -> bool:
    return value is not None


def js_truthy(value: Any) -> bool:
    """JavaScript's truthiness: false for null, false, 0, NaN and the empty string."""
    if isinstance(value, float) and math.isnan(value):
        return False
    return value is not None and value is not False and value != 0 and value != ""


# JavaScript's ToNumber for the values JSON can hold: what `<` and `>` convert to.
_JS_SPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_JS_RADIX = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_RADIX_BASE = {"x": 16, "o": 8, "b": 2}


def to_number(value: Any) -> Number:
    """JavaScript's ``Number(value)``; NaN for arrays and objects."""
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return _text_number_cached(value) if len(value) <= 64 else _text_number(value)
    return _NAN


def _text_number(text: str) -> Number:
    text = text.strip(_JS_SPACE)
    if not text:
        return 0
    if _JS_DECIMAL.fullmatch(text):
        return float(text)
    if _JS_RADIX.fullmatch(text):
        return int(text[2:], _RADIX_BASE[text[1].lower()])
    return _NAN


_text_number_cached = lru_cache(maxsize=1024)(_text_number)


def membership(values: Sequence[Any], fold: bool) -> Predicate:
    """`value in values` with JavaScript's `includes` (no type conversion), on hashed sets.

    An array attribute matches when any of its elements does. Arrays and objects inside
    `values` never match, as JavaScript compares them by reference.
    """
    texts: set[str] = set()
    numbers: set[float] = set()
    singletons: list[Any] = []  # None, True, False: kept apart so 1 never equals True
    for item in values:
        if item is None or item is True or item is False:
            singletons.append(item)
        elif isinstance(item, str):
            texts.add(item.lower() if fold else item)
        elif isinstance(item, (int, float)):
            numbers.add(item)

    def member(value: Any) -> bool:
        if isinstance(value, str):
            return (value.lower() if fold else value) in texts
        if value is None or value is True or value is False:
            return value in singletons
        return isinstance(value, (int, float)) and value in numbers

    def contains(value: Any) -> bool:
        if type(value) is str:
            return (value.lower() if fold else value) in texts
        if isinstance(value, ARRAY_TYPES):
            for element in value:  # noqa: SIM110
                if member(element):
                    return True
            return False
        return member(value)

    return contains


def text_comparison(compare: Callable[[Any, Any], bool], bound: str) -> Predicate:
    """``value <op> bound`` as JavaScript orders it: as text if both are strings, else numbers."""
    number = to_number(bound)
    if bound.isascii():
        # An ASCII bound orders the same by code point as JavaScript does by UTF-16 unit.
        return lambda value: (
            compare(value, bound) if isinstance(value, str) else compare(to_number(value), number)
        )
    units = bound.encode("utf-16-be", "surrogatepass")
    return lambda value: (
        compare(value.encode("utf-16-be", "surrogatepass"), units)
        if isinstance(value, str)
        else compare(to_number(value), number)
    )


def folded_equals(lowered: str) -> Predicate:
    """Matches strings equal to `lowered` when lowercased (``$alli``)."""
    return lambda value: isinstance(value, str) and value.lower() == lowered
