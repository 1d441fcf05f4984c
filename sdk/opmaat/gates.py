"""Gates: cheap necessary conditions that pick, per slot, the campaigns a visitor could see.

A gate is one attribute of a campaign's audience that must hold for anyone the audience lets
in, in a form that a dict look-up or a binary search can judge:

- a text gate: the attribute is one of some texts (implicit equality or ``$eq`` with a text,
  which an array never equals; ``$in`` with texts, which an array matches through any element);
- a number gate: the attribute compares with numbers (``$gt``, ``$gte``, ``$lt``, ``$lte``, all
  of them numbers), as `conditions` compares: a number as it is, a missing attribute, null or
  false as 0, true as 1; a text (JavaScript's ``Number("8")``) is left to the full condition.

An audience has one gate (its first text gate, else its first number gate) or, when its only
qualifying key is ``$or``, one per branch (any branch letting the visitor through lets the
campaign through). A path through anything but plain objects is left to the full condition.

With hundreds of campaigns most audiences fail. A profile's *signature* holds what every gated
attribute is, reduced to what the gates can tell apart (a text some gate names, the set of such
texts in an array, a number's place among the bounds the gates name, or `OPAQUE`), so that it
repeats between visitors; each slot keeps the candidates a signature lets through.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .predicates import Number

# Signatures kept per slot and channel (each a tuple of a few texts and small numbers).
PASSING_CACHE = 1024
# More bounds than this on one attribute and its number gates judge nothing (every visitor's
# number would be a signature of its own, and the kept lists would turn over all the time).
MAX_BOUNDS = 64

OPAQUE: Any = object()  # a value only the full condition can judge

# The operators a number gate takes, as the conditions compare two numbers.
_COMPARE = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


@dataclass(frozen=True, slots=True)
class Gate:
    """One gated attribute of an audience: ``texts`` it must be one of (``in_array``: or an
    array holding one), or ``bounds`` every one of which it must meet (operator, number)."""

    path: tuple[str, ...]
    texts: frozenset[str] = frozenset()
    in_array: bool = False
    bounds: tuple[tuple[str, Number], ...] = ()


def audience_gates(audience: Mapping[str, Any] | None) -> tuple[tuple[Gate, ...], bool]:
    """The gates of ``audience`` (a visitor it lets in passes at least one of them; none: the
    audience has no gate), and whether one gate is the whole audience (it then needs no check
    of its own once the gate lets a visitor through)."""
    if not audience:
        return (), False
    found = _first_gate(audience, numbers=False) or _first_gate(audience, numbers=True)
    if found is not None:
        gate, operand = found
        # A number gate holds all of its operators; a text gate one ($eq or $in) or a text.
        whole = bool(gate.bounds) or isinstance(operand, str) or len(operand) == 1
        return (gate,), len(audience) == 1 and whole
    branches = audience.get("$or")
    if not isinstance(branches, list) or not branches:
        return (), False  # an empty $or lets everyone in
    gates: list[Gate] = []
    for branch in branches:
        inner, _ = audience_gates(branch) if isinstance(branch, Mapping) else ((), False)
        if not inner:
            return (), False  # a branch without a gate can let anyone in
        gates.extend(inner)
    return tuple(gates), False


def _first_gate(audience: Mapping[str, Any], *, numbers: bool) -> tuple[Gate, Any] | None:
    for key, value in audience.items():
        if not isinstance(key, str) or key.startswith("$") or not key:
            continue
        path = tuple(key.split("."))
        if numbers:
            bounds = _bounds(value)
            if bounds:
                return Gate(path, bounds=bounds), value
            continue
        texts: Any = ()
        in_array = False
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, dict) and value and all(str(op).startswith("$") for op in value):
            if isinstance(value.get("$eq"), str):
                texts = [value["$eq"]]
            elif isinstance(value.get("$in"), list):
                texts, in_array = value["$in"], True
        if texts and all(isinstance(t, str) for t in texts):
            return Gate(path, texts=frozenset(texts), in_array=in_array), value
    return None


def _bounds(value: Any) -> tuple[tuple[str, Number], ...]:
    if not isinstance(value, dict) or not value or not value.keys() <= _COMPARE.keys():
        return ()
    bounds = []
    for op, bound in value.items():
        if type(bound) is not int and (type(bound) is not float or not math.isfinite(bound)):
            return ()  # a text, a flag, NaN or an infinity: the full condition judges
        bounds.append((op, bound))
    return tuple(sorted(bounds))


class Gated(Protocol):
    """What a slate keeps: a campaign flattened for deciding, with its gates and its audience
    check (None: no audience)."""

    @property
    def gates(self) -> tuple[Gate, ...]: ...

    @property
    def gate_only(self) -> bool: ...

    @property
    def matches(self) -> Any: ...


G = TypeVar("G", bound=Gated)
# A gated attribute: its path, and the texts its gates name or the bounds they compare with.
_Place = tuple[tuple[str, ...], frozenset[str] | None, tuple[Number, ...] | None]


class Gates:
    """The gated attributes of a campaign set, each with what its gates can tell apart: the
    texts they name, or the numbers they compare with (sorted)."""

    __slots__ = ("_walk", "places")

    def __init__(self, gated: Iterable[Gated]) -> None:
        texts: dict[tuple[str, ...], set[str]] = {}
        bounds: dict[tuple[str, ...], set[Number]] = {}
        for each in gated:
            for gate in each.gates:
                if gate.bounds:
                    bounds.setdefault(gate.path, set()).update(b for _, b in gate.bounds)
                else:
                    texts.setdefault(gate.path, set()).update(gate.texts)
        # (path, texts, None) or (path, None, sorted bounds); a path with too many bounds
        # keeps its place (a slate finds it) but judges nothing (None for its bounds too).
        self.places: list[_Place] = [
            (path, frozenset(names), None) for path, names in texts.items()
        ]
        for path, numbers in bounds.items():
            judged = tuple(sorted(numbers)) if len(numbers) <= MAX_BOUNDS else None
            self.places.append((path, None, judged))
        # What signature() walks: each path's first key and the rest, and what its gates tell
        # apart.
        self._walk = tuple(
            (path[0], path[1:], names, numbers) for path, names, numbers in self.places
        )

    def place(self, gate: Gate) -> int:
        """Where ``gate``'s attribute is in a signature."""
        number = bool(gate.bounds)
        for i, (path, names, _) in enumerate(self.places):
            if path == gate.path and (names is None) == number:
                return i
        raise KeyError(gate.path)

    def bounds(self, place: int) -> tuple[Number, ...] | None:
        """The sorted bounds of a number gate's attribute; None when there are too many to
        judge by (its gates then let every visitor through to the full condition)."""
        return self.places[place][2]

    def signature(self, profile: Mapping[str, Any]) -> tuple[Any, ...]:
        """What each gated attribute of ``profile`` is, as far as the gates can tell."""
        out: list[Any] = []
        # Typed as a dict, its lookups are the dict's own (not a method called by name).
        plain: dict[str, Any] | None = profile if type(profile) is dict else None
        for first, rest, names, numbers in self._walk:
            value: Any = plain.get(first) if plain is not None else _get(profile, first)
            for key in rest:  # a path through anything but objects is for the condition to judge
                if type(value) is dict:
                    value = value.get(key)
                elif value is None:
                    break
                else:
                    value = _get(value, key)
                    if value is OPAQUE:
                        break
            if value is OPAQUE:
                out.append(OPAQUE)
            elif names is not None:
                if type(value) is str or isinstance(value, str):
                    out.append(value if value in names else None)
                elif isinstance(value, (list, tuple)):
                    out.append(frozenset(i for i in value if isinstance(i, str) and i in names))
                else:
                    out.append(None)
            elif numbers is None:
                out.append(OPAQUE)
            else:
                # The number the conditions compare, by where it falls among the bounds: 2i + 1
                # on bounds[i], 2i between bounds[i - 1] and bounds[i]. JavaScript's Number() of
                # a text is left to the condition; NaN compares with nothing.
                kind = type(value)
                if kind is int or kind is float:
                    if value != value:
                        out.append(OPAQUE)
                        continue
                elif value is None or value is False:
                    value = 0
                elif value is True:
                    value = 1
                else:
                    out.append(OPAQUE)
                    continue
                i = bisect_left(numbers, value)
                out.append(2 * i + 1 if i < len(numbers) and numbers[i] == value else 2 * i)
        return tuple(out)


