"""Server channels' customers: their own records, links to web profiles, erasure."""

from __future__ import annotations

import asyncio

import pytest

from opmaat.channels import (
    CallerAttributeError,
    caller_attributes,
    customer_visitor_id,
    link_key,
    overlay,
)
from opmaat.personalizer import Personalizer
from opmaat.store import MemoryStore
from opmaat_edge.resources import DEMO_CAMPAIGNS

OLD, NEW = "an-old-signing-key-0123456789", "a-new-signing-key-0123456789"
UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}


def test_a_customers_own_record_is_found_after_a_key_rotation() -> None:
    store = MemoryStore()

    async def scenario() -> None:
        before = Personalizer(DEMO_CAMPAIGNS, secret_keys=[OLD], store=store)
        visit = await before.open_customer("c-1001")
        await visit.decide_for_channel(["hero"], channel="email", attributes={})
        first = visit.ident.visitor_id
        assert first == customer_visitor_id(OLD, "c-1001")
        assert await store.get(first) is not None
        after = Personalizer(DEMO_CAMPAIGNS, secret_keys=[NEW, OLD], store=store)
        again = await after.open_customer("c-1001")
        assert again.ident.visitor_id == first  # the same record, history and variant
        # A customer new since the rotation gets an id under the new key.
        fresh = await after.open_customer("c-2002")
        assert fresh.ident.visitor_id == customer_visitor_id(NEW, "c-2002")

    asyncio.run(scenario())


def test_own_record_ids_are_keyed_so_a_customer_list_does_not_reveal_them() -> None:
    assert customer_visitor_id(OLD, "c-1") != customer_visitor_id(NEW, "c-1")
    assert customer_visitor_id(OLD, "c-1") != customer_visitor_id(OLD, "c-2")
    assert customer_visitor_id(OLD, "c-1").isascii()


def test_erasing_one_customer_leaves_another_customers_own_record() -> None:
    store = MemoryStore()

    async def scenario() -> None:
        personalizer = Personalizer(DEMO_CAMPAIGNS, secret_keys=[NEW], store=store)
        for customer in ("anne", "bob"):
            own = await personalizer.open_customer(customer)
            await own.decide_for_channel(["hero"], channel="email", attributes={})
        web = await personalizer.open(
            peer="198.51.100.1", headers=UA, cookies={"opmaat_consent": "full"}
        )
        await web.page_view(["hero"], url="https://shop.example/", referrer=None)
        cookie = next(c for c in web.cookie_changes() if c.name == "opmaat")
        cookies = {"opmaat_consent": "full", "opmaat": cookie.value or ""}
        for customer in ("anne", "bob"):  # one shared browser, two logins
            login = await personalizer.open(peer="198.51.100.1", headers=UA, cookies=cookies)
            login.identify(customer)
            await login.save()
            # A login gives the profile a new visitor id: the browser takes the new cookie.
            cookie = next(c for c in login.cookie_changes() if c.name == "opmaat")
            cookies["opmaat"] = cookie.value or ""
        later = await personalizer.open(peer="198.51.100.1", headers=UA, cookies=cookies)
        await later.forget()  # Bob deletes "his" data
        assert await store.get(customer_visitor_id(NEW, "bob")) is None
        assert await store.get(customer_visitor_id(NEW, "anne")) is not None
        for customer in ("anne", "bob"):
            link = await store.get(link_key(customer))
            assert link in (None, {"visitor": ""})

    asyncio.run(scenario())


def test_caller_attributes_are_checked_and_merged_one_level_deep() -> None:
    given = caller_attributes({"geo": {"country": "NL"}, "segments": ["vip"]})
    merged = overlay({"geo": {"city": "Utrecht"}, "segments": []}, given)
    assert merged == {"geo": {"city": "Utrecht", "country": "NL"}, "segments": ["vip"]}
    for bad in ({"visitor": {}}, {"consent": {}}, {"geo": {"a": {"b": {"c": {"d": 1}}}}}, [1]):
        with pytest.raises(CallerAttributeError):
            caller_attributes(bad)
