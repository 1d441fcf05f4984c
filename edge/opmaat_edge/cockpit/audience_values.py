"""What the audience builder knows of attributes and their values: the attributes it offers
(from the profile's description, `opmaat.profile_reference`, by section), the operators that fit
each one's type, and values as text — read by the attribute's type: text as typed, numbers,
true/false, a list as ``DE, AT`` (or JSON, ``["a,b", "c"]``, when an item holds a comma). A
value the form cannot give back exactly is not shown as text (the builder shows its condition
as JSON instead), so nothing is ever changed by showing it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from opmaat.conditions import TYPE_NAMES
from opmaat.profile_reference import ATTRIBUTES, WILDCARDS, Attribute, lookup
from opmaat_edge.cockpit.audience_tree import IS, ITEM_OPS, LIST_OPS, OPERATORS, Rule
from opmaat_edge.cockpit.yaml_edit import same

OTHER = "(other)"  # an attribute path the description does not have
SECTIONS = (
    ("Where", ("geo",)),
    ("Device", ("device",)),
    ("Arrival", ("referrer", "utm")),
    ("Behaviour and interests", ("visitor", "session", "page", "interests", "prefs")),
    ("Cart and orders", ("cart", "orders", "viewed_products")),
    ("Events and milestones", ("events", "milestone")),
    ("Segments and customers", ("segments", "customer", "rfm", "purl")),
    ("Journey and intent", ("intent", "journey")),
    ("Time", ("time",)),
    ("Consent and responses", ("consent", "response")),
)
LABELS = {
    IS: "is",
    "$eq": "equals",
    "$ne": "is not",
    "$gt": "more than",
    "$gte": "at least",
    "$lt": "less than",
    "$lte": "at most",
    "$in": "is one of",
    "$nin": "is none of",
    "$ini": "is one of (any case)",
    "$nini": "is none of (any case)",
    "$all": "includes all of",
    "$alli": "includes all of (any case)",
    "$exists": "is known or not",
    "$size": "has this many items",
    "$regex": "matches the pattern",
    "$regexi": "matches the pattern (any case)",
    "$notRegex": "does not match the pattern",
    "$notRegexi": "does not match the pattern (any case)",
    "$veq": "is version",
    "$vne": "is not version",
    "$vgt": "is a version after",
    "$vgte": "is version or later",
    "$vlt": "is a version before",
    "$vlte": "is version or earlier",
    "$inGroup": "is in the saved segment",
    "$notInGroup": "is not in the saved segment",
    "$type": "has the type",
    "$elemMatch:id": "has a product with id",
    "$elemMatch:category": "has a product in category",
    "$elemMatch:name": "has a product named",
}
TIME_LABELS = {"$gt": "after", "$gte": "at or after", "$lt": "before", "$lte": "at or before"}
LIST_LABELS = {"$in": "includes any of", "$nin": "includes none of"}
_COMPARE = ("$gt", "$gte", "$lt", "$lte")
_PATTERNS = ("$regex", "$regexi", "$notRegex", "$notRegexi")
TYPE_OPS = {
    "string": (IS, "$ne", "$in", "$nin", "$ini", "$nini", *_PATTERNS, "$exists"),
    "enum": (IS, "$ne", "$in", "$nin", "$exists"),
    "time": (*_COMPARE, "$exists"),
    "number": (IS, "$ne", *_COMPARE, "$in", "$nin", "$exists"),
    "integer": (IS, "$ne", *_COMPARE, "$in", "$nin", "$exists"),
    "boolean": (IS, "$ne", "$exists"),
    "scalar": (IS, "$ne", "$in", "$nin", *_COMPARE, "$regex", "$exists"),
    "list": ("$in", "$nin", "$all", "$size", "$exists"),
    "items": (*ITEM_OPS, "$size", "$exists"),
    "json": OPERATORS,
}
_INT = re.compile(r"[-+]?[0-9]{1,15}")


# --- attributes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    path: str  # as described: "interests.<category>"
    label: str
    wildcard: str | None  # the kind of name it needs


def _label(attribute: Attribute) -> str:
    text = attribute.label or attribute.path
    for name in WILDCARDS:
        text = text.replace("{" + name + "}", "…")
    return text


def _choices() -> tuple[tuple[str, tuple[Choice, ...]], ...]:
    out = []
    for title, heads in SECTIONS:
        found = []
        for attribute in ATTRIBUTES:
            if attribute.path.split(".")[0] not in heads or attribute.type == "object":
                continue
            wild = next((p[1:-1] for p in attribute.path.split(".") if p.startswith("<")), None)
            found.append(Choice(attribute.path, _label(attribute), wild))
        out.append((title, tuple(found)))
    return tuple(out)


CHOICES = _choices()
BY_PATH = {c.path: c for _, group in CHOICES for c in group}


def split_path(path: str) -> tuple[str, str]:
    """The described attribute a path is (``interests.<category>``) and its wildcard's name
    (``running``); ``(OTHER, path)`` for a path the description does not have."""
    found = lookup(path) if path else None
    attribute = found.attribute if found is not None else None
    if attribute is None or attribute.path not in BY_PATH:
        return (OTHER, path) if path else ("", "")
    return attribute.path, next(iter(found.bindings.values()), "") if found else ""


def join_path(attr: str, name: str) -> str:
    if attr == OTHER:
        return name
    choice = BY_PATH.get(attr)
    if choice is None or choice.wildcard is None:
        return attr
    return attr.replace(f"<{choice.wildcard}>", name)


def value_type(path: str) -> str:
    """How values of ``path`` are typed: a profile type, "enum", "items" (a list of
    products), or "json" (the description does not have it)."""
    found = lookup(path) if path else None
    if found is None:
        return "json"
    attribute = found.attribute
    if attribute is None:
        return "json" if found.type in ("object", "scalar") else found.type
    if attribute.type == "list":
        return "items" if attribute.items == "object" else "list"
    if attribute.values:
        return "enum"
    return attribute.type


def item_type(path: str) -> str:
    found = lookup(path) if path else None
    attribute = found.attribute if found is not None else None
    if attribute is not None and attribute.type == "list":
        return attribute.items or "scalar"
    kind = value_type(path)
    return "string" if kind in ("enum", "time") else kind


# --- values as text --------------------------------------------------------------------------


def _scalar_text(value: Any, kind: str) -> str | None:
    if kind in ("string", "enum", "time"):
        if not isinstance(value, str):
            return None
        return '""' if value == "" else value
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return str(value) if isinstance(value, int) else repr(value)
    if kind == "boolean":
        return ("true" if value else "false") if isinstance(value, bool) else None
    # text, a number or true/false: text that would read as something else is quoted
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value if value and value == value.strip() else json.dumps(value)
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _scalar_value(text: str, kind: str) -> Any:
    text = text.strip()
    if kind in ("string", "enum", "time"):
        return "" if text == '""' else text
    if kind in ("number", "integer"):
        if _INT.fullmatch(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            raise ValueError("a number, like 3 or 2.5") from None
        if not math.isfinite(number):
            raise ValueError("a number, like 3 or 2.5")
        return number
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError("true or false")
        return text == "true"
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict | list):
        return text
    return value


def operand_kind(op: str, path: str) -> str:
    """What an operator's operand is: "list", "bool", "size", "type", "json", or a profile
    type for one value."""
    kind = value_type(path)
    if op in LIST_OPS:
        return "list"
    if op == "$exists":
        return "bool"
    if op == "$size":
        return "size"
    if op == "$type":
        return "type"
    if op in _PATTERNS or op.startswith("$v") or op in ("$inGroup", "$notInGroup"):
        return "string"
    if op in ITEM_OPS:
        return "string"
    if kind in ("list", "items", "json"):
        return "json" if op in (IS, "$eq", "$ne") else "scalar"
    if op in _COMPARE and kind == "enum":
        return "string"
    return kind


def value_text(op: str, path: str, value: Any) -> str | None:
    """The value as the form shows it; None when the form cannot show it exactly."""
    kind = operand_kind(op, path)
    if kind == "list":
        if not isinstance(value, list):
            return None
        item = item_type(path)
        texts = [_scalar_text(v, item) for v in value]
        if any(t is None for t in texts):
            return None
        shown = [t for t in texts if t is not None]
        if not shown or any("," in t or '"' in t or not t.strip() for t in shown):
            return json.dumps(value, ensure_ascii=False)
        return ", ".join(shown)
    if kind == "bool":
        return ("true" if value else "false") if isinstance(value, bool) else None
    if kind == "size":
        return _scalar_text(value, "integer")
    if kind == "type":
        return value if value in TYPE_NAMES else None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    return _scalar_text(value, kind)


def read_value(op: str, path: str, text: str) -> Any:
    """The value the form's text says; ValueError says what it should look like."""
    kind = operand_kind(op, path)
    text = text.strip()
    if kind == "list":
        item = item_type(path)
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise ValueError('a list like ["a,b", "c"] (JSON)') from None
            if not isinstance(items, list) or any(isinstance(i, dict | list) for i in items):
                raise ValueError('a list of values, like ["a,b", "c"]')
            return items
        items = [part for part in text.split(",") if part.strip()]
        if not items:
            raise ValueError("one or more values, separated by commas")
        return [_scalar_value(part, item) for part in items]
    if kind == "bool":
        return _scalar_value(text, "boolean")
    if kind == "size":
        if not _INT.fullmatch(text) or int(text) < 0:
            raise ValueError("a whole number of items, like 2")
        return int(text)
    if kind == "type":
        if text not in TYPE_NAMES:
            raise ValueError(f"one of {', '.join(TYPE_NAMES)}")
        return text
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError:
            return text
    if not text and kind in ("string", "enum", "time"):
        raise ValueError('a value (write "" for empty text)')
    return _scalar_value(text, kind)


def shown_as_rule(rule: Rule) -> bool:
    """Whether the form can show ``rule`` and read it back exactly."""
    if not rule.path or split_path(rule.path)[0] == "":
        return False
    for test in rule.tests:
        text = value_text(test.op, rule.path, test.value)
        if text is None:
            return False
        try:
            if not same(read_value(test.op, rule.path, text), test.value):
                return False
        except ValueError:
            return False
    return True


def operators(path: str, current: str) -> list[tuple[str, str]]:
    kind = value_type(path)
    ops = list(TYPE_OPS.get(kind, OPERATORS))
    if current and current not in ops:
        ops.append(current)
    labels = {**LABELS, **(TIME_LABELS if kind == "time" else {})}
    labels |= LIST_LABELS if kind == "list" else {}
    return [(op, labels.get(op, op)) for op in ops]
