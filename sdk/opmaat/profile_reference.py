"""The one description of the profile: every attribute's path, type, allowed values or format,
where it comes from and what it means, read once from ``profile.yaml`` beside this module.

`opmaat check` reads it to find paths, values and operators that can never match; the campaign
file's JSON Schema and docs/profile.md are generated from it; the cockpit names attributes with
its labels. A segment written ``<category>`` in a path stands for any name of that kind
(`WILDCARDS`); a list attribute is read further by index (``session.pages.0``) or length
(``session.pages.length``), as conditions do.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import available_timezones

import yaml

# The types an attribute can have; "time" is ISO 8601 text, "scalar" text, a number or a bool.
TYPES = ("string", "number", "integer", "boolean", "time", "scalar", "list", "object")


@dataclass(frozen=True, slots=True)
class Format:
    """What every value of a text attribute looks like; ``known`` (when set) lists them all."""

    name: str
    rule: str
    pattern: str
    known: Callable[[], frozenset[str]] | None = None

    def allows(self, value: str) -> bool:
        if self.known is not None:
            return value in self.known()
        return _compiled(self.pattern).fullmatch(value) is not None


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


FORMATS = {
    "country": Format(
        "an ISO 3166-1 alpha-2 country code", "two upper-case letters, like 'NL'", "[A-Z]{2}"
    ),
    "time_zone": Format(
        "an IANA time zone name",
        "like 'Europe/Amsterdam'",
        "[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*",
        _time_zones,
    ),
    "path": Format("a URL path", "starting with '/', like '/shoes'", "/.*"),
    "host": Format(
        "a host name", "lower case, without scheme or path, like 'www.google.com'", "[^A-Z/:]+"
    ),
    "category": Format(
        "a category key",
        "lower-case letters, digits, '-' and '_', like 'running'",
        "[a-z0-9][a-z0-9_-]{0,39}",
    ),
    "page_key": Format(
        "a page metadata key", "snake_case, like 'category'", "[a-z][a-z0-9_]{0,39}"
    ),
    "rfm_cell": Format("an RFM cell", "three digits 1-5 (R, F, M), like '545'", "[1-5]{3}"),
    "channel": Format(
        "a channel visitors choose for",
        "web, email, app or contact_center",
        "web|email|app|contact_center",
    ),
}


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A path segment that stands for any name of a kind: a category, an event, a campaign."""

    name: str
    meaning: str
    format: Format | None = None


