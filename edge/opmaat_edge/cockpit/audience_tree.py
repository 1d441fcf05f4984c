"""An audience as the cockpit's builder shows it: a tree that mirrors the GrowthBook condition
exactly, so turning a condition into a tree and back gives the very same condition, and a tree
the builder made gives the same tree back.

A condition (a mapping) is a `Cond`: its entries, in order, all of which must hold. An entry
is a `Rule` (one attribute with one or more tests: ``{"visitor.visits": {"$gte": 2, "$lte":
5}}`` is one rule with two), a `Group` (``$and``, ``$or`` or ``$nor`` over conditions), a
`Negation` (``$not``) or, for what the builder has no form for (``$elemMatch`` with a
condition inside, an operand of an unexpected shape), a `Raw` entry kept as it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opmaat.predicates import is_operator_object
from opmaat_edge.cockpit.yaml_edit import same

IS = "is"  # a plain value: {"geo.country": "NL"}
GROUPS = ("$and", "$or", "$nor")
# The operators the builder has fields for; "$elemMatch:id" is {"$elemMatch": {"id": value}}.
SCALAR_OPS: tuple[str, ...] = (
    *("$eq", "$ne", "$gt", "$gte", "$lt", "$lte"),
    *("$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte"),
    *("$regex", "$regexi", "$notRegex", "$notRegexi"),
    *("$inGroup", "$notInGroup", "$type"),
)
LIST_OPS = ("$in", "$nin", "$ini", "$nini", "$all", "$alli")
ITEM_FIELDS = ("id", "category", "name")
ITEM_OPS = tuple(f"$elemMatch:{name}" for name in ITEM_FIELDS)
OPERATORS = (IS, *SCALAR_OPS, *LIST_OPS, "$exists", "$size", *ITEM_OPS)


@dataclass
class Test:
    """One operator and its operand; ``text`` is what the form had (shown again as typed)."""

    op: str
    value: Any = None
    text: str | None = field(default=None, compare=False)


@dataclass
class Rule:
    path: str = ""
    tests: list[Test] = field(default_factory=lambda: [Test(IS, "", "")])


@dataclass
class Raw:
    key: str
    value: Any


@dataclass
class Cond:
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Group:
    op: str
    items: list[Cond] = field(default_factory=list)


@dataclass
class Negation:
    item: Cond = field(default_factory=Cond)


Entry = Rule | Raw | Group | Negation


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _test(op: str, operand: Any) -> Test | None:
    if op in SCALAR_OPS and _scalar(operand):
        return Test(op, operand)
    if op in LIST_OPS and isinstance(operand, list) and all(_scalar(i) for i in operand):
        return Test(op, list(operand))
    if op in ("$exists", "$size") and _scalar(operand):
        return Test(op, operand)
    if op == "$elemMatch" and isinstance(operand, dict) and len(operand) == 1:
        ((name, value),) = operand.items()
        if name in ITEM_FIELDS and _scalar(value):
            return Test(f"$elemMatch:{name}", value)
    return None


def _rule(path: str, value: Any) -> Rule | None:
    if not is_operator_object(value):
        return Rule(path, [Test(IS, value)])
    tests = [_test(op, operand) for op, operand in value.items()]
    if any(t is None for t in tests):
        return None
    return Rule(path, [t for t in tests if t is not None])


def from_condition(condition: Any) -> Cond:
    """The tree of a condition (a mapping; anything else is an empty condition)."""
    if not isinstance(condition, dict):
        return Cond()
    entries: list[Entry] = []
    for key, value in condition.items():
        entries.append(_entry(key, value))
    return Cond(entries)


def _entry(key: Any, value: Any) -> Entry:
    if key in GROUPS and isinstance(value, list) and all(isinstance(c, dict) for c in value):
        return Group(key, [from_condition(c) for c in value])
    if key == "$not" and isinstance(value, dict):
        return Negation(from_condition(value))
    if isinstance(key, str) and key and not key.startswith("$"):
        rule = _rule(key, value)
        if rule is not None and same(rule_value(rule), value):
            return rule
    return Raw(str(key), value)


def rule_value(rule: Rule) -> Any:
    """What the rule says of its attribute, as the condition writes it."""
    if len(rule.tests) == 1 and rule.tests[0].op == IS:
        return rule.tests[0].value
    out: dict[str, Any] = {}
    for test in rule.tests:
        if test.op.startswith("$elemMatch:"):
            out["$elemMatch"] = {test.op.split(":", 1)[1]: test.value}
        else:
            out[test.op] = test.value
    return out


def to_condition(cond: Cond) -> dict[str, Any]:
    """The condition of a tree (checked with `problems` first: a key twice keeps the last)."""
    out: dict[str, Any] = {}
    for entry in cond.entries:
        key, value = entry_item(entry)
        out[key] = value
    return out


def entry_item(entry: Entry) -> tuple[str, Any]:
    if isinstance(entry, Rule):
        return entry.path, rule_value(entry)
    if isinstance(entry, Raw):
        return entry.key, entry.value
    if isinstance(entry, Group):
        return entry.op, [to_condition(c) for c in entry.items]
    return "$not", to_condition(entry.item)
