"""A campaign's audience in plain English, for the cockpit's campaign list.

``describe_audience({"visitor.visits": {"$gte": 2, "$lte": 5}, "geo.country": "NL"})`` is
``"visits at least 2 and at most 5 and country is NL"``. Every operator `opmaat.conditions`
knows has its wording; attributes are named by their label in the profile's description
(`opmaat.profile_reference`: ``geo.country`` is "country", ``cart.abandoned: true`` "has an
abandoned cart"), any other keeps its dotted path.

Keys at one level join with "and"; ``$or`` reads "either A or B", ``$nor`` "neither A nor B",
``$not`` "not (A)", and a part that holds an "and" inside an "or" (or the other way round) is
put in parentheses. Values are shown as they are: strings without quotes (unless empty), whole
numbers without ".0", lists as "A, B or C".

The text is plain (whoever shows it as HTML escapes it) and at most `MAX_CHARS` characters.
Describing never raises: a malformed condition (unknown operator, operand of the wrong shape)
gets generic wording such as ``"country matches {$foo: 1}"``, and what is nested more than 40
deep reads "…".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opmaat.profile_reference import lookup

__all__ = ["EVERY_VISITOR", "MAX_CHARS", "NO_VISITOR", "UNDESCRIBABLE", "describe_audience"]

MAX_CHARS = 300
EVERY_VISITOR = "every visitor"
NO_VISITOR = "no visitor"
UNDESCRIBABLE = "an audience that cannot be put into words"

ELLIPSIS = "…"
# Beyond these the text is far past MAX_CHARS anyway, so nothing more is worth describing.
_MAX_DEPTH = 40  # conditions and operators nested in one another
_MAX_VALUE_DEPTH = 6  # lists and objects nested in one value
_MAX_ITEMS = 60  # list items, object keys and condition parts
_MAX_STRING = 2 * MAX_CHARS

_ARRAYS = (list, tuple)


# Attributes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attribute:
    """How an attribute reads: its name, and how list and true/false tests are worded."""

    name: str
    plural: bool = False
    # "value"; "list" (a list attribute: "includes"); "segments" ("is in the segment ...").
    kind: str = "value"
    # What `true` and `false` read as ("has an abandoned cart"), for a true/false attribute.
    flag: tuple[str, str] | None = None


def _words(name: str) -> str:
    return name.replace("_", " ").replace(".", " ")


def _attribute(path: str, friendly: bool) -> _Attribute:
    if not friendly:  # inside $elemMatch the paths are an item's fields
        return _Attribute(path)
    found = lookup(path)
    described = found.attribute if found is not None else None
    if found is not None and described is not None and described.label:
        # A campaign id is a name as it is; other wildcards read as words.
        names = {k: v if k == "campaign" else _words(v) for k, v in found.bindings.items()}
        kind = "segments" if path == "segments" else "list" if described.type == "list" else "value"
        return _Attribute(described.label.format(**names), described.plural, kind, described.flag)
    head, _, rest = path.partition(".")
    if head == "milestone" and rest:  # one the profile does not have (yet)
        return _Attribute(
            f"milestone {_words(rest)}",
            flag=(
                f"reached the milestone {_words(rest)}",
                f"has not reached the milestone {_words(rest)}",
            ),
        )
    if head == "prefs" and rest:  # a server caller's own preference
        return _Attribute(f"preference {_words(rest)}")
    return _Attribute(path)


_PLURAL_VERBS = {
    "is": "are",
    "has": "have",
    "includes": "include",
    "matches": "match",
    "does": "do",
    "comes": "come",
}


def _with_subject(attribute: _Attribute, predicate: str) -> str:
    if attribute.plural:
        verb, space, rest = predicate.partition(" ")
        predicate = _PLURAL_VERBS.get(verb, verb) + space + rest
    return predicate


# Values ------------------------------------------------------------------------------------


def _string(text: str) -> str:
    """Text as it is, minus anything that is not printable; empty text shows as ``""``."""
    text = text[:_MAX_STRING]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    return text if text.strip() else f'"{text}"'


def _number(value: int | float) -> str:
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # past Python's limit on digits converted
            return "a very large number"
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "infinity" if value > 0 else "minus infinity"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _value(value: Any, depth: int = 0) -> str:
    """Any operand as short plain text."""
    if depth > _MAX_VALUE_DEPTH:
        return ELLIPSIS
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        items = [
            f"{_value(k, depth + 1)}: {_value(v, depth + 1)}" for k, v in _first(value.items())
        ]
        if len(value) > _MAX_ITEMS:
            items.append(ELLIPSIS)
        return "{" + ", ".join(items) + "}"
    if isinstance(value, _ARRAYS):
        items = [_value(item, depth + 1) for item in _first(value)]
        if len(value) > _MAX_ITEMS:
            items.append(ELLIPSIS)
        return "[" + ", ".join(items) + "]"
    try:
        return _string(str(value))
    except Exception:
        return f"a {type(value).__name__}"


def _first(items: Iterable[Any]) -> list[Any]:
    found: list[Any] = []
    for item in items:
        if len(found) == _MAX_ITEMS:
            break
        found.append(item)
    return found


def _values(values: Any) -> list[str]:
    """The items of a list operand, the ones past `_MAX_ITEMS` counted: "A, B or 3 more"."""
    shown = [_value(item, 1) for item in _first(values)]
    if len(values) > len(shown):
        shown.append(f"{len(values) - len(shown)} more")
    return shown


def _join(items: list[str], word: str) -> str:
    """'A', 'A or B', 'A, B or C'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


