"""YAML (and JSON) to plain Python values, remembering the line every key and item came from."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    # YAML 1.2 core-schema scalars: only true/false are booleans (so the country code NO stays
    # a string), dates stay strings for the schedule parser, and 1e3 is a number as in JSON.

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level table


_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


@dataclass(frozen=True, slots=True)
class Lines:
    """Line numbers (1-based) of the keys and items of a parsed document, by path."""

    by_path: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.by_path.get(path[:end])
            if found is not None:
                return found
        return 1


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """Something wrong with the document itself (syntax, duplicate key, unsupported tag)."""

    line: int
    path: Path
    message: str


@dataclass(frozen=True, slots=True)
class Parsed:
    data: Any
    lines: Lines
    issues: tuple[ParseIssue, ...]


def parse(text: str, *, json_like: bool = False) -> Parsed:
    """Parse YAML or JSON text into plain dicts, lists and scalars with their line numbers.

    Never raises on bad input: a syntax error comes back as an issue with the YAML's own line.
    """
    if json_like:
        # JSON allows tabs between tokens but YAML does not; a raw tab cannot appear inside a
        # JSON string, so swapping every tab for a space changes no value and no line number.
        text = text.replace("\t", " ")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark is not None:
            message += f" ({exc.context}, which starts on line {exc.context_mark.line + 1})"
        return Parsed(None, Lines({(): 1}), (ParseIssue(line, (), message),))
    except yaml.YAMLError as exc:
        return Parsed(None, Lines({(): 1}), (ParseIssue(1, (), str(exc)),))
    finally:
        loader.dispose()
    builder = _Builder(loader)
    data = builder.value(node, ()) if node is not None else None
    builder.lines[()] = 1
    return Parsed(data, Lines(builder.lines), tuple(builder.issues))


class _Builder:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lines: dict[Path, int] = {}
        self.issues: list[ParseIssue] = []

    def value(self, node: yaml.Node, path: Path) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.value(item, (*path, index)))
            return items
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        self.loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.issues.append(ParseIssue(line, path, "a key must be plain text"))
                continue
            key = self.scalar(key_node, path)
            if key in out:
                self.issues.append(ParseIssue(line, (*path, key), f"duplicate key '{key}'"))
            self.lines[(*path, key)] = line
            out[key] = self.value(value_node, (*path, key))
        return out

    def scalar(self, node: yaml.Node, path: Path) -> Any:
        text = str(node.value)
        tag = node.tag
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text.lower() == "true"
        try:
            if tag == _INT:
                return _to_int(text)
            if tag == _FLOAT:
                return _to_float(text)
        except ValueError:  # an explicit tag on what is no number: "!!int abc"
            line = node.start_mark.line + 1
            self.issues.append(ParseIssue(line, path, f"'{text[:40]}' is not a {tag[-5:]}"))
            return text
        self.issues.append(ParseIssue(node.start_mark.line + 1, path, f"unsupported tag '{tag}'"))
        return text


def _to_int(text: str) -> int:
    if text.startswith(("0o", "0x")):
        return int(text, 0)
    return int(text)


def _to_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)
