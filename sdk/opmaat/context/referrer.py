"""Where the visit came from: medium, source and search term from the referrer and landing URL.

The known hosts, click ids and utm_medium values live in ``referrers.yaml`` beside this module,
loaded once at import.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml

from opmaat.context._urls import CACHE_SIZE, Url, clean_text, query_params, split_url

MEDIUMS = ("search", "social", "email", "paid", "referral", "internal", "direct")


@dataclass(frozen=True, slots=True)
class KnownSource:
    medium: str
    source: str
    term_params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReferrerTable:
    """``referrers.yaml``, compiled for lookups that cost one dict probe per host label."""

    hosts: Mapping[str, KnownSource]
    names: Mapping[str, KnownSource]
    click_ids: Mapping[str, str]
    utm_mediums: Mapping[str, str]
    generic_tlds: frozenset[str]
    second_level: frozenset[str]

    @classmethod
    def from_data(cls, data: Any) -> ReferrerTable:
        """Build from the parsed YAML; raises ValueError saying which entry is malformed."""
        if not isinstance(data, Mapping):
            raise ValueError("referrer table: expected a mapping at the top")
        hosts: dict[str, KnownSource] = {}
        names: dict[str, KnownSource] = {}
        for medium, sources in _mapping(data, "sources").items():
            if medium not in MEDIUMS or not isinstance(sources, Mapping):
                raise ValueError(f"referrer table: sources.{medium}: unknown medium")
            for source, entry in sources.items():
                where = f"sources.{medium}.{source}"
                if not isinstance(entry, Mapping):
                    raise ValueError(f"referrer table: {where}: expected hosts and term")
                known = KnownSource(medium, str(source), tuple(_words(entry, "term", where)))
                for host in _words(entry, "hosts", where):
                    table = names if host.endswith(".*") else hosts
                    key = host.removesuffix(".*")
                    if key in table:
                        raise ValueError(f"referrer table: {where}: {host} is listed twice")
                    table[key] = known
        click_ids = {str(k).lower(): str(v) for k, v in _mapping(data, "click_ids").items()}
        utm = _mapping(data, "utm_medium")
        utm_mediums: dict[str, str] = {}
        for medium in utm:
            if medium not in MEDIUMS:
                raise ValueError(f"referrer table: utm_medium.{medium}: unknown medium")
            utm_mediums.update(dict.fromkeys(_words(utm, medium, "utm_medium"), medium))
        top = _mapping(data, "top_level")
        return cls(
            hosts=hosts,
            names=names,
            click_ids=click_ids,
            utm_mediums=utm_mediums,
            generic_tlds=frozenset(_words(top, "generic", "top_level")),
            second_level=frozenset(_words(top, "second_level", "top_level")),
        )

    def lookup(self, host: str) -> KnownSource | None:
        """The known source for a lower-case ASCII host, or None."""
        labels = host.split(".")
        for i in range(len(labels) - 1):
            found = self.hosts.get(".".join(labels[i:]))
            if found is not None:
                return found
        for i in range(len(labels) - 1):
            found = self.names.get(labels[i])
            if found is not None and self._is_top_level(labels[i + 1 :]):
                return found
        return None

    def _is_top_level(self, labels: list[str]) -> bool:
        if len(labels) == 1:
            return _is_country(labels[0]) or labels[0] in self.generic_tlds
        return len(labels) == 2 and labels[0] in self.second_level and _is_country(labels[1])


def _is_country(label: str) -> bool:
    return len(label) == 2 and label.isalpha()


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
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


def _load_table() -> ReferrerTable:
    text = files("opmaat.context").joinpath("referrers.yaml").read_text(encoding="utf-8")
    return ReferrerTable.from_data(yaml.safe_load(text))


TABLE = _load_table()


# What a utm_source may set referrer.source to: only a name the table knows, so the text of a
# link (which anyone can write) never becomes the source pages show (docs/security.md).
RECOGNISED_SOURCES = frozenset(
    known.source for known in (*TABLE.hosts.values(), *TABLE.names.values())
) | frozenset(TABLE.click_ids.values())


@lru_cache(maxsize=CACHE_SIZE)
def _known_host(host: str) -> KnownSource | None:
    return TABLE.lookup(host)


def classify_referrer(
    referrer: str | None, page_url: str | None, site_hosts: Collection[str] = ()
) -> dict[str, str | None]:
    """Classify one visit's origin. Every key is always present, None when unknown.

    ``url`` and ``host`` are the referrer's (cut at 2 KB; host lower-case, IDNA-encoded);
    None when there is no referrer or it is not an http(s)/android-app URL (a ``javascript:``
    URL, plain text). ``medium`` is one of search, social, email, paid, referral, internal,
    direct, decided in this order:

    1. ``utm_medium`` in the page URL, when it is one ``referrers.yaml`` knows (cpc, email,
       social, ...), with ``utm_source`` (lower-cased) as the source when it names a source
       ``referrers.yaml`` knows (google, facebook, ...), else the referrer's or click id's
       source; the referrer's host for ``referral``;
    2. a click id in the page URL (gclid, msclkid, ttclid, ...) means ``paid``, with the
       referrer's source, or the click id's when the referrer is not a known one;
    3. no referrer: ``direct``;
    4. a referrer host equal to the page's host, or listed in ``site_hosts`` (lower-case ASCII;
       a listed domain covers its subdomains): ``internal``;
    5. a host ``referrers.yaml`` knows: its medium and source (google, bing, facebook, ...);
    6. anything else: ``referral`` with the host as source.

    ``source`` is None for direct and internal visits and when nothing known names it. ``term``
    is the search term when the referrer URL of a known search engine carries one (q=, p=,
    text=, wd=, ...); at most 200 characters. ``utm_source`` and ``utm_term`` as written stay in
    ``utm.*`` (``parse_utm``).
    """
    ref = split_url(referrer)
    page = split_url(page_url)
    params = query_params(page.query) if page is not None else {}
    known = _known_host(ref.host) if ref is not None else None
    utm_medium = TABLE.utm_mediums.get((params.get("utm_medium") or "").strip().lower())
    click_source = next((TABLE.click_ids[k] for k in params if k in TABLE.click_ids), None)
    host = ref.host if ref is not None else None
    source = known.source if known is not None else None

    if utm_medium is not None:
        medium = utm_medium
        named = (clean_text(params.get("utm_source")) or "").lower()
        fallback = host if medium == "referral" else None
        source = named if named in RECOGNISED_SOURCES else source or click_source or fallback
    elif click_source is not None:
        medium, source = "paid", source or click_source
    elif ref is None:
        medium, source = "direct", None
    elif _is_internal(ref.host, page, site_hosts):
        medium, source = "internal", None
    elif known is not None:
        medium = known.medium
    else:
        medium, source = "referral", ref.host

    return {
        "url": ref.text if ref is not None else None,
        "host": host,
        "medium": medium,
        "source": source,
        "term": _search_term(ref, known),
    }


def _is_internal(host: str, page: Url | None, site_hosts: Collection[str]) -> bool:
    if page is not None and page.host == host:
        return True
    if not site_hosts:
        return False
    labels = host.split(".")
    return any(".".join(labels[i:]) in site_hosts for i in range(len(labels)))


def _search_term(ref: Url | None, known: KnownSource | None) -> str | None:
    if ref is None or known is None or not known.term_params or not ref.query:
        return None
    params = query_params(ref.query)
    for name in known.term_params:
        term = clean_text(params.get(name))
        # Google's redirector (/url?q=https://...) puts the destination in q, not a search.
        if term and not term.lower().startswith(("http://", "https://")):
            return term
    return None
