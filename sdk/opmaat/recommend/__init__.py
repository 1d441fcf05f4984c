"""Recommendations: what the crowd viewed and bought, for each visitor, with reasons.

``Recommender`` is the facade: ``learn`` from ``Event``s (only with ``full`` consent), ``refresh``
its snapshot from the store, ``recommend(strategy, visitor, n=...)`` a list of ``Item``s. The
catalogue is a ``Feed``; the learned lists live in a ``MemoryModelStore`` or a
``RedisModelStore`` (several nodes). See docs/recommendations.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opmaat.recommend.events import Event as Event
from opmaat.recommend.events import event_from_visit as event_from_visit
from opmaat.recommend.feed import Feed as Feed
from opmaat.recommend.feed import Product as Product
from opmaat.recommend.feed import load_feed as load_feed
from opmaat.recommend.feed import parse_feed as parse_feed
from opmaat.recommend.feed import product_from_page as product_from_page
from opmaat.recommend.guard import FloodGuard as FloodGuard
from opmaat.recommend.model import ModelSettings as ModelSettings
from opmaat.recommend.reasons import reason as reason
from opmaat.recommend.recommender import Item as Item
from opmaat.recommend.recommender import Recommender as Recommender
from opmaat.recommend.store import MemoryModelStore as MemoryModelStore
from opmaat.recommend.store import ModelStore as ModelStore
from opmaat.recommend.strategies import KINDS as KINDS
from opmaat.recommend.strategies import Strategy as Strategy
from opmaat.recommend.strategies import StrategyError as StrategyError
from opmaat.recommend.strategies import make_strategies as make_strategies
from opmaat.recommend.strategies import make_strategy as make_strategy
from opmaat.recommend.visitor import Visitor as Visitor
from opmaat.recommend.visitor import visitor_of as visitor_of

if TYPE_CHECKING:
    from opmaat.recommend.redis_model import RedisModelStore as RedisModelStore


def __getattr__(name: str) -> Any:
    # Imported when asked for: redis takes a tenth of a second to import, and a process whose
    # profile store is not Redis never needs it.
    if name == "RedisModelStore":
        from opmaat.recommend.redis_model import RedisModelStore

        return RedisModelStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
