"""The campaign a visit belongs to, from the landing page's UTM parameters."""

from __future__ import annotations

from functools import lru_cache

from opmaat.context._urls import CACHE_SIZE, clean_text, query_params, split_url

UTM_KEYS = ("source", "medium", "campaign", "term", "content")


def parse_utm(page_url: str | None) -> dict[str, str]:
    """``source``, ``medium``, ``campaign``, ``term`` and ``content`` from the page URL's
    ``utm_*`` parameters (names in any case, first value wins).

    Only parameters with a value are present; each is cut to 200 characters with control
    characters removed. ``{}`` for no URL or one that is not http(s).
    """
    url = split_url(page_url)
    if url is None or "utm_" not in url.query.lower():
        return {}
    return dict(_utm(url.query))


@lru_cache(maxsize=CACHE_SIZE)
def _utm(query: str) -> tuple[tuple[str, str], ...]:
    params = query_params(query)
    found = ((key, clean_text(params.get(f"utm_{key}"))) for key in UTM_KEYS)
    return tuple((key, value) for key, value in found if value)
