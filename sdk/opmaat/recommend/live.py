"""The recommender as a Personalizer runs it: configured by the running campaign file's
``recommendations`` section, learning from the visits it serves, and bound to each request's
visitor for templates (``recommendations(strategy, n=4, products=[...])``).

The learned lists live beside the profile store: on Redis in the same server (so the nodes
learn from each other's visitors), otherwise in this process (with SQLite, each process learns
on its own). They outlive campaign reloads: a reload only swaps the feed and the strategies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opmaat.campaigns.model import CampaignSet
from opmaat.recommend.events import event_from_visit
from opmaat.recommend.feed import Feed, product_from_page
from opmaat.recommend.recommender import MAX_N, Item, Recommender
from opmaat.recommend.store import MemoryModelStore, ModelStore
from opmaat.recommend.strategies import MAX_SEEDS
from opmaat.recommend.visitor import MAX_VIEWED, Visitor, visitor_of
from opmaat.store import MemoryStore, ProfileStore, Record
from opmaat.templates import no_recommendations

if TYPE_CHECKING:
    from opmaat.personalizer import Visit

log = logging.getLogger("opmaat.recommend")
LEARNED = ("product_view", "add_to_cart", "purchase")
MAX_ID_CHARS = 100

Recommend = Callable[..., list[Any]]


def model_store(store: ProfileStore) -> ModelStore:
    """Where the learned lists go for this profile store: Redis for Redis (the same client,
    keys and circuit breaker), this process's memory otherwise."""
    if isinstance(store, MemoryStore):
        return MemoryModelStore()
    from opmaat.redis_store import RedisStore  # imports redis: only for a store that is not memory

    if isinstance(store, RedisStore):
        from opmaat.recommend.redis_model import RedisModelStore

        return RedisModelStore(
            store.client, prefix=store.prefix, timeout=store.timeout, breaker=store.breaker
        )
    return MemoryModelStore()


def checked_call(strategy: Any, n: Any, products: Any) -> tuple[str, int, tuple[str, ...]]:
    """The arguments of a ``recommendations`` call (a template's, or the server API's) once
    checked; raises ValueError saying what is wrong."""
    if not isinstance(strategy, str) or not strategy:
        raise ValueError("recommendations() needs a strategy's name")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_N:
        raise ValueError(f"n is how many items: a whole number from 0 to {MAX_N}")
    if products is None:
        products = ()
    if (
        not isinstance(products, list | tuple)
        or len(products) > MAX_SEEDS
        or not all(isinstance(p, str) and 0 < len(p) <= MAX_ID_CHARS for p in products)
    ):
        raise ValueError(f"products is a list of at most {MAX_SEEDS} product ids")
    return strategy, n, tuple(products)


def visitor_for(profile: Mapping[str, Any], record: Record | None) -> Visitor:
    """The visitor a list is made for: from the profile and the stored record (None: a preview
    or a visitor nothing is kept of), with the page's own product as the most recent view
    (what a product page recommends from, kept or not)."""
    visitor = visitor_of(profile, record or None)
    page = profile.get("page")
    shown = page.get("product") if isinstance(page, Mapping) else None
    if isinstance(shown, int) and not isinstance(shown, bool):
        shown = str(shown)
    if isinstance(shown, str) and 0 < len(shown) <= MAX_ID_CHARS and visitor.viewed[:1] != (shown,):
        viewed = (shown, *(p for p in visitor.viewed if p != shown))
        visitor = replace(visitor, viewed=viewed[:MAX_VIEWED])
    return visitor


