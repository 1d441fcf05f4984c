"""The known referrers: Snowplow's referer-parser database joined with opmaat's own additions.

``snowplow_referers.yml`` beside this module is the public database, unchanged (its header says
which version; ``scripts/update-referrers`` replaces it). ``referrers.yaml`` holds what opmaat
adds: hosts the database lacks, the source names ``referrer.source`` uses, ad click ids and
``utm_medium`` values. Both are read once at import and compiled into dicts, so a lookup costs a
dict probe per label of the referrer's host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import yaml

MEDIUMS = ("search", "social", "email", "paid", "referral", "internal", "direct")
# The database's sections as opmaat's mediums: a known source with no medium of its own
# (maps.google.com) or a chatbot is a referral.
SNOWPLOW_MEDIUMS = {
    "search": "search",
    "social": "social",
    "email": "email",
    "paid": "paid",
    "unknown": "referral",
    "chatbot": "referral",
}
# Where the database lists one host in two sections, the first of these wins: a webmail host
# is e-mail even when its provider's search engine is listed under the same name.
_PRECEDENCE = ("email", "social", "search", "paid", "referral")
_NOT_A_NAME = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class KnownSource:
    medium: str
    source: str
    term_params: tuple[str, ...] = ()


# A path prefix ("" for any path) and the source a referrer with that path on the host is.
Candidate = tuple[str, KnownSource]


@dataclass(frozen=True, slots=True)
class ReferrerTable:
    """The referrers known, compiled for lookups by host suffix."""

    hosts: Mapping[str, KnownSource]
    paths: Mapping[str, tuple[Candidate, ...]]
    patterns: Mapping[str, KnownSource]
    click_ids: Mapping[str, str]
    utm_mediums: Mapping[str, str]
    generic_tlds: frozenset[str]
    second_level: frozenset[str]

    @classmethod
    def from_data(cls, local: Any, snowplow: Any = None) -> ReferrerTable:
        """Build from the parsed ``referrers.yaml`` and, if given, the parsed Snowplow database;
        raises ValueError saying which entry is malformed. A host in both: the local entry wins."""
        if not isinstance(local, Mapping):
            raise ValueError("referrer table: expected a mapping at the top")
        renames = {str(k): str(v) for k, v in _mapping(local, "names", required=False).items()}
        hosts: dict[str, KnownSource] = {}
        paths: dict[str, list[Candidate]] = {}
        if snowplow is not None:
            _add_snowplow(snowplow, renames, hosts, paths)
        local_hosts: dict[str, KnownSource] = {}
        patterns: dict[str, KnownSource] = {}
        for medium, sources in _mapping(local, "sources").items():
            if medium not in MEDIUMS or not isinstance(sources, Mapping):
                raise ValueError(f"referrer table: sources.{medium}: unknown medium")
            for source, entry in sources.items():
                where = f"sources.{medium}.{source}"
                if not isinstance(entry, Mapping):
                    raise ValueError(f"referrer table: {where}: expected hosts and term")
                known = KnownSource(medium, str(source), tuple(_words(entry, "term", where)))
                for host in _words(entry, "hosts", where):
                    table = patterns if host.endswith(".*") else local_hosts
                    key = host.removesuffix(".*")
                    if key in table:
                        raise ValueError(f"referrer table: {where}: {host} is listed twice")
                    table[key] = known
        hosts.update(local_hosts)
        click_ids = {str(k).lower(): str(v) for k, v in _mapping(local, "click_ids").items()}
        utm = _mapping(local, "utm_medium")
        utm_mediums: dict[str, str] = {}
        for medium in utm:
            if medium not in MEDIUMS:
                raise ValueError(f"referrer table: utm_medium.{medium}: unknown medium")
            utm_mediums.update(dict.fromkeys(_words(utm, medium, "utm_medium"), medium))
        top = _mapping(local, "top_level")
        return cls(
            hosts=hosts,
            paths={host: tuple(found) for host, found in paths.items()},
            patterns=patterns,
            click_ids=click_ids,
            utm_mediums=utm_mediums,
            generic_tlds=frozenset(_words(top, "generic", "top_level")),
            second_level=frozenset(_words(top, "second_level", "top_level")),
        )

    def sources(self) -> frozenset[str]:
        """Every source name the table can give."""
        listed = (*self.hosts.values(), *self.patterns.values())
        by_path = (known for found in self.paths.values() for _, known in found)
        return frozenset(k.source for k in (*listed, *by_path)) | frozenset(self.click_ids.values())

    def candidates(self, host: str) -> tuple[Candidate, ...]:
        """What a lower-case ASCII host may be, most specific first: the first whose path
        prefix the referrer's path starts with is it (``lookup``)."""
        labels = host.split(".")
        found: list[Candidate] = []
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            found.extend(self.paths.get(suffix, ()))
            known = self.hosts.get(suffix)
            if known is not None:
                found.append(("", known))
                return tuple(found)
        # The longest "name.*" pattern wins: mail.yahoo.de is mail.yahoo.* (email), not yahoo.*.
        for i in range(len(labels) - 1):
            for end in (len(labels) - 2, len(labels) - 1):
                known = self.patterns.get(".".join(labels[i:end])) if end > i else None
                if known is not None and self._is_top_level(labels[end:]):
                    found.append(("", known))
                    return tuple(found)
        return tuple(found)

    def lookup(self, host: str, path: str = "/") -> KnownSource | None:
        """The known source of a referrer with this host and path, or None."""
        return pick(self.candidates(host), path)

    def _is_top_level(self, labels: list[str]) -> bool:
        if len(labels) == 1:
            return _is_country(labels[0]) or labels[0] in self.generic_tlds
        return len(labels) == 2 and labels[0] in self.second_level and _is_country(labels[1])


