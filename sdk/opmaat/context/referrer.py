"""Where the visit came from: medium, source and search term from the referrer and landing URL.

The known hosts, click ids and utm_medium values are ``referrer_table``'s: Snowplow's
referer-parser database and opmaat's additions, loaded once at import.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from urllib.parse import urlsplit

from opmaat.context._urls import (
    CACHE_SIZE,
    MAX_URL_CHARS,
    Url,
    clean_text,
    query_params,
    split_url,
)
from opmaat.context.referrer_table import MEDIUMS as MEDIUMS
from opmaat.context.referrer_table import Candidate, KnownSource, load_table, pick
from opmaat.context.referrer_table import ReferrerTable as ReferrerTable

TABLE = load_table()


# What a utm_source may set referrer.source to: only a name the table knows, so the text of a
# link (which anyone can write) never becomes the source pages show (docs/security.md).
RECOGNISED_SOURCES = TABLE.sources()


@lru_cache(maxsize=CACHE_SIZE)
def _candidates(host: str) -> tuple[Candidate, ...]:
    return TABLE.candidates(host)


def _known(ref: Url) -> KnownSource | None:
    candidates = _candidates(ref.host)
    if not candidates:
        return None
    if not candidates[0][0]:  # no path rule comes first: the path cannot change the answer
        return candidates[0][1]
    try:
        path = urlsplit(ref.text).path or "/"
    except ValueError:
        path = "/"
    return pick(candidates, path)


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
       the referrer table knows (google, facebook, ...), else the referrer's or click id's
       source; the referrer's host for ``referral``;
    2. a click id in the page URL (gclid, msclkid, ttclid, ...) means ``paid``, with the
       referrer's source, or the click id's when the referrer is not a known one;
    3. no referrer: ``direct``;
    4. a referrer host equal to the page's host, or listed in ``site_hosts`` (lower-case ASCII;
       a listed domain covers its subdomains): ``internal``;
    5. a referrer the table knows (Snowplow's referer-parser database and ``referrers.yaml``;
       by host, and for a few hosts by path): its medium and source (google, bing, gmail, ...);
       the database's chatbots and sources of unknown medium are ``referral``;
    6. anything else: ``referral`` with the host as source.

    ``source`` is None for direct and internal visits and when nothing known names it. ``term``
    is the search term when the referrer URL of a known search engine carries one (q=, p=,
    text=, wd=, ...); at most 200 characters. ``utm_source`` and ``utm_term`` as written stay in
    ``utm.*`` (``parse_utm``).
    """
    # Only the URLs' first MAX_URL_CHARS count (split_url), which also bounds the cache's keys.
    return dict(
        _classified(
            referrer[:MAX_URL_CHARS] if isinstance(referrer, str) else None,
            page_url[:MAX_URL_CHARS] if isinstance(page_url, str) else None,
            site_hosts if isinstance(site_hosts, frozenset) else frozenset(site_hosts),
        )
    )


# A visitor's landing page and referrer are the same on every page of the session.
@lru_cache(maxsize=CACHE_SIZE)
def _classified(
    referrer: str | None, page_url: str | None, site_hosts: frozenset[str]
) -> dict[str, str | None]:
    ref = split_url(referrer)
    page = split_url(page_url)
    params = query_params(page.query) if page is not None else {}
    known = _known(ref) if ref is not None else None
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
