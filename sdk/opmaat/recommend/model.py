"""The learned state: decayed counts in bounded lists, and what each event adds to them.

Five families of lists, each a map of member -> decayed count:

- ``viewed`` (key: a product): the products viewed in the same session as it (both ways);
- ``bought`` (key: a product): the products in the same orders as it;
- ``view-buy`` (key: a product): the products bought in sessions where it was viewed;
- ``popular`` and ``trending`` (key: a scope, ``all``, ``segment:S``, ``city:C``,
  ``country:CC``): the products viewed (1), put in a cart (3) and bought (5) there.

Counts fade: a count halves every ``half_life_days`` of its family (``trending`` halves in days,
the others in weeks). Every list keeps its ``keep`` highest counts (``popular`` lists keep
``keep_popular``, ``popular:all`` keeps ``max_items``), cut back to that when it has grown by
half as many again, and a store holds at most ``max_keys`` lists: the learned state is bounded
whatever the traffic. Readers see the ``show`` highest neighbours of each product, and the
whole of each popular and trending list.

A view counts once per session: viewing a product the session has seen adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from opmaat.recommend.events import Event

RELATIONS = ("viewed", "bought", "view-buy")
SCOPED = ("popular", "trending")
FAMILIES = (*RELATIONS, *SCOPED)
EVENT_WEIGHTS = {"product_view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
CO_VIEWS = 5  # the session's most recent views a new view is paired with
MAX_SCOPE_CHARS = 64


class Update(NamedTuple):
    """Add ``weight`` (as of the event's time) to ``member`` in the list ``family:key``."""

    family: str
    key: str
    member: str
    weight: float


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """The half-lives and bounds of the learned state (see the module docstring)."""

    relation_half_life_days: float = 30.0
    popular_half_life_days: float = 30.0
    trending_half_life_days: float = 3.0
    keep: int = 30
    keep_popular: int = 100
    max_items: int = 50_000
    show: int = 20
    max_keys: int = 200_000

    def __post_init__(self) -> None:
        halves = (
            self.relation_half_life_days,
            self.popular_half_life_days,
            self.trending_half_life_days,
        )
        if not all(0 < h <= 3650 for h in halves):
            raise ValueError("half-lives must be from 0 to 3650 days")
        if not (1 <= self.show <= self.keep <= 1000 and self.show <= self.keep_popular):
            raise ValueError("need 1 <= show <= keep <= 1000 and show <= keep_popular")
        if not (self.keep_popular <= self.max_items and self.max_keys >= 1):
            raise ValueError("need keep_popular <= max_items and max_keys >= 1")

    def half_life(self, family: str) -> float:
        """The family's half-life in seconds."""
        days = {
            "popular": self.popular_half_life_days,
            "trending": self.trending_half_life_days,
        }.get(family, self.relation_half_life_days)
        return days * 86400.0

    def cap(self, family: str, key: str) -> int:
        """How many members the list keeps after a cut."""
        if family in RELATIONS:
            return self.keep
        return self.max_items if key == "all" and family == "popular" else self.keep_popular

    def shown(self, family: str, key: str) -> int:
        """How many of a list's best members a reader gets: ``show`` of a product's
        neighbours, all of a popular or trending list."""
        return self.show if family in RELATIONS else self.cap(family, key)

    def cut_at(self, family: str, key: str) -> int:
        """How many members a list may reach before it is cut back to its cap."""
        cap = self.cap(family, key)
        return cap + cap // 2

    def rescale_after(self, family: str) -> float:
        """Seconds after which a list's counts are brought to the present (1/8 half-life)."""
        return self.half_life(family) / 8


def scope_key(by: str, value: str) -> str:
    """The key of a popular/trending list: ``city:utrecht``, ``country:NL``, ``segment:vip``."""
    text = value.strip()[:MAX_SCOPE_CHARS]
    return f"{by}:{text.upper() if by == 'country' else text.casefold()}"


def scopes(event: Event) -> list[str]:
    """The scopes an event counts in: ``all`` and the visitor's segments, city and country."""
    out = ["all", *(scope_key("segment", s) for s in event.segments)]
    if event.city:
        out.append(scope_key("city", event.city))
    if event.country:
        out.append(scope_key("country", event.country))
    return out


def updates(event: Event, products: tuple[str, ...], viewed: tuple[str, ...]) -> Iterator[Update]:
    """What the event adds, for those of its ``products`` and session ``viewed`` products that
    count (the caller has checked consent, the feed and the flood guard)."""
    if event.kind == "product_view":
        products = tuple(p for p in products if p not in viewed)
    if not products:
        return
    weight = EVENT_WEIGHTS[event.kind]
    for scope in scopes(event):
        for product in products:
            yield Update("popular", scope, product, weight)
            yield Update("trending", scope, product, weight)
    if event.kind == "product_view":
        product = products[0]
        for rank, other in enumerate(viewed[:CO_VIEWS]):
            near = 1.0 / (rank + 1)
            yield Update("viewed", product, other, near)
            yield Update("viewed", other, product, near)
    elif event.kind == "purchase":
        for product in products:
            for other in products:
                if other != product:
                    yield Update("bought", product, other, 1.0)
            for seen in viewed:
                if seen != product:
                    yield Update("view-buy", seen, product, 1.0)
