"""The recommender as the Personalizer runs it: learning from the visits it serves (full consent
only, once the record is saved), templates calling ``recommendations(...)`` for the request's
visitor, the visitor's "less of this" obeyed, and the learned lists kept beside the profile
store and across reloads."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from opmaat.campaigns import load_campaigns
from opmaat.engine import Decision, Engine
from opmaat.personalizer import Personalizer
from opmaat.recommend import MemoryModelStore, Recommender, RedisModelStore
from opmaat.recommend.live import checked_call, model_store
from opmaat.redis_store import RedisStore
from opmaat.sqlite_store import SQLiteStore
from opmaat.store import MemoryStore, Record

KEY = "live-recommendations-test-key-0123"
PERSON = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}
BOT = {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
FEED = """\
id,name,url,price,category
tent,Dome tent,/p/tent,179,outdoor
mat,Sleeping mat,/p/mat,35,outdoor
stove,Camping stove,/p/stove,49,outdoor
helmet,City helmet,/p/helmet,59,cycling
light,Bike light,/p/light,24,cycling
"""
CONFIG = """\
site: {{name: Shop, consent_default: {consent}}}
recommendations:
  feed: feed.csv
  serendipity: 0
  strategies:
    viewed-together: {{}}
    bought-together: {{}}
    popular: {{}}
slots:
  related: {{default: ""}}
  hero: {{default: "<p>hi</p>"}}
campaigns:
  - id: related
    slot: related
    variants:
      - key: a
        html: "{{% for i in recommendations('{strategy}', n=3) %}}[{{{{ i.name }}}}: \\
          {{{{ i.reason }}}}]{{% endfor %}}"
  - id: hero
    slot: hero
    variants: [{{key: a, html: "<p>hero</p>"}}]
