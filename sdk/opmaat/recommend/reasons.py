"""Why an item is in a list, in plain words: one phrase per source, naming what it came from."""

from __future__ import annotations

# source -> (phrase with the subject, phrase without one)
_PHRASES: dict[str, tuple[str, str]] = {
    "viewed-together": (
        "people who viewed {} also viewed this",
        "people who viewed what you viewed also viewed this",
    ),
    "bought-together": (
        "people who bought {} also bought this",
        "people who bought what you bought also bought this",
    ),
    "viewed-then-bought": (
        "people who viewed {} bought this",
        "people who viewed what you viewed bought this",
    ),
    "popular": ("popular in {}", "popular right now"),
    "popular-with": ("popular with {} visitors", "popular right now"),
    "trending": ("trending in {} this week", "trending this week"),
    "trending-with": ("trending with {} visitors this week", "trending this week"),
    "recently-viewed": ("you viewed this recently", "you viewed this recently"),
    "interest": ("because you like {}", "because of what you like"),
    "favourite": ("because you like {}", "because of what you like"),
    "rated": ("because you rated {} highly", "because of what you rated highly"),
    "viewed": ("because you viewed {}", "because of what you viewed"),
    "different": ("something different", "something different"),
}
SOURCES = tuple(_PHRASES)


def reason(source: str, subject: str | None = None) -> str:
    """The reason for an item from ``source`` (one of SOURCES); ``subject`` is what it came
    from, as a visitor reads it: a product's name from the feed, a place, a segment, or a
    category (whose '-' and '_' are read as spaces)."""
    with_subject, without = _PHRASES[source]
    if not subject:
        return without
    if source == "interest":
        subject = subject.replace("-", " ").replace("_", " ")
    return with_subject.format(subject)
