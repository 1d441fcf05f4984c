"""Targeting conditions: GrowthBook's MongoDB-style operator language, compiled once.

A condition such as ``{"geo.country": {"$in": ["NL", "BE"]}, "visitor.visits": {"$gte": 3}}``
is turned into nested closures when campaigns load; evaluating it per request is a handful of
dict look-ups and comparisons, with nothing parsed again.

The semantics are those of GrowthBook's SDK specification (its shared ``cases.json`` and the
reference JavaScript SDK), so a condition written for GrowthBook means the same here. Where the
reference SDKs disagree, the stricter reading wins: implicit equality and ``$eq`` (which mean the
same) never convert between JSON types (``5`` does not equal ``"5"``, ``true`` does not equal
``1``), and arrays and objects are equal when their contents are, whatever the order of keys.
``$gt``/``$gte``/``$lt``/``$lte`` follow JavaScript: two strings compare as strings, anything
else as numbers (so ``"8"`` is above 5, and a missing attribute counts as 0). Only ``$in``,
``$nin``, ``$ini``, ``$nini``, ``$inGroup`` and ``$notInGroup`` look inside an array attribute
(it matches when any element does); ``$elemMatch``, ``$all`` and ``$size`` are the array
operators, and a plain value matches an array only when the whole array is equal. Paths reach
into arrays as JavaScript does: ``cart.items.0.sku``, ``cart.items.length``.

Patterns run on RE2 (`opmaat.patterns`), in time linear in the visitor's text; a pattern that
needs backtracking (a lookahead, a backreference) is treated as an invalid regex.

A condition GrowthBook cannot evaluate (an unknown operator, an invalid regex, an operand of the
wrong shape) never matches anyone, even under ``$not``; with ``strict=True`` it raises
`ConditionError` naming where it is, so ``opmaat check`` finds it before any visitor does.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ConditionError
from .patterns import PatternError, compile_pattern
from .predicates import (
    ARRAY_TYPES,
    NUMBER_TYPES,
    Number,
    Predicate,
    all_of,
    always,
    any_of,
    equals,
    field,
    field_is,
    folded_equals,
    is_none,
    is_not_none,
    is_operator_object,
    js_truthy,
    membership,
    negate,
    never,
    not_equals,
    text_comparison,
    to_number,
    type_name,
)
from .versions import js_number_string, padded_version

__all__ = [
    "LOGICAL_OPERATORS",
    "TYPE_NAMES",
    "VALUE_OPERATORS",
    "compile_condition",
    "condition_paths",
    "evaluate_condition",
]

Path = tuple[str | int, ...]
OperatorCompiler = Callable[["_Compiler", Any, Path], Predicate]

# Answers a pattern keeps, for texts of at most REMEMBERED_TEXT characters.
REMEMBERED_ANSWERS = 128
REMEMBERED_TEXT = 100

# What $type can test for.
TYPE_NAMES = ("string", "number", "boolean", "array", "object", "null")


def compile_condition(
    condition: Mapping[str, Any] | None,
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
    *,
    strict: bool = False,
) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a condition once into a function of the attributes that never raises.

    `None` and ``{}`` match everyone. `saved_groups` maps the ids used by ``$inGroup`` and
    ``$notInGroup`` to their member values. With `strict`, anything GrowthBook would silently
    evaluate as false (unknown operators, invalid regexes, malformed operands, unknown saved
    groups, operands that can never match) raises `ConditionError` instead.
    """
    if condition is None:
        return always
    compiler = _Compiler(saved_groups or {}, strict)
    try:
        root = compiler.condition(condition, ())
    except RecursionError:
        if strict:
            raise ConditionError((), "condition is nested too deeply") from None
        return never
    if compiler.broken:
        return never
    if root is always or root is never:
        return root
    parts = compiler.top_parts
    if len(parts) == 1:
        (part,) = parts

        def evaluate_one(attributes: Mapping[str, Any]) -> bool:
            try:
                if part(attributes):  # noqa: SIM103 - bool() would cost a call per evaluation
                    return True
                return False
            except Exception:  # as in evaluate below
                return False

        return evaluate_one

    def evaluate(attributes: Mapping[str, Any]) -> bool:
        try:
            # The top-level all_of, inlined here to save a call per evaluation.
            for part in parts:  # noqa: SIM110
                if not part(attributes):
                    return False
            return True
        except Exception:
            # Attribute values come from visitors; a value no one foresaw must not become a 5xx.
            return False

    return evaluate


def evaluate_condition(
    condition: Mapping[str, Any] | None,
    attributes: Mapping[str, Any],
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
) -> bool:
    """Evaluate a condition once (non-strict); compile it with `compile_condition` to reuse it."""
    return compile_condition(condition, saved_groups)(attributes)