def pick(candidates: tuple[Candidate, ...], path: str) -> KnownSource | None:
    """The first candidate whose path prefix ``path`` starts with, whole segments only."""
    for prefix, known in candidates:
        if not prefix or path == prefix or path.startswith(prefix + "/"):
            return known
    return None


def source_name(name: str, renames: Mapping[str, str]) -> str:
    """The ``referrer.source`` of a database name: its rename in ``referrers.yaml``, else lower
    case with every run of other characters as one ``_`` (``Yahoo! Mail`` is ``yahoo_mail``)."""
    return renames.get(name) or _NOT_A_NAME.sub("_", name.lower()).strip("_")


def _add_snowplow(
    data: Any,
    renames: Mapping[str, str],
    hosts: dict[str, KnownSource],
    paths: dict[str, list[Candidate]],
) -> None:
    if not isinstance(data, Mapping):
        raise ValueError("referrer database: expected a mapping at the top")
    for section, entries in data.items():
        medium = SNOWPLOW_MEDIUMS.get(section)
        if medium is None or not isinstance(entries, Mapping):
            raise ValueError(f"referrer database: {section}: unknown section")
        for name, entry in entries.items():
            where = f"{section}.{name}"
            if not isinstance(entry, Mapping) or not isinstance(entry.get("domains"), list):
                raise ValueError(f"referrer database: {where}: expected domains")
            params = entry.get("parameters", []) if medium == "search" else []
            if not isinstance(params, list):
                raise ValueError(f"referrer database: {where}: expected a list of parameters")
            terms = tuple(dict.fromkeys(str(p).lower() for p in params))
            known = KnownSource(medium, source_name(str(name), renames), terms)
            for domain in entry["domains"]:
                host, _, path = str(domain).lower().partition("/")
                if path:
                    paths.setdefault(host, []).append(("/" + path.rstrip("/"), known))
                elif host not in hosts or _outranks(medium, hosts[host].medium):
                    hosts[host] = known


def _outranks(medium: str, other: str) -> bool:
    return _PRECEDENCE.index(medium) < _PRECEDENCE.index(other)


def _is_country(label: str) -> bool:
    return len(label) == 2 and label.isalpha()


def _mapping(data: Mapping[str, Any], key: str, *, required: bool = True) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"referrer table: {key}: expected a mapping")
    return value


def _words(entry: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(word, str) and word and word == word.lower() for word in value
    ):
        raise ValueError(f"referrer table: {where}.{key}: expected a list of lower-case names")
    return value


def _read(name: str) -> Any:
    text = files("opmaat.context").joinpath(name).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads it in ~20 ms
    return yaml.load(text, Loader=loader)


def load_table() -> ReferrerTable:
    """The table of the two files beside this module."""
    return ReferrerTable.from_data(_read("referrers.yaml"), _read("snowplow_referers.yml"))
