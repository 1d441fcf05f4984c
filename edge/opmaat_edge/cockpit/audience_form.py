"""The audience builder as an HTML form: rows of attributes, tests and values, nested groups,
and the buttons that add and remove rows, groups and tests.

Every part of the tree (`opmaat_edge.cockpit.audience_tree`) has an id in the form: the
condition is ``a``, its entries ``a.0``, ``a.1``; a group's conditions ``a.1.0``; their entries
``a.1.0.0``. A rule's fields are ``ID.attr`` (the described path, ``<category>`` and the like
left in), ``ID.name`` (what such a wildcard stands for), ``ID.op.N`` and ``ID.v.N``; a raw
entry's is ``ID.raw`` (JSON); every entry says its kind in ``ID.k``, every condition is marked
by ``ID.c``. Values are read and shown as `opmaat_edge.cockpit.audience_values` says; a rule
it cannot show exactly is shown as raw JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opmaat_edge.cockpit.audience import describe_audience
from opmaat_edge.cockpit.audience_tree import (
    GROUPS,
    IS,
    OPERATORS,
    Cond,
    Entry,
    Group,
    Negation,
    Raw,
    Rule,
    Test,
    entry_item,
    rule_value,
    to_condition,
)
from opmaat_edge.cockpit.audience_values import (
    BY_PATH,
    OTHER,
    join_path,
    operand_kind,
    operators,
    read_value,
    shown_as_rule,
    split_path,
    value_text,
)

ROOT = "a"
MAX_DEPTH = 8
MAX_PARTS = 200
GROUP_WORDS = {"$and": "all of", "$or": "any of", "$nor": "none of"}


# --- the form's view of a tree ---------------------------------------------------------------


@dataclass
class View:
    """One part of the tree as the template draws it."""

    id: str
    kind: str  # "cond", "rule", "raw", "$and", "$or", "$nor", "not"
    parts: list[View] = field(default_factory=list)
    attr: str = ""
    name: str = ""
    wildcard: str | None = None
    tests: list[dict[str, Any]] = field(default_factory=list)
    raw: str = ""
    words: str = ""
    error: str = ""


def view(cond: Cond, errors: Mapping[str, str], cid: str = ROOT) -> View:
    """What the template draws for ``cond`` (ids as the module's docstring says)."""
    parts = [_entry_view(entry, f"{cid}.{n}", errors) for n, entry in enumerate(cond.entries)]
    return View(cid, "cond", parts, error=errors.get(cid, ""))


def _entry_view(entry: Entry, eid: str, errors: Mapping[str, str]) -> View:
    if isinstance(entry, Group):
        items = [view(c, errors, f"{eid}.{n}") for n, c in enumerate(entry.items)]
        return View(eid, entry.op, items, error=errors.get(eid, ""))
    if isinstance(entry, Negation):
        return View(eid, "not", [view(entry.item, errors, f"{eid}.0")], error=errors.get(eid, ""))
    if isinstance(entry, Rule) and (shown_as_rule(entry) or f"{eid}.k" in errors or _fresh(entry)):
        attr, name = split_path(entry.path)
        choice = BY_PATH.get(attr)
        tests = []
        for t, test in enumerate(entry.tests):
            text = (
                test.text if test.text is not None else value_text(test.op, entry.path, test.value)
            )
            tests.append(
                {
                    "op": test.op,
                    "text": text if text is not None else str(test.value),
                    "ops": operators(entry.path, test.op),
                    "kind": operand_kind(test.op, entry.path) if entry.path else "string",
                    "error": errors.get(f"{eid}.v.{t}", ""),
                }
            )
        words = describe_audience({entry.path: rule_value(entry)}) if entry.path else ""
        return View(
            eid,
            "rule",
            attr=attr,
            name=name,
            wildcard=choice.wildcard if choice is not None else (None if attr != OTHER else "path"),
            tests=tests,
            words=words,
            error=errors.get(eid, "") or errors.get(f"{eid}.attr", ""),
        )
    key, value = entry_item(entry)
    raw = json.dumps({key: value}, ensure_ascii=False)
    return View(
        eid, "raw", raw=raw, words=describe_audience({key: value}), error=errors.get(eid, "")
    )


def _fresh(rule: Rule) -> bool:
    # A row from the form (or a new one): shown as typed, its problems said beside it.
    return not rule.path or any(t.text is not None for t in rule.tests)


# --- reading the form ------------------------------------------------------------------------


class _Reader:
    def __init__(self, form: Mapping[str, list[str]]) -> None:
        self.form = form
        self.errors: dict[str, str] = {}
        self.parts = 0
        self.children: dict[str, list[int]] = {}
        for key in form:
            head, _, last = key.rpartition(".")
            if last in ("k", "c"):
                parent, _, index = head.rpartition(".")
                if index.isdigit() and len(index) < 4:
                    self.children.setdefault(parent, []).append(int(index))

    def get(self, name: str) -> str:
        values = self.form.get(name)
        return values[0] if values else ""

    def cond(self, cid: str, depth: int) -> Cond:
        entries: list[Entry] = []
        seen: dict[str, str] = {}
        for n in sorted(set(self.children.get(cid, []))):
            eid = f"{cid}.{n}"
            if not self.get(f"{eid}.k"):
                continue
            self.parts += 1
            if self.parts > MAX_PARTS or depth > MAX_DEPTH:
                self.errors[cid] = f"at most {MAX_PARTS} parts, {MAX_DEPTH} groups deep"
                break
            entry = self.entry(eid, depth)
            if entry is None:
                continue
            key = entry_item(entry)[0] if not isinstance(entry, Rule) else entry.path
            if key and key in seen:
                self.errors[eid] = (
                    f"{key} is tested already in this group: add a test to that row, or put "
                    "the two in an “any of” or “all of” group"
                )
            seen[key] = eid
            entries.append(entry)
        return Cond(entries)

    def entry(self, eid: str, depth: int) -> Entry | None:
        kind = self.get(f"{eid}.k")
        if kind in GROUPS:
            conds = [
                self.cond(f"{eid}.{n}", depth + 1)
                for n in sorted(set(self.children.get(eid, [])))
                if self.get(f"{eid}.{n}.c")
            ]
            return Group(kind, conds)
        if kind == "not":
            return Negation(self.cond(f"{eid}.0", depth + 1))
        if kind == "raw":
            return self.raw(eid)
        if kind == "rule":
            return self.rule(eid)
        self.errors[eid] = "unknown kind of row"
        return None

    def raw(self, eid: str) -> Raw:
        text = self.get(f"{eid}.raw")
        try:
            value = json.loads(text)
        except ValueError as exc:
            self.errors[eid] = f"not JSON: {exc}"
            return Raw("", text)
        if not isinstance(value, dict) or len(value) != 1:
            self.errors[eid] = 'one condition as a JSON object, like {"geo.country": "NL"}'
            return Raw("", text)
        ((key, inner),) = value.items()
        return Raw(key, inner)

    def rule(self, eid: str) -> Rule:
        attr, name = self.get(f"{eid}.attr"), self.get(f"{eid}.name").strip()
        path = join_path(attr, name) if attr else ""
        if not attr:
            self.errors[f"{eid}.attr"] = "choose an attribute"
        elif attr != OTHER and attr not in BY_PATH:
            self.errors[f"{eid}.attr"] = "choose an attribute of the list"
            path = ""
        elif (attr == OTHER or BY_PATH[attr].wildcard) and not name:
            self.errors[f"{eid}.attr"] = "say which one (the field beside the attribute)"
        tests = []
        numbers = sorted(
            {
                int(k.rsplit(".", 1)[1])
                for k in self.form
                if k.startswith(f"{eid}.op.") and k.rsplit(".", 1)[1].isdigit()
            }
        )
        for t in numbers:
            op, text = self.get(f"{eid}.op.{t}"), self.get(f"{eid}.v.{t}")
            if op not in OPERATORS:
                self.errors[f"{eid}.v.{t}"] = "choose an operator"
                tests.append(Test(IS, text, text))
                continue
            try:
                value = read_value(op, path, text) if path else text
            except ValueError as exc:
                self.errors[f"{eid}.v.{t}"] = str(exc)
                value = text
            tests.append(Test(op, value, text))
        if not tests:
            tests = [Test(IS, "", "")]
        if len(tests) > 1 and any(t.op == IS for t in tests):
            self.errors[f"{eid}.v.0"] = "“is” stands alone: use “equals” beside other tests"
        ops = [t.op for t in tests]
        if len(set(ops)) < len(ops):
            self.errors[f"{eid}.v.{len(ops) - 1}"] = "this test is on the row already"
        return Rule(path, tests)


def read(form: Mapping[str, list[str]]) -> tuple[Cond, dict[str, str]]:
    """The tree the form holds, and the problems of its fields by field id."""
    reader = _Reader(form)
    if not reader.get(f"{ROOT}.c"):
        return Cond(), {}
    cond = reader.cond(ROOT, 0)
    return cond, reader.errors


def audience_of(cond: Cond) -> dict[str, Any] | None:
    """The campaign's ``audience``: None for every visitor."""
    return to_condition(cond) or None


# --- the buttons -----------------------------------------------------------------------------


def _find(cond: Cond, cid: str, target: str) -> Any:
    """The part of the tree with id ``target`` (None when there is none)."""
    if cid == target:
        return cond
    for n, entry in enumerate(cond.entries):
        eid = f"{cid}.{n}"
        if eid == target:
            return entry
        if not target.startswith(eid + "."):
            continue
        if isinstance(entry, Group):
            for m, item in enumerate(entry.items):
                found = _find(item, f"{eid}.{m}", target)
                if found is not None:
                    return found
        elif isinstance(entry, Negation):
            return _find(entry.item, f"{eid}.0", target)
    return None


def _parent(target: str) -> tuple[str, int]:
    head, _, index = target.rpartition(".")
    return head, int(index) if index.isdigit() else -1


def act(cond: Cond, action: str) -> Cond:
    """Apply a builder button (``add-rule:ID``, ``add-group:ID:$or``, ``add-not:ID``,
    ``add-option:ID``, ``add-test:ID``, ``remove-test:ID:N``, ``remove:ID``, ``raw:ID``);
    an action naming nothing changes nothing."""
    verb, _, rest = action.partition(":")
    target, _, extra = rest.partition(":")
    found = _find(cond, ROOT, target)
    if verb == "add-rule" and isinstance(found, Cond):
        found.entries.append(Rule())
    elif verb == "add-group" and isinstance(found, Cond) and extra in GROUPS:
        found.entries.append(Group(extra, [Cond([Rule()]), Cond([Rule()])]))
    elif verb == "add-not" and isinstance(found, Cond):
        found.entries.append(Negation(Cond([Rule()])))
    elif verb == "add-option" and isinstance(found, Group):
        found.items.append(Cond([Rule()]))
    elif verb == "add-test" and isinstance(found, Rule):
        if len(found.tests) == 1 and found.tests[0].op == IS:
            found.tests[0] = Test("$eq", found.tests[0].value, found.tests[0].text)
        found.tests.append(Test("$ne", "", ""))
    elif verb == "remove-test" and isinstance(found, Rule) and extra.isdigit():
        if len(found.tests) > 1 and int(extra) < len(found.tests):
            del found.tests[int(extra)]
    elif verb == "raw" and isinstance(found, Rule):
        _replace(cond, target, Raw(*entry_item(found)))
    elif verb == "remove":
        parent_id, index = _parent(target)
        parent = _find(cond, ROOT, parent_id)
        if isinstance(parent, Cond) and 0 <= index < len(parent.entries):
            del parent.entries[index]
        elif isinstance(parent, Group) and 0 <= index < len(parent.items):
            del parent.items[index]
    return cond


def _replace(cond: Cond, target: str, entry: Entry) -> None:
    parent_id, index = _parent(target)
    parent = _find(cond, ROOT, parent_id)
    if isinstance(parent, Cond) and 0 <= index < len(parent.entries):
        parent.entries[index] = entry


def filled_in(cond: Cond) -> Cond:
    """``cond`` without the rows that have no attribute yet (for words and the estimate while
    the marketer builds)."""
    entries: list[Entry] = []
    for entry in cond.entries:
        if isinstance(entry, Rule) and not entry.path:
            continue
        if isinstance(entry, Group):
            entry = Group(entry.op, [filled_in(c) for c in entry.items])
        elif isinstance(entry, Negation):
            entry = Negation(filled_in(entry.item))
        entries.append(entry)
    return Cond(entries)


def words(cond: Cond) -> str:
    return describe_audience(audience_of(filled_in(cond)))