def condition_paths(condition: Mapping[str, Any] | None) -> list[tuple[str, str, Any]]:
    """The ``(attribute path, operator, operand)`` leaves of a condition, top-down.

    A plain value is reported as ``"$eq"``. Leaves under ``$not`` and ``$nor`` are left out:
    they hold when the visitor does *not* match them, so they explain nothing.
    """
    leaves: list[tuple[str, str, Any]] = []
    _collect_leaves(condition, leaves)
    return leaves


def _collect_leaves(condition: Any, leaves: list[tuple[str, str, Any]]) -> None:
    if not isinstance(condition, Mapping):
        return
    for key, value in condition.items():
        if key in ("$and", "$or"):
            if isinstance(value, ARRAY_TYPES):
                for branch in value:
                    _collect_leaves(branch, leaves)
        elif key in ("$not", "$nor") or not isinstance(key, str):
            continue
        elif is_operator_object(value):
            leaves.extend((key, op, operand) for op, operand in value.items() if op != "$not")
        else:
            leaves.append((key, "$eq", value))


class _Compiler:
    __slots__ = ("broken", "groups", "strict", "top_parts")

    def __init__(self, groups: Mapping[str, Any], strict: bool) -> None:
        self.groups = groups
        self.strict = strict
        self.broken = False
        self.top_parts: tuple[Predicate, ...] = ()

    def error(self, path: Path, message: str) -> Predicate:
        """A part GrowthBook cannot evaluate: the whole condition will never match."""
        if self.strict:
            raise ConditionError(path, message)
        self.broken = True
        return never

    def lint(self, path: Path, message: str) -> None:
        """A part GrowthBook evaluates, but that is almost certainly not what was meant."""
        if self.strict:
            raise ConditionError(path, message)

    def condition(self, condition: Any, path: Path) -> Predicate:
        if not isinstance(condition, Mapping):
            return self.error(path, f"expected a condition object, got {type_name(condition)}")
        parts: list[Predicate] = []
        for key, value in condition.items():
            if not isinstance(key, str):
                parts.append(self.error((*path, str(key)), "attribute paths must be strings"))
                continue
            logical = _LOGICAL.get(key)
            if logical is not None:
                parts.append(logical(self, value, (*path, key)))
                continue
            if key.startswith("$"):
                self.lint(
                    (*path, key),
                    f"unknown operator {key!r}: attribute names never start with '$', and "
                    f"only $and, $or, $nor and $not combine conditions{_near(key, _LOGICAL)}",
                )
            if isinstance(value, str):
                parts.append(field_is(key, value))
            else:
                parts.append(field(key, self.value(value, (*path, key))))
        if not path:
            self.top_parts = tuple(p for p in parts if p is not always)
        return all_of(parts)

    def conditions(self, operand: Any, path: Path) -> list[Predicate] | None:
        if not isinstance(operand, ARRAY_TYPES):
            self.error(path, f"expects a list of conditions, got {type_name(operand)}")
            return None
        return [self.condition(item, (*path, i)) for i, item in enumerate(operand)]

    def value(self, expected: Any, path: Path) -> Predicate:
        if isinstance(expected, Mapping) and expected:
            operators = [k for k in expected if isinstance(k, str) and k.startswith("$")]
            if len(operators) == len(expected):
                return all_of([self.operator(k, arg, (*path, k)) for k, arg in expected.items()])
            if operators:
                self.lint(
                    path,
                    f"mixes operators ({', '.join(operators)}) with plain keys, so it "
                    "is compared as a literal object and the operators do nothing",
                )
        return equals(expected)

    def operator(self, name: str, operand: Any, path: Path) -> Predicate:
        compile_operator = _OPERATORS.get(name)
        if compile_operator is None:
            if name in _LOGICAL:
                return self.error(
                    path, f"{name} combines whole conditions; it cannot test an attribute's value"
                )
            return self.error(path, f"unknown operator {name!r}{_near(name, _OPERATORS)}")
        return compile_operator(self, operand, path)

    def group_values(self, group_id: Any, path: Path) -> Sequence[Any] | None:
        if not isinstance(group_id, str):
            self.error(path, f"expects a saved group id, got {type_name(group_id)}")
            return None
        if group_id not in self.groups:
            self.lint(path, f"unknown saved group {group_id!r}")
            return ()
        entry = self.groups[group_id]
        if isinstance(entry, Mapping) and entry.get("type") == "list":
            entry = entry.get("values")
        if isinstance(entry, (*ARRAY_TYPES, set, frozenset)):
            return tuple(entry)
        self.error(path, f"saved group {group_id!r} is not a list of values")
        return None


