"""The preference fields a site declares (the campaign file's ``preferences`` section): what a
visitor may tell about themselves beyond their interests, such as a shoe size or a budget, each
with a type and the values it allows; and the offers those fields filter (``offers.py``).

A field is a ``choice`` (one of its ``values``, kept as text) or a ``number`` (from ``min`` to
``max``). Its value is ``prefs.<name>`` in the profile. A field with a ``column`` filters the
offers on that column of the offers file: a choice keeps the offers whose column lists the
value, a number the offers whose column is at most the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELD_TYPES = ("choice", "number")
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# prefs.* names the explicit profile already uses: no field may take one.
RESERVED = ("interests", "favourites", "ratings", "channels", "time_zone")
MAX_FIELDS = 20
MAX_VALUES = 100
MAX_VALUE_CHARS = 40


class FieldValueError(ValueError):
    """A value a field does not take; the message says what it takes."""


@dataclass(frozen=True, slots=True)
class PreferenceField:
    """One site-defined preference (see the module docstring)."""

    name: str
    label: str
    type: str = "choice"
    values: tuple[str, ...] = ()
    minimum: float = 0.0
    maximum: float = 1_000_000_000.0
    column: str | None = None

    def value(self, raw: Any) -> str | int | float:
        """``raw`` as this field keeps it (a form's text is read as a number for a number
        field); raises FieldValueError saying what the field takes."""
        if self.type == "choice":
            text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
            if isinstance(text, str) and text in self.values:
                return text
            shown = ", ".join(self.values[:12]) + (", …" if len(self.values) > 12 else "")
            raise FieldValueError(f"one of {shown}")
        number = _number(raw)
        if number is None or not self.minimum <= number <= self.maximum:
            raise FieldValueError(f"a number from {self.minimum:g} to {self.maximum:g}")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number

    def allows(self, value: Any) -> bool:
        """Whether ``value`` is one this field keeps, exactly as it keeps it."""
        if self.type == "choice":
            return isinstance(value, str) and value in self.values
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.minimum <= value <= self.maximum
        )

    @property
    def phrase(self) -> str:
        """The label inside a sentence: "Shoe size" becomes "shoe size" (an acronym such as
        "EU size" stays as written)."""
        label = self.label
        if len(label) > 1 and label[1].isupper():
            return label
        return label[:1].lower() + label[1:]


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        try:
            raw = float(raw.strip().replace(",", "."))
        except ValueError:
            return None
    if not isinstance(raw, int | float):
        return None
    try:
        number = float(raw)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Offer:
    """One row of the offers file: a product and, per filtering column, what it offers
    (``choices``: the texts a choice column lists; ``numbers``: a number column's value)."""

    id: str
    name: str
    url: str
    position: int
    price: float | None = None
    category: str | None = None
    image: str | None = None
    in_stock: bool = True
    choices: Mapping[str, frozenset[str]] = field(default_factory=dict)
    numbers: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OfferIndex:
    """The offers as picking reads them, made once when they load (offers.py): by id; those
    in stock by category, in file order; and per choice field and value, the ids of the offers
    it keeps (those whose column lists the value, or is empty) and those in stock by category;
    and the offers of a visitor nothing is known about."""

    by_id: Mapping[str, Offer] = field(default_factory=dict)
    by_category: Mapping[str | None, tuple[Offer, ...]] = field(default_factory=dict)
    kept: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    kept_by_category: Mapping[tuple[str, str], Mapping[str | None, tuple[Offer, ...]]] = field(
        default_factory=dict
    )
    # What a visitor nothing is known about gets (most first page views): made once.
    plain: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Preferences:
    """The campaign file's ``preferences`` section: its fields by name, the offers file and
    the offers read from it, in file order, with their index."""

    fields: Mapping[str, PreferenceField] = field(default_factory=dict)
    offers_file: Path | None = None
    offers: tuple[Offer, ...] = ()
    index: OfferIndex = field(default_factory=OfferIndex)


NO_PREFERENCES = Preferences()