"""
Cookies = dict[str, str]


def shop(folder: Path, consent: str = "full", strategy: str = "viewed-together") -> Path:
    (folder / "feed.csv").write_text(FEED, encoding="utf-8")
    config = folder / "campaigns.yaml"
    config.write_text(CONFIG.format(consent=consent, strategy=strategy), encoding="utf-8")
    return config


def personalizer(config: Path, store: Any = None) -> Personalizer:
    return Personalizer(config, secret_keys=[KEY], store=MemoryStore() if store is None else store)


async def view(
    p: Personalizer,
    product: str | None,
    cookies: Cookies | None = None,
    *,
    peer: str = "198.51.100.7",
    headers: Mapping[str, str] = PERSON,
    slots: tuple[str, ...] = ("related",),
) -> tuple[dict[str, Decision], Cookies]:
    """One page view (of a product page, unless ``product`` is None); the cookies after it."""
    visit = await p.open(peer=peer, headers=headers, cookies=cookies or {})
    page = {"product": product} if product else {}
    decisions = await visit.page_view(
        list(slots), url=f"https://shop.example/p/{product or ''}", referrer=None, page=page
    )
    changed = {c.name: c.value for c in visit.cookie_changes() if c.value}
    return decisions, {**(cookies or {}), **changed}


async def track(p: Personalizer, cookies: Cookies, name: str, props: Any = None) -> None:
    visit = await p.open(peer="198.51.100.7", headers=PERSON, cookies=cookies)
    tallies = visit.track(name, props)
    await visit.save_and_tally(tallies)


async def browse(p: Personalizer, *products: str, peer: str = "198.51.100.7") -> Cookies:
    cookies: Cookies = {}
    for product in products:
        _, cookies = await view(p, product, cookies, peer=peer)
    return cookies


def related(decisions: dict[str, Decision]) -> str | None:
    return decisions["related"].html


def learned(p: Personalizer) -> Recommender:
    recommender = p.recommender.current(p.runtime.current.campaigns)
    assert recommender is not None
    return recommender


def test_what_one_visitor_viewed_together_is_shown_to_the_next_with_its_reason(
    tmp_path: Path,
) -> None:
    async def scenario() -> str | None:
        p = personalizer(shop(tmp_path))
        await browse(p, "tent", "mat")
        await p.recommender.refresh(p.runtime.current.campaigns)
        decisions, _ = await view(p, "tent", peer="203.0.113.5")
        return related(decisions)

    assert asyncio.run(scenario()) == "[Sleeping mat: people who viewed Dome tent also viewed this]"


@pytest.mark.parametrize(("consent", "headers"), [("session", PERSON), ("full", BOT)])
def test_only_visitors_with_full_consent_teach_and_bots_never(
    tmp_path: Path, consent: str, headers: Mapping[str, str]
) -> None:
    async def scenario() -> Recommender:
        p = personalizer(shop(tmp_path, consent))
        cookies: Cookies = {}
        for product in ("tent", "mat"):
            _, cookies = await view(p, product, cookies, headers=headers)
        await p.recommender.refresh(p.runtime.current.campaigns)
        return learned(p)

    recommender = asyncio.run(scenario())
    assert recommender.snapshot.popular == {}
    assert isinstance(recommender.store, MemoryModelStore)
    assert len(recommender.store) == 0


def test_an_order_teaches_its_products_as_bought_together(tmp_path: Path) -> None:
    async def scenario() -> str | None:
        p = personalizer(shop(tmp_path, strategy="bought-together"))
        cookies = await browse(p, "tent")
        for product in ("tent", "stove"):
            await track(p, cookies, "add_to_cart", {"id": product, "name": product.title()})
        await track(p, cookies, "purchase", {"value": 228})
        await p.recommender.refresh(p.runtime.current.campaigns)
        decisions, _ = await view(p, "tent", peer="203.0.113.5")
        return related(decisions)

    said = "[Camping stove: people who bought Dome tent also bought this]"
    assert asyncio.run(scenario()) == said


class FailingWrites(MemoryStore):
    async def store_if(
        self, visitor_id: str, record: Record, ttl: float, token: Any, encoded: Any = None
    ) -> Any:
        raise ConnectionError("the store is down")


def test_nothing_is_learned_from_a_visit_whose_record_could_not_be_saved(tmp_path: Path) -> None:
    async def scenario() -> Recommender:
        p = personalizer(shop(tmp_path), FailingWrites())
        await browse(p, "tent", "mat")
        await p.recommender.refresh(p.runtime.current.campaigns)
        return learned(p)

    assert learned_nothing(asyncio.run(scenario()))


def learned_nothing(recommender: Recommender) -> bool:
    return recommender.snapshot.popular == {} and recommender.snapshot.related["viewed"] == {}


def test_the_page_product_seeds_a_visitor_nothing_is_kept_of(tmp_path: Path) -> None:
    async def scenario() -> str | None:
        p = personalizer(shop(tmp_path))
        await browse(p, "tent", "mat")
        await p.recommender.refresh(p.runtime.current.campaigns)
        headers = {**PERSON, "sec-gpc": "1"}
        stranger = await p.open(
            peer="203.0.113.5", headers=headers, cookies={"opmaat_consent": "none"}
        )
        decisions = await stranger.page_view(
            ["related"], url="https://shop.example/p/tent", referrer=None, page={"product": "tent"}
        )
        assert stranger.consent.tier == "none"
        return related(decisions)

    assert asyncio.run(scenario()) == "[Sleeping mat: people who viewed Dome tent also viewed this]"


def test_less_of_a_category_on_the_visitors_own_say_is_never_recommended(tmp_path: Path) -> None:
    async def scenario() -> tuple[str | None, str | None]:
        p = personalizer(shop(tmp_path, strategy="popular"))
        for number, product in enumerate(("tent", "tent", "helmet", "mat")):
            await browse(p, product, peer=f"192.0.2.{number}")
        await p.recommender.refresh(p.runtime.current.campaigns)
        cookies = await browse(p, "light", peer="203.0.113.5")
        before, _ = await view(p, None, cookies)
        visit = await p.open(peer="203.0.113.5", headers=PERSON, cookies=cookies)
        visit.change(lambda record: {**record, "prefs": {"interests": {"outdoor": "less"}}})
        await visit.save()
        after, _ = await view(p, None, cookies)
        return related(before), related(after)

    before, after = asyncio.run(scenario())
    assert before is not None
    assert "[Dome tent: popular right now]" in before
    assert after == "[City helmet: popular right now]"


def test_a_page_whose_templates_do_not_ask_computes_no_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(
        Recommender, "recommend", lambda self, strategy, *args: calls.append(strategy) or []
    )

    async def scenario() -> None:
        p = personalizer(shop(tmp_path))
        await view(p, "tent", slots=("hero",))
        assert calls == []
        await view(p, "tent", slots=("hero", "related"))

    asyncio.run(scenario())
    assert calls == ["viewed-together"]


def test_a_reload_keeps_what_was_learned_and_takes_the_new_strategies(tmp_path: Path) -> None:
    async def scenario() -> tuple[Recommender, Recommender, str | None]:
        config = shop(tmp_path)
        p = personalizer(config)
        await browse(p, "tent", "mat")
        await p.recommender.refresh(p.runtime.current.campaigns)
        before = learned(p)
        config.write_text(config.read_text().replace("popular: {}", "hot: {kind: trending}"))
        assert p.runtime.reload()
        after = learned(p)
        decisions, _ = await view(p, "tent", peer="203.0.113.5")
        return before, after, related(decisions)

    before, after, html = asyncio.run(scenario())
    assert after is before
    assert set(after.strategies) == {"viewed-together", "bought-together", "hot"}
    assert html == "[Sleeping mat: people who viewed Dome tent also viewed this]"


def test_the_learned_lists_live_beside_the_profile_store(tmp_path: Path) -> None:
    assert isinstance(model_store(MemoryStore()), MemoryModelStore)
    redis = RedisStore(Redis.from_url("redis://127.0.0.1:1/0"), prefix="shop")
    shared = model_store(redis)
    assert isinstance(shared, RedisModelStore)
    assert (shared.client, shared.breaker, shared.prefix) == (redis.client, redis.breaker, "shop")
    sqlite = SQLiteStore.from_url(f"sqlite:///{tmp_path / 'opmaat.db'}")
    assert isinstance(model_store(sqlite), MemoryModelStore)  # each process learns on its own
    asyncio.run(sqlite.close())
    asyncio.run(redis.client.aclose())


def test_one_address_viewing_a_product_over_and_over_counts_as_three_views(
    tmp_path: Path,
) -> None:
    async def scenario() -> Recommender:
        p = personalizer(shop(tmp_path))
        for _ in range(20):  # a new visitor each time, from one address
            await browse(p, "helmet", peer="203.0.113.9")
        await browse(p, "tent", peer="192.0.2.1")
        await p.recommender.refresh(p.runtime.current.campaigns)
        return learned(p)

    recommender = asyncio.run(scenario())
    ids, counts = recommender.snapshot.popular["all"]
    assert dict(zip(ids, counts, strict=True))["helmet"] == pytest.approx(3.0, rel=0.01)
    assert recommender.guard.refused == 17


def test_an_engine_handed_no_function_renders_empty_lists(tmp_path: Path) -> None:
    # What a caller that binds no recommender (the cockpit's preview) gets: no failed render.
    engine = Engine(load_campaigns(shop(tmp_path)))
    decisions = engine.decide({"page": {"product": "tent"}}, ["related"])
    assert decisions["related"].campaign == "related"
    assert decisions["related"].html == ""
    assert engine.render_errors == 0


@pytest.mark.parametrize(
    ("strategy", "n", "products"),
    [
        (None, 4, None),
        ("", 4, None),
        ("popular", "4", None),
        ("popular", True, None),
        ("popular", 51, None),
        ("popular", 4, "tent"),
        ("popular", 4, ["a"] * 6),
        ("popular", 4, [7]),
    ],
)
def test_a_call_with_bad_arguments_is_refused(strategy: Any, n: Any, products: Any) -> None:
    with pytest.raises(ValueError, match=r"strategy|n is how many|products is a list"):
        checked_call(strategy, n, products)


def test_a_template_that_passes_a_bad_size_fails_its_render_and_keeps_the_default(
    tmp_path: Path,
) -> None:
    config = shop(tmp_path)
    config.write_text(config.read_text().replace("n=3", "n=page.size"))

    async def scenario() -> tuple[Decision, int]:
        p = personalizer(config)
        visit = await p.open(peer="198.51.100.7", headers=PERSON, cookies={})
        decisions = await visit.page_view(
            ["related"], url="https://shop.example/", referrer=None, page={"size": "many"}
        )
        return decisions["related"], p.runtime.current.engine.render_errors

    decision, errors = asyncio.run(scenario())
    assert (decision.campaign, decision.html, errors) == (None, None, 1)