class LiveRecommender:
    """The Personalizer's recommender (see the module docstring)."""

    def __init__(self, store: ProfileStore) -> None:
        self.model = model_store(store)
        self.pages = Feed.from_pages()  # the catalogue when the section names no feed file
        self._made: Recommender | None = None
        self._section_of: CampaignSet | None = None
        self._on = False

    def current(self, campaigns: CampaignSet) -> Recommender | None:
        """The recommender as ``campaigns`` configure it; None when they have no
        recommendations section. Cheap when they are the ones it was configured for."""
        if campaigns is not self._section_of:
            self._configure(campaigns)
        return self._made if self._on else None

    def _configure(self, campaigns: CampaignSet) -> None:
        self._section_of = campaigns
        section = campaigns.recommendations
        self._on = section is not None
        if section is None:
            return
        feed = campaigns.feed if campaigns.feed is not None else self.pages
        if self._made is None:
            self._made = Recommender(feed, self.model, section.strategies)
            return
        self._made.strategies = dict(section.strategies)
        if feed is not self._made.feed:
            self._made.use_feed(feed)

    async def refresh(self, campaigns: CampaignSet) -> None:
        """Bring the lists up to date with what every node learned (a store failure is
        logged and counted by the recommender)."""
        recommender = self.current(campaigns)
        if recommender is not None:
            await recommender.refresh()

    def function(
        self, campaigns: CampaignSet, profile: Mapping[str, Any], record: Record | None
    ) -> Recommend:
        """``recommendations(strategy, n=4, products=None)`` for templates, bound to this
        visitor; nothing is computed until a template calls it."""
        recommender = self.current(campaigns)
        if recommender is None:
            return no_recommendations
        visitors: list[Visitor] = []

        def recommendations(strategy: Any, n: Any = 4, products: Any = None) -> list[Item]:
            name, size, seeds = checked_call(strategy, n, products)
            if not visitors:
                visitors.append(visitor_for(profile, record))
            return recommender.recommend(name, visitors[0], size, seeds)

        return recommendations

    def note(
        self,
        visit: Visit,
        kind: str,
        product_id: str | None,
        context: dict[str, Any] | None = None,
    ) -> None:
        """Keep, in ``visit.lessons``, what a product event teaches: built from the record as
        it is now, before the event is applied (an order's products are the cart it empties),
        and learned by ``teach`` once the record is saved. Only from a visitor with full
        consent (a bot never has it), and only while there is a recommendations section.
        ``context``: the request's, for a page view (its product page adds to a catalogue
        learned from pages)."""
        if kind not in LEARNED or visit.consent.tier != "full":
            return
        recommender = self.current(visit.runtime.campaigns)
        if recommender is None:
            return
        try:
            self._note(recommender, visit, kind, product_id, context)
        except Exception:  # what is learned must never cost the visitor their request
            log.warning("could not note what a %s event teaches", kind, exc_info=True)

    def _note(
        self,
        recommender: Recommender,
        visit: Visit,
        kind: str,
        product_id: str | None,
        context: dict[str, Any] | None,
    ) -> None:
        facts = visit.facts(None, None, None)
        if context is None:
            context = visit.runtime.context.build(facts)
        elif recommender.feed.learns:
            shown = product_from_page(context["page"])
            if shown is not None:
                recommender.feed.note(shown)
        address = None  # a server's own call: trusted, no flood guard
        if visit.consent.source != "server":
            address = visit.runtime.context.client_ip(facts) or visit.peer or "-"
        event = event_from_visit(
            kind,
            visit.record,
            products=(product_id,) if product_id else (),
            profile=visit.profile(context),
            consent=visit.consent.tier,
            visitor=visit.ident.visitor_id,
            address=address,
            at=time.time(),
        )
        if event.products:
            visit.lessons.append(event)

    async def teach(self, visit: Visit) -> None:
        """Learn what ``visit`` noted (its record is saved); a failure is logged, never
        raised: the visitor's request does not depend on it."""
        lessons, visit.lessons = visit.lessons, []
        recommender = self.current(visit.runtime.campaigns) if lessons else None
        if recommender is None:
            return
        for event in lessons:
            try:
                await recommender.learn(event)
            except Exception:
                log.warning("could not learn from a %s event", event.kind, exc_info=True)