# Phrases -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Phrase:
    """A described condition: one clause, or parts joined by "and", "or" or "nor"."""

    kind: str  # "clause", "and", "or", "nor", "every"
    text: str = ""
    parts: tuple[_Phrase, ...] = ()


_EVERY = _Phrase("every")


def _clause(text: str) -> _Phrase:
    return _Phrase("clause", text)


def _all_of(parts: Iterable[_Phrase]) -> _Phrase:
    flat: list[_Phrase] = []
    for part in parts:
        if part.kind == "and":
            flat.extend(part.parts)
        elif part.kind != "every":
            flat.append(part)
    if not flat:
        return _EVERY
    return flat[0] if len(flat) == 1 else _Phrase("and", parts=tuple(flat))


def _any_of(parts: Iterable[_Phrase]) -> _Phrase:
    flat: list[_Phrase] = []
    for part in parts:
        if part.kind == "every":
            return _EVERY
        flat.extend(part.parts if part.kind == "or" else (part,))
    flat = list(dict.fromkeys(flat))  # "either A or A" is A
    if not flat:  # an empty $or matches everyone
        return _EVERY
    return flat[0] if len(flat) == 1 else _Phrase("or", parts=tuple(flat))


def _negated(phrase: _Phrase) -> _Phrase:
    if phrase.kind == "every":
        return _clause(NO_VISITOR)
    return _clause(f"not ({_render(phrase)})")


def _render(phrase: _Phrase) -> str:
    if phrase.kind == "clause":
        return phrase.text
    if phrase.kind == "every":
        return EVERY_VISITOR
    if phrase.kind == "and":
        return " and ".join(_wrapped(part, ("or", "nor")) for part in phrase.parts)
    if phrase.kind == "or":
        return "either " + _join([_wrapped(part, ("and", "nor")) for part in phrase.parts], "or")
    parts = [_wrapped(part, ("and", "or", "nor")) for part in phrase.parts]  # nor
    if len(parts) == 2:
        return f"neither {parts[0]} nor {parts[1]}"
    return "none of " + _join(parts, "or")


def _wrapped(phrase: _Phrase, kinds: tuple[str, ...]) -> str:
    text = _render(phrase)
    return f"({text})" if phrase.kind in kinds else text


# Conditions --------------------------------------------------------------------------------


def _condition(condition: Any, depth: int, friendly: bool = True) -> _Phrase:
    if depth > _MAX_DEPTH:
        return _clause(ELLIPSIS)
    if not isinstance(condition, Mapping):
        return _clause(f"unrecognized condition {_value(condition)}")
    parts: list[_Phrase] = []
    for index, (key, operand) in enumerate(condition.items()):
        if index == _MAX_ITEMS:
            parts.append(_clause(ELLIPSIS))
            break
        if not isinstance(key, str) or key.startswith("$"):
            # Paths are strings and never start with "$": only $and, $or, $nor and $not do.
            logical = _LOGICAL.get(key) if isinstance(key, str) else None
            if logical is None:
                parts.append(_unrecognized(_value(key), operand))
            else:
                parts.append(logical(operand, depth + 1, friendly))
        else:
            parts.append(_test(_attribute(_string(key), friendly), operand, depth + 1))
    return _all_of(parts)