WILDCARDS = {
    "category": Wildcard("category", "a category key", FORMATS["category"]),
    "name": Wildcard("name", "an event name the campaign file knows"),
    "campaign": Wildcard("campaign", "a campaign id of the campaign file"),
    "column": Wildcard("column", "a column a campaign's purl.expose lists"),
    "field": Wildcard("field", "a column of the customer export"),
    "key": Wildcard("key", "a page metadata key", FORMATS["page_key"]),
    "product": Wildcard("product", "a product id"),
    "channel": Wildcard("channel", "a channel visitors choose for", FORMATS["channel"]),
    "preference": Wildcard("preference", "a field of the campaign file's preferences section"),
}


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of the profile (the fields are explained at the top of profile.yaml)."""

    path: str
    type: str
    source: str
    description: str
    example: str = ""
    values: tuple[str, ...] = ()
    format: Format | None = None
    items: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    label: str = ""
    plural: bool = False
    flag: tuple[str, str] | None = None
    needs: tuple[str, ...] = ()


_FIELDS = {
    "type",
    "from",
    "about",
    "example",
    "values",
    "format",
    "items",
    "min",
    "max",
    "nullable",
    "label",
    "plural",
    "flag",
    "needs",
}


def _attribute(path: str, spec: Any) -> Attribute:
    # A malformed entry fails the import, naming it: the table ships with the code.
    if not isinstance(spec, Mapping) or not set(spec) <= _FIELDS or "type" not in spec:
        raise ValueError(f"profile.yaml: {path}: expected a mapping of {sorted(_FIELDS)}")
    kinds = [spec["type"], spec.get("items", "string")]
    if any(kind not in TYPES for kind in kinds) or spec.get("format", "path") not in FORMATS:
        raise ValueError(f"profile.yaml: {path}: unknown type or format")
    wildcards = [part[1:-1] for part in path.split(".") if part.startswith("<")]
    if any(name not in WILDCARDS for name in wildcards):
        raise ValueError(f"profile.yaml: {path}: unknown wildcard")
    flag = spec.get("flag")
    return Attribute(
        path=path,
        type=spec["type"],
        source=str(spec.get("from", "")),
        description=str(spec.get("about", "")),
        example=str(spec.get("example", "")),
        values=tuple(str(v) for v in spec.get("values", ())),
        format=FORMATS[spec["format"]] if "format" in spec else None,
        items=spec.get("items"),
        minimum=spec.get("min"),
        maximum=spec.get("max"),
        nullable=spec.get("nullable", False) is True,
        label=str(spec.get("label", "")),
        plural=spec.get("plural", False) is True,
        flag=(str(flag[0]), str(flag[1])) if flag else None,
        needs=tuple(str(n) for n in spec.get("needs", ())),
    )


def _load() -> tuple[Attribute, ...]:
    text = files("opmaat").joinpath("profile.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return tuple(_attribute(str(path), spec) for path, spec in data.items())


ATTRIBUTES = _load()


# Finding an attribute by its path ---------------------------------------------------------


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    wildcard: tuple[str, _Node] | None = None
    attribute: Attribute | None = None


def _tree(attributes: tuple[Attribute, ...]) -> _Node:
    root = _Node()
    for attribute in attributes:
        node = root
        for part in attribute.path.split("."):
            if part.startswith("<"):
                name = part[1:-1]
                if node.wildcard is None:
                    node.wildcard = (name, _Node())
                node = node.wildcard[1]
            else:
                node = node.children.setdefault(part, _Node())
        node.attribute = attribute
    return root


_ROOT = _tree(ATTRIBUTES)
SECTIONS = tuple(_ROOT.children)


@dataclass(frozen=True, slots=True)
class Found:
    """What a path names: its attribute (None for a section of attributes, or for an item or
    the length of a list attribute), the names its wildcard segments stand for, and the type
    of the value there."""

    path: str
    attribute: Attribute | None
    bindings: dict[str, str]
    type: str


def lookup(path: str) -> Found | None:
    """The attribute (or section) at a dotted path, or None when no profile has it."""
    node, bindings = _ROOT, dict[str, str]()
    parts = path.split(".")
    for index, part in enumerate(parts):
        attribute = node.attribute
        if attribute is not None and attribute.type == "list":
            return _into_list(path, attribute, parts[index:], bindings)
        if attribute is not None and attribute.type != "object":
            return None
        child = node.children.get(part)
        if child is None and node.wildcard is not None:
            name, child = node.wildcard
            bindings[name] = part
        if child is None:
            return None
        node = child
    attribute = node.attribute
    return Found(path, attribute, bindings, attribute.type if attribute else "object")


def _into_list(
    path: str, attribute: Attribute, rest: list[str], bindings: dict[str, str]
) -> Found | None:
    # Like conditions: an index reads an item, "length" the list's length.
    first = rest[0]
    if first == "length" and len(rest) == 1:
        return Found(path, None, bindings, "integer")
    if not (first.isdigit() and first.isascii()):
        return None
    if len(rest) == 1:
        return Found(path, None, bindings, attribute.items or "scalar")
    # Inside an object item: its fields are not described one by one.
    return Found(path, None, bindings, "scalar") if attribute.items == "object" else None


def suggest(path: str) -> str | None:
    """The described path closest to ``path``, mending at most two misspelt segments."""
    parts = path.split(".")
    for _ in range(2):
        node, index = _ROOT, 0
        while index < len(parts):
            if node.attribute is not None and node.attribute.type != "object":
                break
            child = node.children.get(parts[index])
            if child is None and node.wildcard is not None:
                child = node.wildcard[1]
            if child is None:
                break
            node, index = child, index + 1
        if index == len(parts):
            return ".".join(parts) if lookup(".".join(parts)) is not None else None
        close = difflib.get_close_matches(parts[index], list(node.children), n=1, cutoff=0.6)
        if not close:
            return None
        parts[index] = close[0]
    return ".".join(parts) if lookup(".".join(parts)) is not None else None


# The reference table of docs/profile.md ---------------------------------------------------


def type_text(attribute: Attribute) -> str:
    """The type as the reference table writes it: ``integer 0 to 23``, ``list of string``."""
    text = attribute.type
    if attribute.items is not None:
        text = f"list of {attribute.items}"
    if attribute.minimum is not None and attribute.maximum is not None:
        text += f" {attribute.minimum:g} to {attribute.maximum:g}"
    elif attribute.minimum is not None and attribute.minimum == 0:
        text += " ≥ 0"
    return f"{text} or null" if attribute.nullable else text


def notes(attribute: Attribute) -> str:
    text = attribute.description
    if attribute.values:
        text += "; one of " + " ".join(f"`{value}`" for value in attribute.values)
    if attribute.format is not None:
        text += f"; {attribute.format.name}: {attribute.format.rule}"
    return text


REFERENCE_START = "<!-- The table is made by scripts/generate from sdk/opmaat/profile.yaml. -->"
REFERENCE_END = "<!-- End of the generated table. -->"


def reference_table() -> str:
    """The reference table of docs/profile.md, one row per attribute."""
    rows = [
        "| name | type | example | from | notes |",
        "|---|---|---|---|---|",
    ]
    for attribute in ATTRIBUTES:
        example = attribute.example
        if example and not example.startswith("`"):
            example = f"`{example}`"
        cells = [f"`{attribute.path}`", type_text(attribute), example, attribute.source]
        cells.append(notes(attribute))
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    wildcards = [f"`<{w.name}>` {w.meaning}" for w in WILDCARDS.values()]
    return "\n".join(rows) + "\n\nIn a path, " + "; ".join(wildcards) + ".\n"