def _get(value: Any, key: str) -> Any:
    # A key of a dict (a subclass too); OPAQUE from anything else.
    return value.get(key) if isinstance(value, dict) else OPAQUE


def _meets(place: int, bounds: tuple[Number, ...], wanted: tuple[tuple[str, Number], ...]) -> bool:
    # Whether any number at ``place`` (see Gates.signature) meets every (operator, bound).
    i = place // 2
    for op, bound in wanted:
        if place % 2:  # the number is bounds[i]
            ok = _COMPARE[op](bounds[i], bound)
        else:  # strictly between bounds[i - 1] and bounds[i]: above exactly the bounds before i
            below = bounds.index(bound) < i
            ok = below if op in ("$gt", "$gte") else not below
        if not ok:
            return False
    return True


Passing = tuple[G, Any]  # a candidate and its audience check still to make (None: none)


class Slate(Generic[G]):
    """The candidates of one slot and channel in priority order, indexed by their gates.

    ``passing(signature)`` picks the candidates a profile's gated values let through by dict
    look-ups, and keeps the list found for each signature: visitors share a handful of
    countries, mediums, devices and numbers' places, so most decisions find theirs ready.
    """

    __slots__ = ("_found", "candidates", "free", "gates")

    def __init__(self, candidates: Sequence[G], gates: Gates) -> None:
        self.candidates = tuple(candidates)
        # Positions of the candidates without a gate; per gated attribute (by its place in the
        # signature), the positions each text lets through (by_text: the attribute is that
        # text; by_item: an array with it) or each number's place (by_place), and all of that
        # attribute's positions (for a value the gates cannot judge).
        self.free = tuple(i for i, c in enumerate(candidates) if not c.gates)
        by_text: dict[int, dict[str, list[int]]] = {}
        by_item: dict[int, dict[str, list[int]]] = {}
        by_place: dict[int, list[list[int]]] = {}
        gated: dict[int, list[int]] = {}
        for i, candidate in enumerate(candidates):
            for gate in candidate.gates:
                place = gates.place(gate)
                if not gated.get(place) or gated[place][-1] != i:
                    gated.setdefault(place, []).append(i)
                if gate.bounds:
                    bounds = gates.bounds(place)
                    if bounds is None:
                        continue  # the signature holds OPAQUE for this attribute
                    lists = by_place.setdefault(place, [[] for _ in range(2 * len(bounds) + 1)])
                    for spot, positions in enumerate(lists):
                        if _meets(spot, bounds, gate.bounds):
                            positions.append(i)
                    continue
                texts, items = by_text.setdefault(place, {}), by_item.setdefault(place, {})
                for text in gate.texts:
                    texts.setdefault(text, []).append(i)
                    if gate.in_array:
                        items.setdefault(text, []).append(i)
        self.gates = tuple(
            (
                place,
                {k: tuple(v) for k, v in by_text.get(place, {}).items()},
                {k: tuple(v) for k, v in by_item.get(place, {}).items()},
                tuple(tuple(v) for v in by_place.get(place, ())),
                tuple(positions),
            )
            for place, positions in gated.items()
        )
        self._found: dict[tuple[Any, ...], tuple[Passing[G], ...]] = {}

    def passing(self, signature: tuple[Any, ...]) -> tuple[Passing[G], ...]:
        """The candidates whose gates let a profile with this signature through, in priority
        order, each with the audience check still to make (None: a gate decided it)."""
        found = self._found.get(signature)
        if found is None:
            found = self._passing(signature)
            if len(self._found) >= PASSING_CACHE:
                self._found.clear()  # rarely; single dict operations are thread-safe
            self._found[signature] = found
        return found

    def _passing(self, signature: tuple[Any, ...]) -> tuple[Passing[G], ...]:
        positions = set(self.free)
        decided: set[int] = set()
        for place, by_text, by_item, by_place, gated in self.gates:
            value = signature[place]
            if value is OPAQUE:
                positions.update(gated)
            elif type(value) is int:
                decided.update(by_place[value])
            elif isinstance(value, str):
                decided.update(by_text.get(value, ()))
            elif isinstance(value, frozenset):
                # An array matches ``$in`` through any element (and so any of several).
                for item in value:
                    decided.update(by_item.get(item, ()))
        positions |= decided
        out = []
        for i in sorted(positions):
            candidate = self.candidates[i]
            settled = i in decided and candidate.gate_only
            out.append((candidate, None if settled else candidate.matches))
        return tuple(out)
