"""The limits every path that creates or grows a stored profile goes through."""

from __future__ import annotations

import asyncio

import orjson

from opmaat.limits import Limits, address_key, fit_record
from opmaat.personalizer import Personalizer
from opmaat.store import MemoryStore
from opmaat_edge.resources import DEMO_CAMPAIGNS

UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}


def size(record: dict[str, object]) -> int:
    return len(orjson.dumps(record))


def big_record() -> dict[str, object]:
    return {
        "visits": 3,
        "session": {"id": "s", "pages": [{"url": "/" + "p" * 900, "n": n} for n in range(10)]},
        "decisions": [{"slot": "hero", "campaign": "c" * 300, "n": n} for n in range(10)],
        "viewed": [{"id": f"v{n}", "name": "v" * 300} for n in range(20)],
        "interests": {f"cat{n}": [float(n), 1.0] for n in range(30)},
        "cart": {"items": [{"id": f"i{n}", "name": "i" * 200} for n in range(20)]},
        "prefs": {"interests": {"running": "more"}},
    }


def test_a_record_within_its_bound_is_left_alone() -> None:
    record = {"visits": 1, "session": {"pages": [{"url": "/"}]}}
    assert fit_record(record, 1000)
    assert record == {"visits": 1, "session": {"pages": [{"url": "/"}]}}


def test_page_history_goes_before_the_cart_and_the_visitors_choices() -> None:
    record = big_record()
    assert size(record) > 20_000
    assert fit_record(record, 8_000)
    assert size(record) <= 8_000
    cart = record["cart"]
    assert isinstance(cart, dict)
    assert len(cart["items"]) == 20  # the cart is untouched
    assert record["prefs"] == {"interests": {"running": "more"}}
    session = record["session"]
    assert isinstance(session, dict)
    assert session["pages"] == []  # the oldest kind of history went first
    decisions = record["decisions"]
    assert isinstance(decisions, list)
    assert decisions == [] or decisions[-1]["n"] == 9  # the newest are kept


def test_the_lowest_interests_go_first() -> None:
    record: dict[str, object] = {"interests": {f"cat{n}": [float(n), 1.0] for n in range(30)}}
    assert fit_record(record, size(record) - 30)
    interests = record["interests"]
    assert isinstance(interests, dict)
    assert "cat0" not in interests
    assert "cat29" in interests


def test_a_record_that_cannot_be_made_small_enough_is_refused() -> None:
    record = {"prefs": {"note": "x" * 5000}}
    assert not fit_record(record, 1000)


def test_an_ipv6_client_counts_as_its_whole_64() -> None:
    assert address_key("2001:db8:1:2:3:4:5:6") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("198.51.100.7") == "198.51.100.7"


def test_the_middlewares_personalizer_holds_new_profiles_to_the_same_budget() -> None:
    store = MemoryStore()
    personalizer = Personalizer(
        DEMO_CAMPAIGNS, secret_keys=["k" * 20], store=store, limits=Limits(2)
    )

    async def visitors() -> list[bool]:
        kept = []
        for _ in range(4):
            visit = await personalizer.open(
                peer="203.0.113.9", headers=UA, cookies={"opmaat_consent": "full"}
            )
            await visit.page_view(["hero"], url="https://shop.example/", referrer=None)
            kept.append(any(c.name == "opmaat" for c in visit.cookie_changes()))
        return kept

    assert asyncio.run(visitors()) == [True, True, False, False]
    assert len(store) == 2


def test_decisions_kept_as_lines_go_oldest_first_and_the_estimate_holds() -> None:
    from opmaat.history import recent_decisions

    lines = "\n".join(
        orjson.dumps({"slot": "hero", "reason": 'a "quoted" reason ' * 20, "n": n}).decode()
        for n in range(10)
    )
    record: dict[str, object] = {"visits": 1, "decisions": lines}
    most = size(record) - 1500
    assert fit_record(record, most)
    assert size(record) <= most
    kept = [e["n"] for e in recent_decisions(record)]
    assert kept == list(range(10 - len(kept), 10))  # the newest stay
    assert 0 < len(kept) < 10
    # All of it shed, down to the empty log.
    record = {"decisions": lines}
    assert fit_record(record, len(b'{"decisions":""}'))
    assert record == {"decisions": ""}
