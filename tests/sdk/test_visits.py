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


def test_visit_times_are_whole_seconds_in_utc_however_the_time_is_stored() -> None:
    from datetime import UTC, datetime

    for stamp in (T0, T0 + 0.999999, -1.5, 0, 1, True, 253402300799.5):
        rec = {"first_seen": stamp, "last_seen": stamp, "visits": 1}
        expected = datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
        attrs = visit_attributes(rec, "vid")["visitor"]
        assert attrs["first_seen"] == attrs["last_seen"] == expected, stamp
    for junk in (float("nan"), float("inf"), -float("inf"), 1e300, -1e300):
        rec = {"first_seen": junk, "last_seen": junk}
        assert visit_attributes(rec, "vid")["visitor"]["first_seen"] is None, junk


def test_the_visit_times_of_one_second_are_made_once() -> None:
    a = visit_attributes({"first_seen": T0 + 0.1}, "vid")["visitor"]["first_seen"]
    b = visit_attributes({"first_seen": T0 + 0.7}, "vid")["visitor"]["first_seen"]
    assert a is b
