"""What a campaign file reads of the profile, found once at load: the sections its audiences
and templates name, and the event names they count. A decision then builds only the costly
derived sections someone reads (event counts, offers, intent and journey, viewed products,
milestones); every other section is always there. A template that reads the whole profile, or
a section through a key it computes, makes the file read everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from jinja2 import TemplateSyntaxError

from opmaat.campaigns.model import CampaignSet
from opmaat.templates import PROFILE, RECOMMENDATIONS, RENDER_OBJECTS, template_reads

# Derived sections that cost something to build and that a decision builds only when read.
COSTLY = frozenset({"events", "offers", "intent", "journey", "viewed_products", "milestone"})
# Of those, the lists a template may be handed unbuilt (built when it first looks at them)
# when no audience reads them: most templates that show them are rarely rendered.
DEFERRABLE = frozenset({"offers"})
_LOGIC = ("$and", "$or", "$nor")


@dataclass(frozen=True, slots=True)
class ProfileReads:
    """``sections``: the costly sections read (None: all of them); ``events``: the event
    names read under ``events`` (None: every name); ``deferred``: sections of DEFERRABLE that
    only templates read."""

    sections: frozenset[str] | None = None
    events: frozenset[str] | None = None
    deferred: frozenset[str] = frozenset()

    def wants(self, section: str) -> bool:
        return self.sections is None or section in self.sections


EVERYTHING = ProfileReads()


class Deferred(Sequence[Any]):
    """A list a template may be handed unbuilt: ``make`` runs when it is first looked at
    (its length, an item, a slice, a loop), once."""

    __slots__ = ("_items", "_make")

    def __init__(self, make: Callable[[], list[Any]]) -> None:
        self._make: Callable[[], list[Any]] | None = make
        self._items: list[Any] = []

    def _built(self) -> list[Any]:
        if self._make is not None:
            self._items, self._make = self._make(), None
        return self._items

    def __len__(self) -> int:
        return len(self._built())

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self._built()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        return list(self) == (list(other) if isinstance(other, Deferred) else other)

    __hash__ = None  # type: ignore[assignment]


class _Reads:
    def __init__(self) -> None:
        self.sections: set[str] = set()
        self.audiences: set[str] = set()  # the sections audiences read
        self.events: set[str] | None = set()
        self.everything = False

    def path(self, keys: tuple[str, ...], *, audience: bool = False) -> None:
        if not keys:
            self.everything = True
            return
        section = keys[0]
        self.sections.add(section)
        if audience:
            self.audiences.add(section)
        if section == "events" and self.events is not None:
            if len(keys) > 1:
                self.events.add(keys[1])
            else:
                self.events = None  # the section as a whole: every name

    def condition(self, condition: Any) -> None:
        if not isinstance(condition, Mapping):
            return
        for key, value in condition.items():
            if key in _LOGIC:
                if isinstance(value, (list, tuple)):
                    for branch in value:
                        self.condition(branch)
            elif key == "$not":
                self.condition(value)
            elif isinstance(key, str) and not key.startswith("$"):
                self.path(tuple(key.split(".")), audience=True)

    def template(self, source: str) -> None:
        try:
            reads = template_reads(source)
        except (TemplateSyntaxError, RecursionError):
            self.everything = True  # the loader reports it; read as if it read anything
            return
        for read in reads:
            root = read.path[0]
            if root == PROFILE:
                self.path(read.path[1:])
            elif root != RECOMMENDATIONS and root not in RENDER_OBJECTS:
                self.path(read.path)


def profile_reads(campaigns: CampaignSet) -> ProfileReads:
    """What ``campaigns`` read of the profile (see the module docstring)."""
    found = _Reads()
    for campaign in campaigns.campaigns:
        found.condition(campaign.audience)
        for variant in campaign.variants:
            found.template(variant.source)
    for slot in campaigns.slots.values():
        found.template(slot.default)
    if found.everything:
        return EVERYTHING
    events = frozenset(found.events) if found.events is not None else None
    deferred = frozenset((found.sections - found.audiences) & DEFERRABLE)
    return ProfileReads(frozenset(found.sections & COSTLY), events, deferred)
