"""The request context's answers are kept per input (a visitor sends the same address,
referrer and landing page on every page of a session): bounded, never shared between calls,
and what the uncached code would say."""

from __future__ import annotations

from datetime import UTC, datetime

from opmaat import profile
from opmaat.context import classify_referrer, client_ip, local_time, network, referrer
from opmaat.context.clock import _local_time
from opmaat.context.network import TrustedProxies

PROXIES = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"])
GOOGLE = "https://www.google.com/search?q=trail+shoes"
PAGE = "https://shop.example/c/running?utm_medium=cpc"


def test_a_referrer_is_classified_once_and_each_caller_gets_its_own_answer() -> None:
    referrer._classified.cache_clear()
    first = classify_referrer(GOOGLE, PAGE, ["shop.example"])
    first["medium"] = "changed by the caller"
    second = classify_referrer(GOOGLE, PAGE, frozenset({"shop.example"}))
    assert second["medium"] == "paid"
    assert second == {**first, "medium": "paid"}
    info = referrer._classified.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    assert info.maxsize is not None


def test_only_the_first_two_kilobytes_of_a_url_are_kept_as_a_key() -> None:
    referrer._classified.cache_clear()
    padded = GOOGLE + "&x=" + "a" * 5000
    assert classify_referrer(padded, PAGE) == classify_referrer(padded + "b", PAGE)
    assert referrer._classified.cache_info().hits == 1


def test_a_client_address_is_worked_out_once_per_header() -> None:
    network._cached_client_ip.cache_clear()
    for _ in range(3):
        assert client_ip("127.0.0.1", "198.51.100.7, 10.1.2.3", PROXIES) == "198.51.100.7"
    info = network._cached_client_ip.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (2, 1, network.CACHE_SIZE)


def test_a_padded_forwarded_header_is_answered_but_not_kept() -> None:
    network._cached_client_ip.cache_clear()
    padded = ", ".join(["10.0.0.1"] * 60) + ", 198.51.100.7"
    assert len(padded) > network.MAX_CACHED_HEADER
    assert client_ip("127.0.0.1", padded, PROXIES) == "198.51.100.7"
    assert network._cached_client_ip.cache_info().currsize == 0


def test_local_time_is_kept_per_second_and_zone() -> None:
    _local_time.cache_clear()
    at = datetime(2026, 12, 7, 23, 59, 59, 10, tzinfo=UTC)
    first = local_time(at, "Europe/Amsterdam")
    first["hour"] = -1
    later = local_time(at.replace(microsecond=999_999), "Europe/Amsterdam")
    assert later == {"hour": 0, "weekday": "tuesday", "local": "2026-12-08T00:59:59+01:00"}
    assert local_time(at, "America/New_York")["hour"] == 18
    info = _local_time.cache_info()
    assert (info.hits, info.misses) == (1, 2)
    assert local_time(at, "x" * 100) == local_time(at, None)  # too long for a zone: UTC


def test_a_pages_path_is_worked_out_once_per_url() -> None:
    profile._path.cache_clear()
    for meta in ({}, {"category": "running"}):
        page = profile.page_attributes("https://shop.example/c/running?utm_source=x#top", meta)
        assert (page["url"], page["path"]) == (
            "https://shop.example/c/running?utm_source=x#top",
            "/c/running",
        )
    assert profile._path.cache_info().misses == 1
    assert profile.page_attributes("https://shop.example", {})["path"] == "/"
    assert profile.page_attributes("http://[::1/x", {})["path"] is None  # urlsplit refuses it
    assert profile.page_attributes(None, {"category": "x"}) == {
        "category": "x",
        "url": None,
        "path": None,
    }
    long = "https://shop.example/" + "a" * 3000
    assert profile.page_attributes(long, {})["path"] == "/" + "a" * (
        2048 - len("https://shop.example/")
    )
