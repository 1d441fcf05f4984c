from __future__ import annotations

from opmaat.visits import record_pageview, visit_attributes

T0 = 1_790_000_000.0


def test_first_pageview_opens_visit_and_session() -> None:
    rec, new = record_pageview(
        None, now=T0, page_url="https://s/x?a=1", page_path="/x", utm_campaign=None
    )
    assert new
    attrs = visit_attributes(rec, "vid")
    assert attrs["visitor"]["visits"] == 1
    assert attrs["visitor"]["new"] is True
    assert attrs["visitor"]["days_since_last_visit"] is None
    assert attrs["session"]["pageviews"] == 1
    assert attrs["session"]["landing_url"] == "https://s/x?a=1"
    assert attrs["session"]["pages"] == ["/x"]


def test_pageviews_within_thirty_minutes_stay_in_the_session() -> None:
    rec, _ = record_pageview(None, now=T0, page_url="u", page_path="/a", utm_campaign=None)
    rec, new = record_pageview(
        rec, now=T0 + 29 * 60, page_url="u", page_path="/b", utm_campaign=None
    )
    assert not new
    assert visit_attributes(rec, "v")["session"]["pages"] == ["/a", "/b"]
    assert rec["visits"] == 1


def test_inactivity_starts_a_new_visit_and_counts_days_away() -> None:
    rec, _ = record_pageview(None, now=T0, page_url="u", page_path="/a", utm_campaign=None)
    rec, new = record_pageview(
        rec, now=T0 + 3 * 86400 + 10, page_url="u2", page_path="/b", utm_campaign=None
    )
    assert new
    attrs = visit_attributes(rec, "v")
    assert attrs["visitor"]["visits"] == 2
    assert attrs["visitor"]["new"] is False
    assert attrs["visitor"]["days_since_last_visit"] == 3
    assert attrs["session"]["pages"] == ["/b"]
    assert attrs["session"]["landing_url"] == "u2"


def test_another_campaign_starts_a_new_session() -> None:
    rec, _ = record_pageview(None, now=T0, page_url="u", page_path="/", utm_campaign="spring")
    rec, new = record_pageview(rec, now=T0 + 60, page_url="u", page_path="/", utm_campaign="spring")
    assert not new
    rec, new = record_pageview(
        rec, now=T0 + 120, page_url="u", page_path="/", utm_campaign="autumn"
    )
    assert new
    assert rec["visits"] == 2


def test_session_pages_are_bounded() -> None:
    rec = None
    for i in range(50):
        rec, _ = record_pageview(
            rec, now=T0 + i, page_url="u", page_path=f"/{i}", utm_campaign=None
        )
    assert rec is not None
    assert visit_attributes(rec, "v")["session"]["pages"] == [f"/{i}" for i in range(40, 50)]


def test_garbage_record_is_treated_as_new() -> None:
    rec, new = record_pageview(
        {"session": "nope", "last_seen": "x", "visits": 0},
        now=T0,
        page_url=None,
        page_path=None,
        utm_campaign=None,
    )
    assert new
    assert rec["visits"] == 1
    rec, new = record_pageview(
        {"visits": "many", "session": {"pages": "x", "pageviews": None}, "last_seen": T0},
        now=T0 + 1,
        page_url=None,
        page_path="/p",
        utm_campaign=None,
    )
    assert not new
    assert rec["visits"] == "many"
    assert visit_attributes(rec, "v")["session"]["pages"] == ["/p"]
