"""Warnings about what a campaign file reads of the profile, held against its one description
(`opmaat.profile_reference`): attribute paths no profile has, values an attribute never takes,
operators that never match its type, and attributes whose source the file does not set.

They are warnings, not errors: a server caller may pass attributes of its own, so a file that
reads one still runs. `opmaat check` prints them; with ``--strict`` they fail it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError

from opmaat.campaigns.checker import Checker, describe, field_name, hint
from opmaat.campaigns.model import BUILTIN_EVENTS
from opmaat.campaigns.template_sources import TemplateSource, template_sources
from opmaat.campaigns.yamlines import Path as YPath
from opmaat.conditions import TYPE_NAMES
from opmaat.errors import Problem
from opmaat.predicates import is_operator_object, to_number, type_name
from opmaat.profile_reference import SECTIONS, WILDCARDS, Format, Found, lookup, suggest
from opmaat.templates import PROFILE, RAW_UTM, RECOMMENDATIONS, RENDER_OBJECTS, template_reads

_JSON_TYPES = {
    "string": ("string",),
    "time": ("string",),
    "number": ("number",),
    "integer": ("number",),
    "boolean": ("boolean",),
    "scalar": ("string", "number", "boolean"),
    "list": ("array",),
    "object": ("object",),
}
_SAID = {
    "string": "text",
    "time": "a time (ISO 8601 text)",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "scalar": "text, a number or true/false",
    "list": "a list",
    "object": "a section of attributes",
}
_COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
_MEMBERSHIP = ("$in", "$nin", "$ini", "$nini")
_LIST_ONLY = ("$all", "$alli", "$size", "$elemMatch")
_PATTERNS = ("$regex", "$regexi", "$notRegex", "$notRegexi")


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What of the campaign file an attribute's wildcards and sources are held against."""

    campaigns: tuple[str, ...] = ()
    events: tuple[str, ...] = BUILTIN_EVENTS
    columns: tuple[str, ...] = ()
    site: frozenset[str] = frozenset()
    purl: bool = False
    groups: Mapping[str, Any] | None = None
    preferences: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: Any) -> FileFacts:
        top = data if isinstance(data, dict) else {}
        site = _mapping(top.get("site"))
        campaigns = [c for c in _list(top.get("campaigns")) if isinstance(c, dict)]
        goals = [c.get("goal", "click") for c in campaigns]
        events = [*BUILTIN_EVENTS, *_list(site.get("events")), *goals]
        purls = [_mapping(c.get("purl")) for c in campaigns if isinstance(c.get("purl"), dict)]
        return cls(
            campaigns=_texts(c.get("id") for c in campaigns),
            events=_texts(e for e in events if e != "click"),
            columns=_texts(column for p in purls for column in _list(p.get("expose"))),
            site=frozenset(k for k, v in site.items() if v is not None and v != []),
            purl=bool(purls),
            groups=_mapping(top.get("segments")),
            preferences=_texts(_mapping(_mapping(top.get("preferences")).get("fields"))),
        )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if isinstance(v, str)))


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a condition compares: an attribute, or the items of a list attribute."""

    path: str
    type: str
    values: tuple[str, ...] = ()
    format: Format | None = None
    minimum: float | None = None
    maximum: float | None = None


def _shape(found: Found) -> _Shape:
    attribute = found.attribute
    if attribute is None or attribute.type == "list":
        return _Shape(found.path, found.type)
    return _Shape(
        found.path,
        attribute.type,
        attribute.values,
        attribute.format,
        attribute.minimum,
        attribute.maximum,
    )


def _items(found: Found) -> _Shape | None:
    attribute = found.attribute
    if attribute is None or attribute.type != "list":
        return None
    return _Shape(f"an item of {found.path}", attribute.items or "scalar", (), attribute.format)


class ProfileChecks:
    """Checks a campaign file's audiences and templates; every warning goes to ``check``."""

    def __init__(self, check: Checker, facts: FileFacts) -> None:
        self.check = check
        self.facts = facts

    def campaign_file(self, data: Any, shown_dir: Path) -> None:
        """Every audience and template of a parsed campaign file in ``shown_dir``. A campaign
        for server channels only is not warned of sources (its callers pass attributes)."""
        campaigns = data.get("campaigns") if isinstance(data, dict) else None
        webs: list[bool] = []
        for index, spec in enumerate(campaigns if isinstance(campaigns, list) else ()):
            channels = spec.get("channels", ["web"]) if isinstance(spec, dict) else None
            webs.append(not isinstance(channels, list) or "web" in channels)
            if isinstance(spec, dict):
                audience: YPath = ("campaigns", index, "audience")
                self.condition(spec.get("audience"), audience, web=webs[-1])
        for source in template_sources(data, shown_dir, shown_dir.absolute()):
            self.template(source, web=source.campaign is None or webs[source.campaign])

    # Attribute paths, wherever they are read ------------------------------------------------

    def path_problem(self, path: str, *, web: bool) -> tuple[Found | None, str | None]:
        """What ``path`` names, and what is wrong with reading it (None: nothing)."""
        found = lookup(path)
        if found is None:
            near = suggest(path)
            if near is None and "." not in path:
                near = _close(path, SECTIONS)
            said = f"; did you mean '{near}'?" if near else " (docs/profile.md lists them all)"
            return None, f"unknown attribute '{path}'{said}"
        return found, self._binding(found) or (self._source(found) if web else None)

    def _binding(self, found: Found) -> str | None:
        for name, value in found.bindings.items():
            wildcard = WILDCARDS[name]
            if wildcard.format is not None and not wildcard.format.allows(value):
                return (
                    f"'{value}' is not {wildcard.format.name} ({wildcard.format.rule}), "
                    f"so no profile has {found.path}{_format_hint(wildcard.format, value)}"
                )
            known = {
                "name": self.facts.events,
                "campaign": self.facts.campaigns,
                "column": self.facts.columns,
                "preference": self.facts.preferences,
            }.get(name)
            if known is not None and value not in known:
                return (
                    f"{_unknown(name, value)}, so no profile has {found.path}{hint(value, known)}"
                )
        return None

    def _source(self, found: Found) -> str | None:
        attribute = found.attribute
        for need in attribute.needs if attribute is not None else ():
            options = need.split("|")
            if any(self.facts.purl if o == "purl" else o in self.facts.site for o in options):
                continue
            if need == "purl":
                return (
                    f"{found.path} is only set for visitors who followed a personal link, "
                    "and no campaign here has a purl section"
                )
            named = " or ".join(f"site.{option}" for option in options)
            return (
                f"{found.path} comes from {named}, which this file does not set: no visitor has it"
            )
        return None

    # Audiences -------------------------------------------------------------------------------

    def condition(self, condition: Any, path: YPath, *, web: bool) -> None:
        if not isinstance(condition, dict):
            return
        for key, value in condition.items():
            where = (*path, key)
            if key in ("$and", "$or", "$nor"):
                for index, item in enumerate(_list(value)):
                    self.condition(item, (*where, index), web=web)
            elif key == "$not":
                self.condition(value, where, web=web)
            elif isinstance(key, str) and not key.startswith("$"):
                found, problem = self.path_problem(key, web=web)
                if problem is not None:
                    self.check.report(where, problem)
                if found is not None:
                    self._test(found, value, where)

    def _test(self, found: Found, expected: Any, where: YPath) -> None:
        if not is_operator_object(expected):
            self._equal(found, expected, where)
            return
        for name, operand in expected.items():
            self._operator(found, name, operand, (*where, name))

    def _equal(self, found: Found, value: Any, where: YPath, *, negated: bool = False) -> None:
        if found.type == "list" and value is not None and not isinstance(value, list):
            shown = describe(value).strip("'")
            operator = "$nin" if negated else "$in"
            self.check.report(
                where,
                f"{found.path} is a list: a plain value only equals the whole list; "
                f"to match {'none' if negated else 'one'} of its items write "
                f"{{{operator}: [{shown}]}}",
            )
            return
        self._value(_shape(found), value, where)

    def _value(self, shape: _Shape, value: Any, where: YPath, *, fold: bool = False) -> None:
        problem = _value_problem(shape, value, fold=fold)
        if problem is not None:
            self.check.report(where, problem)

    def _operator(self, found: Found, name: str, operand: Any, where: YPath) -> None:
        shape, items = _shape(found), _items(found)
        if name in ("$eq", "$ne"):
            self._equal(found, operand, where, negated=name == "$ne")
        elif name == "$not":
            self._test(found, operand, where)
        elif name in _MEMBERSHIP or name in ("$inGroup", "$notInGroup"):
            members = self._members(name, operand)
            for index, member in enumerate(members):
                spot = (*where, index) if name in _MEMBERSHIP else where
                self._value(items or shape, member, spot, fold=name in ("$ini", "$nini"))
        elif name in _LIST_ONLY and items is None and found.type not in ("list", "scalar"):
            self.check.report(
                where, f"{name} tests a list, and {found.path} is {_SAID[found.type]}: never true"
            )
        elif name in ("$all", "$alli") and items is not None:
            for index, member in enumerate(_list(operand)):
                self._value(items, member, (*where, index), fold=name == "$alli")
        elif name in _COMPARISONS:
            self._comparison(shape, name, operand, where)
        elif name in _PATTERNS and found.type in ("boolean", "list", "object"):
            self.check.report(
                where, f"{name} tests text, and {found.path} is {_SAID[found.type]}: never true"
            )
        elif name == "$type" and _never_of_type(found.type, operand):
            said = f"{found.path} is {_SAID[found.type]}, never of $type {operand}"
            self.check.report(where, said)

    def _members(self, name: str, operand: Any) -> Sequence[Any]:
        if name in _MEMBERSHIP:
            return _list(operand)
        groups = self.facts.groups or {}
        return _list(groups.get(operand)) if isinstance(operand, str) else []

    def _comparison(self, shape: _Shape, name: str, bound: Any, where: YPath) -> None:
        said = _SAID[shape.type]
        problem: str | None = None
        if shape.type in ("list", "object"):
            problem = f"{shape.path} is {said}, which never compares with {name}"
        elif isinstance(bound, str):
            if shape.type in ("number", "integer") and math.isnan(to_number(bound)):
                problem = f"{shape.path} is {said}: never {name} the text '{bound[:40]}'"
        elif shape.type in ("string", "time") and (shape.values or shape.format is not None):
            problem = f"{shape.path} is {said}, never {name} a number"
        else:
            problem = _out_of_range(shape, name, bound)
        if problem is not None:
            self.check.report(where, problem)

    # Templates -------------------------------------------------------------------------------

    def template(self, source: TemplateSource, *, web: bool) -> None:
        try:
            reads = template_reads(source.text)
        except (TemplateSyntaxError, RecursionError):
            return  # the loader reports it
        said: set[tuple[str, ...]] = set()
        for read in reads:
            problem = self._read_problem(read.path, source, web)
            if problem is None or read.path in said:
                continue
            said.add(read.path)
            shown = ".".join(read.path)
            if source.file is not None:
                field = field_name(source.path)
                message = f"the template reads {shown}: {problem}"
                self.check.problems.append(Problem(source.file, read.line, field, message))
            else:
                where = f" on line {read.line} of the template" if read.line > 1 else ""
                self.check.report(source.path, f"the template reads {shown}{where}: {problem}")

    def _read_problem(self, path: tuple[str, ...], source: TemplateSource, web: bool) -> str | None:
        root, keys = path[0], path[1:]
        if root == RECOMMENDATIONS:
            return None  # a function: the loader checks its calls
        if root == PROFILE:
            if not keys:
                return None
            root, keys = keys[0], keys[1:]
        elif root in RENDER_OBJECTS:
            fields = RENDER_OBJECTS[root]
            if keys and keys[0] not in fields:
                return f"{root} has {', '.join(fields)}, not '{keys[0]}'{hint(keys[0], fields)}"
            return None
        if root == RAW_UTM and not source.raw_utm:
            return None  # a load error already
        if root not in SECTIONS and not keys:
            near = _close(root, (*SECTIONS, PROFILE, *RENDER_OBJECTS, RECOMMENDATIONS))
            return f"unknown name '{root}'" + (f"; did you mean '{near}'?" if near else "")
        return self.path_problem(".".join((root, *keys)), web=web)[1]