def _near(name: str, known: Mapping[str, Any]) -> str:
    """ "; did you mean '$eq'?" for a near miss such as ``$eqq``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# Operators: one small compiler each, found through the _OPERATORS table --------------------


def _op_eq(c: _Compiler, operand: Any, path: Path) -> Predicate:
    # Unlike JavaScript's ===, arrays and objects compare by value, so {"$eq": v} always means
    # the same as writing v (condition_paths reports plain values as "$eq").
    return equals(operand)


def _op_ne(c: _Compiler, operand: Any, path: Path) -> Predicate:
    return not_equals(operand)


# For plain numbers, the common case, the comparison is written inline: no extra call.
def _above(bound: Number) -> Predicate:
    return lambda v: v > bound if type(v) in NUMBER_TYPES else to_number(v) > bound


def _at_least(bound: Number) -> Predicate:
    return lambda v: v >= bound if type(v) in NUMBER_TYPES else to_number(v) >= bound


def _below(bound: Number) -> Predicate:
    return lambda v: v < bound if type(v) in NUMBER_TYPES else to_number(v) < bound


def _at_most(bound: Number) -> Predicate:
    return lambda v: v <= bound if type(v) in NUMBER_TYPES else to_number(v) <= bound


def _comparison(
    compare: Callable[[Any, Any], bool], number_test: Callable[[Number], Predicate]
) -> OperatorCompiler:
    def compile_comparison(c: _Compiler, operand: Any, path: Path) -> Predicate:
        if isinstance(operand, str):
            return text_comparison(compare, operand)
        if not isinstance(operand, (int, float)) or isinstance(operand, bool):
            c.lint(path, f"expects a number or a string, got {type_name(operand)}")
            if isinstance(operand, (Mapping, *ARRAY_TYPES)):
                return never
        return number_test(to_number(operand))

    return compile_comparison


def _version_comparison(compare: Callable[[str, str], bool]) -> OperatorCompiler:
    def compile_version(c: _Compiler, operand: Any, path: Path) -> Predicate:
        if not isinstance(operand, (str, int, float)) or isinstance(operand, bool):
            c.lint(path, f'expects a version such as "1.2.3", got {type_name(operand)}')
        bound = padded_version(operand)
        return lambda value: compare(padded_version(value), bound)

    return compile_version


def _list_operand(c: _Compiler, operand: Any, path: Path) -> bool:
    if isinstance(operand, ARRAY_TYPES):
        return True
    c.error(path, f"expects a list, got {type_name(operand)}")
    return False


def _membership_operator(fold: bool, inverted: bool) -> OperatorCompiler:
    def compile_membership(c: _Compiler, operand: Any, path: Path) -> Predicate:
        if not _list_operand(c, operand, path):
            return never
        contains = membership(operand, fold)
        return negate(contains) if inverted else contains

    return compile_membership


def _group_operator(inverted: bool) -> OperatorCompiler:
    def compile_group(c: _Compiler, operand: Any, path: Path) -> Predicate:
        values = c.group_values(operand, path)
        if values is None:
            return never
        contains = membership(values, fold=False)
        return negate(contains) if inverted else contains

    return compile_group


def _all_operator(fold: bool) -> OperatorCompiler:
    def compile_all(c: _Compiler, operand: Any, path: Path) -> Predicate:
        if not _list_operand(c, operand, path):
            return never
        wanted = tuple(
            folded_equals(item.lower())
            if fold and isinstance(item, str)
            else c.value(item, (*path, i))
            for i, item in enumerate(operand)
        )

        def contains_all(value: Any) -> bool:
            if not isinstance(value, ARRAY_TYPES):
                return False
            return all(any(want(element) for element in value) for want in wanted)

        return contains_all

    return compile_all


def _op_elem_match(c: _Compiler, operand: Any, path: Path) -> Predicate:
    if not isinstance(operand, Mapping):
        return c.error(path, f"expects a condition object, got {type_name(operand)}")
    if not operand:
        c.lint(path, "an empty $elemMatch matches any array with a non-null element")
    on_value = is_operator_object(operand) and not any(k in _LOGICAL for k in operand)
    check = c.value(operand, path) if on_value else c.condition(operand, path)

    def elem_match(value: Any) -> bool:
        if not isinstance(value, ARRAY_TYPES):
            return False
        for element in value:  # noqa: SIM110
            if element is not None and check(element):
                return True
        return False

    return elem_match


def _op_size(c: _Compiler, operand: Any, path: Path) -> Predicate:
    is_number = isinstance(operand, (int, float)) and not isinstance(operand, bool)
    if not is_number and not is_operator_object(operand):
        c.lint(
            path, f'expects a number or operators such as {{"$gt": 2}}, got {type_name(operand)}'
        )
    check = c.value(operand, path)
    return lambda value: isinstance(value, ARRAY_TYPES) and check(len(value))


def _op_exists(c: _Compiler, operand: Any, path: Path) -> Predicate:
    if not isinstance(operand, bool):
        c.lint(path, f"expects true or false, got {type_name(operand)}")
    return is_not_none if js_truthy(operand) else is_none


def _op_type(c: _Compiler, operand: Any, path: Path) -> Predicate:
    if operand not in TYPE_NAMES:
        c.lint(path, f"unknown type {operand!r}; expected one of {', '.join(TYPE_NAMES)}")
        return never
    return lambda value: type_name(value) == operand


def _regex_operator(ignore_case: bool, inverted: bool) -> OperatorCompiler:
    def compile_regex(c: _Compiler, operand: Any, path: Path) -> Predicate:
        if not isinstance(operand, str):
            return c.error(path, f"expects a pattern string, got {type_name(operand)}")
        try:
            occurs_in = compile_pattern(operand, ignore_case=ignore_case)
        except PatternError as exc:
            return c.error(path, str(exc))

        # Visitors repeat the same few texts (a source, a device), so answers are kept.
        answers: dict[str, bool] = {}

        def matches(value: Any) -> bool:
            if type(value) is str:
                answer = answers.get(value)
                if answer is None:
                    answer = occurs_in(value)
                    if len(value) <= REMEMBERED_TEXT:
                        if len(answers) >= REMEMBERED_ANSWERS:
                            answers.clear()  # rarely; single dict operations are thread-safe
                        answers[value] = answer
                return answer
            if not isinstance(value, str):
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    return False
                value = js_number_string(value)
            return occurs_in(value)

        return negate(matches) if inverted else matches

    return compile_regex


def _op_not(c: _Compiler, operand: Any, path: Path) -> Predicate:
    return negate(c.value(operand, path))


_OPERATORS: dict[str, OperatorCompiler] = {
    "$eq": _op_eq,
    "$ne": _op_ne,
    "$gt": _comparison(operator.gt, _above),
    "$gte": _comparison(operator.ge, _at_least),
    "$lt": _comparison(operator.lt, _below),
    "$lte": _comparison(operator.le, _at_most),
    "$veq": _version_comparison(operator.eq),
    "$vne": _version_comparison(operator.ne),
    "$vgt": _version_comparison(operator.gt),
    "$vgte": _version_comparison(operator.ge),
    "$vlt": _version_comparison(operator.lt),
    "$vlte": _version_comparison(operator.le),
    "$in": _membership_operator(fold=False, inverted=False),
    "$nin": _membership_operator(fold=False, inverted=True),
    "$ini": _membership_operator(fold=True, inverted=False),
    "$nini": _membership_operator(fold=True, inverted=True),
    "$inGroup": _group_operator(inverted=False),
    "$notInGroup": _group_operator(inverted=True),
    "$all": _all_operator(fold=False),
    "$alli": _all_operator(fold=True),
    "$elemMatch": _op_elem_match,
    "$size": _op_size,
    "$exists": _op_exists,
    "$type": _op_type,
    "$regex": _regex_operator(ignore_case=False, inverted=False),
    "$regexi": _regex_operator(ignore_case=True, inverted=False),
    "$notRegex": _regex_operator(ignore_case=False, inverted=True),
    "$notRegexi": _regex_operator(ignore_case=True, inverted=True),
    "$not": _op_not,
}


# Logical operators combine whole conditions ------------------------------------------------


def _op_and(c: _Compiler, operand: Any, path: Path) -> Predicate:
    parts = c.conditions(operand, path)
    return never if parts is None else all_of(parts)


def _op_or(c: _Compiler, operand: Any, path: Path) -> Predicate:
    parts = c.conditions(operand, path)
    if parts is None:
        return never
    return any_of(parts) if parts else always


def _op_nor(c: _Compiler, operand: Any, path: Path) -> Predicate:
    # GrowthBook treats an empty $nor as "not (empty $or)": it matches no one.
    return negate(_op_or(c, operand, path))


def _op_not_condition(c: _Compiler, operand: Any, path: Path) -> Predicate:
    return negate(c.condition(operand, path))


_LOGICAL: dict[str, OperatorCompiler] = {
    "$and": _op_and,
    "$or": _op_or,
    "$nor": _op_nor,
    "$not": _op_not_condition,
}

# The operator names, for whoever describes conditions (the campaign file's JSON Schema).
VALUE_OPERATORS = tuple(_OPERATORS)
LOGICAL_OPERATORS = tuple(_LOGICAL)