def _conditions(operand: list[Any] | tuple[Any, ...], depth: int, friendly: bool) -> list[_Phrase]:
    parts = [_condition(item, depth, friendly) for item in _first(operand)]
    if len(operand) > len(parts):
        parts.append(_clause(ELLIPSIS))
    return parts


def _unrecognized(name: str, operand: Any) -> _Phrase:
    return _clause(f"unrecognized condition {{{name}: {_value(operand)}}}")


def _logical_and(operand: Any, depth: int, friendly: bool) -> _Phrase:
    if not isinstance(operand, _ARRAYS):
        return _unrecognized("$and", operand)
    return _all_of(_conditions(operand, depth, friendly))


def _logical_or(operand: Any, depth: int, friendly: bool) -> _Phrase:
    if not isinstance(operand, _ARRAYS):
        return _unrecognized("$or", operand)
    return _any_of(_conditions(operand, depth, friendly))


def _logical_nor(operand: Any, depth: int, friendly: bool) -> _Phrase:
    if not isinstance(operand, _ARRAYS):
        return _unrecognized("$nor", operand)
    if not operand:  # GrowthBook: an empty $nor matches no one
        return _clause(NO_VISITOR)
    parts = _conditions(operand, depth, friendly)
    if len(parts) == 1:
        return _negated(parts[0])
    return _Phrase("nor", parts=tuple(parts))


def _logical_not(operand: Any, depth: int, friendly: bool) -> _Phrase:
    return _negated(_condition(operand, depth, friendly))


_LOGICAL: dict[str, Callable[[Any, int, bool], _Phrase]] = {
    "$and": _logical_and,
    "$or": _logical_or,
    "$nor": _logical_nor,
    "$not": _logical_not,
}


# One attribute's test ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Predicate:
    """What one operator says about an attribute."""

    text: str
    # False: `text` is a whole clause ("has an abandoned cart"), not said of the attribute.
    of_attribute: bool = True
    # A comparison ("at least 3") that needs "is" after "that".
    verbless: bool = False


_Describer = Callable[[_Attribute, Any, int], "_Predicate | None"]


