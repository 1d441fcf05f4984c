"""What a User-Agent says before ua-parser reads it: a crawler, or a device type ua-parser gets
wrong (consoles and TVs that pass for phones, tablets whose browsers say "Mobile").

The crawler patterns are the ``crawler-user-agents`` package's (a maintained public list, MIT
licence), less the few that real browsers match, plus some of ours; the type corrections are a
table (tablets by what their model names say: Pad, Tab, a maker's tablet model codes). Both
live in ``agent_rules.yaml`` beside this module and are compiled at import into one RE2 set:
one pass over the header, in time linear in its length, answers both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import distribution
from importlib.resources import files
from pathlib import Path
from typing import Any

import re2
import yaml

log = logging.getLogger(__name__)

BOT = "bot"
TYPES = ("mobile", "tablet", "desktop", "other")
CRAWLER_LIST = "crawler-user-agents"
_CRAWLER_FILE = "crawleruseragents/crawler-user-agents.json"
# The set of about 1,500 patterns compiles to a few MB; RE2's default (8 MB) is enough but
# leaves little headroom for the lazily built automaton.
_MAX_MEMORY = 64 << 20


@dataclass(frozen=True, slots=True)
class AgentRules:
    """The compiled patterns: ``verdict`` gives ``bot``, a corrected type, or None."""

    matcher: Any  # re2.Set
    bots: int  # patterns [0, bots) are crawlers; the rest are ``types`` in order
    types: tuple[str, ...]
    refused: tuple[str, ...]  # crawler patterns RE2 cannot run (none in the pinned list)

    @classmethod
    def build(cls, crawlers: Sequence[str], local: Any) -> AgentRules:
        """Compile the crawler list's patterns with ``agent_rules.yaml``'s corrections; raises
        ValueError naming a malformed entry of the local file."""
        if not isinstance(local, Mapping):
            raise ValueError("agent rules: expected a mapping at the top")
        bots = local.get("bots")
        if not isinstance(bots, Mapping):
            raise ValueError("agent rules: bots: expected ignore and add")
        ignore = set(_patterns(bots, "ignore"))
        options = re2.Options()
        options.log_errors = False
        options.max_mem = _MAX_MEMORY
        matcher = re2.Set.SearchSet(options)
        refused: list[str] = []
        count = 0
        for pattern in [p for p in crawlers if p not in ignore]:
            try:
                matcher.Add(pattern)
                count += 1
            except re2.error:
                refused.append(pattern)
        for pattern in _patterns(bots, "add"):
            _add(matcher, pattern, "bots.add")
            count += 1
        types: list[str] = []
        rows = local.get("types")
        if not isinstance(rows, list):
            raise ValueError("agent rules: types: expected a list")
        for number, row in enumerate(rows):
            where = f"types[{number}]"
            if not isinstance(row, Mapping) or row.get("type") not in TYPES:
                raise ValueError(f"agent rules: {where}: type must be one of {', '.join(TYPES)}")
            _add(matcher, row.get("pattern"), where)
            types.append(row["type"])
        matcher.Compile()
        return cls(matcher, count, tuple(types), tuple(refused))

    def verdict(self, user_agent: str) -> str | None:
        """``bot``, the type a correction gives, or None when neither applies."""
        found = self.matcher.Match(user_agent.encode("utf-8", "surrogatepass"))
        if not found:
            return None
        first = min(found)
        return BOT if first < self.bots else self.types[first - self.bots]


def _add(matcher: Any, pattern: object, where: str) -> None:
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"agent rules: {where}: expected a pattern")
    try:
        matcher.Add(pattern)
    except re2.error as exc:
        raise ValueError(f"agent rules: {where}: RE2 cannot run {pattern!r}: {exc}") from None


def _patterns(entry: Mapping[str, Any], key: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ValueError(f"agent rules: bots.{key}: expected a list of patterns")
    return value


def crawler_list() -> tuple[str, list[str]]:
    """The installed crawler list's version and patterns (read without importing the package,
    which would parse its JSON a second time)."""
    package = distribution(CRAWLER_LIST)
    text = Path(str(package.locate_file(_CRAWLER_FILE))).read_text(encoding="utf-8")
    return package.version, [entry["pattern"] for entry in json.loads(text)]


def load_rules() -> AgentRules:
    """The rules of the installed crawler list and ``agent_rules.yaml``."""
    version, crawlers = crawler_list()
    local = files("opmaat.context").joinpath("agent_rules.yaml").read_text(encoding="utf-8")
    rules = AgentRules.build(crawlers, yaml.safe_load(local))
    if rules.refused:
        log.warning(
            "%s %s: %d patterns RE2 cannot run are left out: %s",
            CRAWLER_LIST,
            version,
            len(rules.refused),
            ", ".join(rules.refused),
        )
    return rules