def _never_of_type(kind: str, operand: Any) -> bool:
    # Not "null": that is every attribute's type while it is missing.
    return operand in TYPE_NAMES and operand != "null" and operand not in _JSON_TYPES[kind]


def _close(word: str, choices: Collection[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _unknown(wildcard: str, value: str) -> str:
    if wildcard == "name":
        return f"'{value}' is not an event this file knows (built in, site.events or a goal)"
    if wildcard == "campaign":
        return f"there is no campaign '{value}' in this file"
    if wildcard == "preference":
        return f"preferences.fields has no field '{value}'"
    return f"no campaign's purl.expose lists '{value}'"


def _value_problem(shape: _Shape, value: Any, *, fold: bool) -> str | None:
    if value is None:
        return None  # a missing attribute is null
    kind = type_name(value)
    if kind not in _JSON_TYPES[shape.type]:
        advice = ""
        if kind == "string" and shape.type in ("number", "integer", "boolean"):
            advice = "; write it without quotes"
        elif kind in ("number", "boolean") and shape.type in ("string", "time"):
            advice = "; put it in quotes"
        return f"{shape.path} is {_SAID[shape.type]}: {describe(value)} never equals it{advice}"
    if kind == "string":
        return _text_problem(shape, value, fold)
    if kind == "number" and shape.type == "integer" and not float(value).is_integer():
        return f"{shape.path} is a whole number: never {value}"
    if kind == "number":
        return _out_of_range(shape, "$eq", value)
    return None


def _text_problem(shape: _Shape, value: str, fold: bool) -> str | None:
    if shape.values:
        written = value.lower() if fold else value
        if written in (v.lower() if fold else v for v in shape.values):
            return None
        same = [v for v in shape.values if v.lower() == value.lower()]
        said = f"; did you mean '{same[0]}'?" if same else hint(value, shape.values)
        options = ", ".join(shape.values)
        return f"{shape.path} is never {describe(value)}: it is one of {options}{said}"
    if shape.format is not None and not fold and not shape.format.allows(value):
        return (
            f"{describe(value)} is not {shape.format.name} ({shape.format.rule}), "
            f"so {shape.path} never equals it{_format_hint(shape.format, value)}"
        )
    return None


def _format_hint(format: Format, value: str) -> str:
    for variant in (value.strip(), value.strip().upper(), value.strip().lower()):
        if variant != value and format.allows(variant):
            return f"; did you mean '{variant}'?"
    return hint(value, format.known()) if format.known is not None else ""


def _out_of_range(shape: _Shape, name: str, bound: Any) -> str | None:
    if not isinstance(bound, int | float) or isinstance(bound, bool) or math.isnan(bound):
        return None
    low = -math.inf if shape.minimum is None else shape.minimum
    high = math.inf if shape.maximum is None else shape.maximum
    never = {
        "$eq": not low <= bound <= high,
        "$gt": bound >= high,
        "$gte": bound > high,
        "$lt": bound <= low,
        "$lte": bound < low,
    }[name]
    if not never:
        return None
    span = f"from {low:g} to {high:g}" if shape.maximum is not None else f"at least {low:g}"
    if shape.minimum is None:
        span = f"at most {high:g}"
    test = "equal to" if name == "$eq" else name
    return f"{shape.path} is {span}: never {test} {bound:g}"