def _is_operator_object(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def _test(attribute: _Attribute, expected: Any, depth: int) -> _Phrase:
    """The attribute against a plain value or an object of operators."""
    return _chain(attribute, _predicates(attribute, expected, depth))


def _predicates(attribute: _Attribute, expected: Any, depth: int) -> list[_Predicate]:
    if depth > _MAX_DEPTH:
        return [_Predicate(ELLIPSIS, of_attribute=False)]
    if not _is_operator_object(expected):
        return [_equal(attribute, expected)]
    predicates: list[_Predicate] = []
    for index, (name, operand) in enumerate(expected.items()):
        if index == _MAX_ITEMS:
            predicates.append(_Predicate(ELLIPSIS, of_attribute=False))
            break
        describe = _OPERATORS.get(name)
        said = describe(attribute, operand, depth + 1) if describe is not None else None
        predicates.append(said or _Predicate(f"matches {{{_string(name)}: {_value(operand)}}}"))
    return predicates


def _chain(attribute: _Attribute, predicates: list[_Predicate]) -> _Phrase:
    """ "visits at least 2 and at most 5": the name once for the predicates in a row."""
    clauses: list[_Phrase] = []
    seen: set[_Predicate] = set()
    named = False
    for predicate in predicates:
        if predicate in seen:  # {$exists: true, $ne: null} says "is known" once
            continue
        seen.add(predicate)
        if not predicate.of_attribute:
            clauses.append(_clause(predicate.text))
            named = False
            continue
        text = _with_subject(attribute, predicate.text)
        clauses.append(_clause(text if named else f"{attribute.name} {text}"))
        named = True
    return _all_of(clauses)


def _relative(attribute: _Attribute, predicates: list[_Predicate]) -> str:
    """ "that is at least 3 and matches ...", or "where (...)" when a clause is among them."""
    if all(p.of_attribute for p in predicates):
        said = dict.fromkeys(f"is {p.text}" if p.verbless else p.text for p in predicates)
        return "that " + " and ".join(said)
    return "where " + _wrapped(_chain(attribute, predicates), ("and", "or", "nor"))


def _equal(attribute: _Attribute, operand: Any) -> _Predicate:
    if operand is None:  # a missing attribute is null, so this is "not known"
        return _Predicate("is not known")
    if attribute.flag is not None and isinstance(operand, bool):
        return _Predicate(attribute.flag[0 if operand else 1], of_attribute=False)
    return _Predicate(f"is {_value(operand)}")


def _op_eq(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
    return _equal(attribute, operand)


def _op_ne(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
    if operand is None:
        return _Predicate("is known")
    if attribute.flag is not None and isinstance(operand, bool):
        # Not "has no abandoned cart" for `$ne: true`: a visitor without a cart matches too.
        return _Predicate(f"not ({attribute.flag[0 if operand else 1]})", of_attribute=False)
    return _Predicate(f"is not {_value(operand)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_text(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


_COMPARISONS = {
    # operator: (with a number, with a text that is not one)
    "$gt": ("more than {}", "comes after {} alphabetically"),
    "$gte": ("at least {}", "is {} or comes after it alphabetically"),
    "$lt": ("less than {}", "comes before {} alphabetically"),
    "$lte": ("at most {}", "is {} or comes before it alphabetically"),
}


def _comparison(name: str) -> _Describer:
    number_wording, text_wording = _COMPARISONS[name]

    def describe(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
        if _is_number(operand) or (isinstance(operand, str) and _numeric_text(operand)):
            return _Predicate(number_wording.format(_value(operand)), verbless=True)
        if isinstance(operand, str):
            return _Predicate(text_wording.format(_value(operand)))
        return None

    return describe


def _version(wording: str) -> _Describer:
    def describe(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
        if _is_number(operand) or isinstance(operand, str):
            return _Predicate(wording.format(_value(operand)))
        return None

    return describe


def _membership(inverted: bool, fold: bool) -> _Describer:
    case = " (ignoring case)" if fold else ""

    def describe(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
        if not isinstance(operand, _ARRAYS):
            return None
        if not operand:
            return _Predicate(f"is {'not ' if inverted else ''}in an empty list")
        values = _values(operand)
        one = len(values) == 1
        if attribute.kind == "segments":
            if one:
                said = f"is {'not ' if inverted else ''}in the segment {values[0]}"
            else:
                said = (
                    f"is in {'none' if inverted else 'any'} of the segments {_join(values, 'or')}"
                )
            return _Predicate(said + case, of_attribute=False)
        if attribute.kind == "list":
            if one:
                said = f"{'does not include' if inverted else 'includes'} {values[0]}"
            else:
                said = f"includes {'none' if inverted else 'any'} of {_join(values, 'or')}"
        elif one:
            said = f"is {'not ' if inverted else ''}{values[0]}"
        else:
            said = f"is {'none' if inverted else 'one'} of {_join(values, 'or')}"
        return _Predicate(said + case)

    return describe


def _group(inverted: bool) -> _Describer:
    def describe(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
        if not isinstance(operand, str):
            return None
        return _Predicate(f"is {'not ' if inverted else ''}in the saved group {_value(operand)}")

    return describe


def _all(fold: bool) -> _Describer:
    case = " (ignoring case)" if fold else ""

    def describe(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
        if not isinstance(operand, _ARRAYS):
            return None
        if not operand:  # every list holds all of no items
            return _Predicate("is a list")
        values = _values(operand)
        if attribute.kind == "segments":
            if len(values) == 1:
                return _Predicate(f"is in the segment {values[0]}{case}", of_attribute=False)
            said = f"is in all of the segments {_join(values, 'and')}{case}"
            return _Predicate(said, of_attribute=False)
        if len(values) == 1:
            return _Predicate(f"includes {values[0]}{case}")
        return _Predicate(f"includes all of {_join(values, 'and')}{case}")

    return describe


_ITEM = _Attribute("item")


def _op_elem_match(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
    if not isinstance(operand, Mapping):
        return None
    segments = attribute.kind == "segments"
    item = "a segment" if segments else "an item"
    if not operand:
        said = f"is in {item}" if segments else f"has {item}"
    elif _is_operator_object(operand) and not any(k in _LOGICAL for k in operand):
        said = f"{item} {_relative(_ITEM, _predicates(_ITEM, operand, depth))}"
        said = f"is in {said}" if segments else f"has {said}"
    else:
        inner = _condition(operand, depth, friendly=False)
        said = f"has {item} where {_wrapped(inner, ('and', 'or', 'nor'))}"
    return _Predicate(said, of_attribute=not segments)


_SIZES = {"$eq": "exactly {}", "$gt": "more than {}", "$gte": "at least {}"}
_SIZES |= {"$lt": "fewer than {}", "$lte": "at most {}"}


def _op_size(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
    segments = attribute.kind == "segments"
    verb = "is in" if segments else "has"
    noun, nouns = ("segment", "segments") if segments else ("item", "items")
    if _is_number(operand):
        count = _value(operand)
        return _Predicate(
            f"{verb} exactly {count} {noun if count == '1' else nouns}", of_attribute=not segments
        )
    if not _is_operator_object(operand):
        return None
    if all(name in _SIZES and _is_number(bound) for name, bound in operand.items()):
        counts = [_SIZES[name].format(_value(bound)) for name, bound in operand.items()]
        last = _value(list(operand.values())[-1])
        said = f"{verb} {' and '.join(dict.fromkeys(counts))} {noun if last == '1' else nouns}"
        return _Predicate(said, of_attribute=not segments)
    counted = _Attribute(f"number of {nouns}")
    said = f"{verb} a number of {nouns} {_relative(counted, _predicates(counted, operand, depth))}"
    return _Predicate(said, of_attribute=not segments)


def _js_truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    if value is None or value is False or value == "":
        return False
    return not (_is_number(value) and value == 0)


def _op_exists(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
    return _Predicate("is known" if _js_truthy(operand) else "is not known")


_TYPES = {
    "string": "is text",
    "number": "is a number",
    "boolean": "is true or false",
    "array": "is a list",
    "object": "is an object",
    "null": "is not known",
}


def _op_type(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
    said = _TYPES.get(operand) if isinstance(operand, str) else None
    return _Predicate(said) if said else None


def _pattern(inverted: bool, fold: bool) -> _Describer:
    verb = "does not match" if inverted else "matches"
    case = " (ignoring case)" if fold else ""

    def describe(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
        if not isinstance(operand, str):
            return None
        try:
            re.compile(operand)
        except Exception:  # re.error, or too complex: the condition never matches
            return _Predicate(f"{verb} the invalid pattern {_value(operand)}")
        return _Predicate(f"{verb} the pattern {_value(operand)}{case}")

    return describe


def _op_not(attribute: _Attribute, operand: Any, depth: int) -> _Predicate | None:
    inner = _chain(attribute, _predicates(attribute, operand, depth))
    return _Predicate(_render(_negated(inner)), of_attribute=False)


_OPERATORS: dict[str, _Describer] = {
    "$eq": _op_eq,
    "$ne": _op_ne,
    "$gt": _comparison("$gt"),
    "$gte": _comparison("$gte"),
    "$lt": _comparison("$lt"),
    "$lte": _comparison("$lte"),
    "$veq": _version("is version {}"),
    "$vne": _version("is not version {}"),
    "$vgt": _version("is a version after {}"),
    "$vgte": _version("is version {} or later"),
    "$vlt": _version("is a version before {}"),
    "$vlte": _version("is version {} or earlier"),
    "$in": _membership(inverted=False, fold=False),
    "$nin": _membership(inverted=True, fold=False),
    "$ini": _membership(inverted=False, fold=True),
    "$nini": _membership(inverted=True, fold=True),
    "$inGroup": _group(inverted=False),
    "$notInGroup": _group(inverted=True),
    "$all": _all(fold=False),
    "$alli": _all(fold=True),
    "$elemMatch": _op_elem_match,
    "$size": _op_size,
    "$exists": _op_exists,
    "$type": _op_type,
    "$regex": _pattern(inverted=False, fold=False),
    "$regexi": _pattern(inverted=False, fold=True),
    "$notRegex": _pattern(inverted=True, fold=False),
    "$notRegexi": _pattern(inverted=True, fold=True),
    "$not": _op_not,
}


# The entry point ---------------------------------------------------------------------------


def describe_audience(audience: Mapping[str, Any] | None) -> str:
    """The audience as plain English for marketers; ``"every visitor"`` for None or ``{}``.

    At most `MAX_CHARS` characters (longer text ends in "…"); never raises.
    """
    try:
        if audience is None:
            return EVERY_VISITOR
        text = _render(_condition(audience, 0))
    except Exception:  # a description must never cost the cockpit its page
        return UNDESCRIBABLE
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1].rstrip() + ELLIPSIS
    return text
