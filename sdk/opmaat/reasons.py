"""Plain-language reasons for decisions, built from the audience conditions that matched.

The phrases are chosen once per campaign when the file loads; at decision time they are filled
with the visitor's own values ("you came from a Google search for 'running shoes'"). A phrase is
used only when its part of the condition holds for this visitor, so a branch of an ``$or`` that
did not match is not mentioned. Values are plain text: whoever renders them as HTML escapes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opmaat.conditions import compile_condition, condition_paths

EVERYONE = "shown to every visitor"
MATCHED = "you match this campaign's audience"
HOLDOUT = "you are in the comparison group that sees the standard content"
NO_CAMPAIGN = "no campaign for this slot"
NOTHING_ELIGIBLE = "no campaign applies to you here, so you see the standard content"
STANDARD_CONTENT = "you see the standard content"
OPTED_OUT = "you turned personalization off, so you see the standard content"
BOT = "this looks like an automated visit (a crawler), so it gets the standard content"

MAX_VALUE_CHARS = 60

Profile = Mapping[str, Any]
Phrase = Callable[[Profile], str | None]
Check = Callable[[Profile], bool]

COUNTRIES = {
    "AE": "the United Arab Emirates",
    "AT": "Austria",
    "AU": "Australia",
    "BE": "Belgium",
    "BR": "Brazil",
    "CA": "Canada",
    "CH": "Switzerland",
    "CN": "China",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "the United Kingdom",
    "GR": "Greece",
    "HU": "Hungary",
    "IE": "Ireland",
    "IN": "India",
    "IT": "Italy",
    "JP": "Japan",
    "KR": "South Korea",
    "LU": "Luxembourg",
    "MX": "Mexico",
    "NL": "the Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SG": "Singapore",
    "TR": "Türkiye",
    "UK": "the United Kingdom",
    "US": "the United States",
    "ZA": "South Africa",
}
SOURCES = {
    "bing": "Bing",
    "duckduckgo": "DuckDuckGo",
    "ecosia": "Ecosia",
    "facebook": "Facebook",
    "google": "Google",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "pinterest": "Pinterest",
    "reddit": "Reddit",
    "tiktok": "TikTok",
    "twitter": "X",
    "x": "X",
    "yahoo": "Yahoo",
    "youtube": "YouTube",
}
DEVICES = {"mobile": "a mobile phone", "tablet": "a tablet", "desktop": "a computer"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def text(value: Any) -> str | None:
    """A visitor value as short, single-line plain text; None when there is nothing to say."""
    if isinstance(value, str):
        raw = value[: 4 * MAX_VALUE_CHARS]
    elif isinstance(value, int) and not isinstance(value, bool):
        raw = str(value) if -(10**15) < value < 10**15 else "a very large number"
    elif isinstance(value, float):
        raw = f"{value:g}"
    else:
        return None
    if not raw.isprintable() or "  " in raw:
        raw = " ".join("".join(c if c.isprintable() else " " for c in raw).split())
    raw = raw.strip()
    if len(raw) > MAX_VALUE_CHARS:
        raw = raw[: MAX_VALUE_CHARS - 1].rstrip() + "…"
    return raw or None


def _get(profile: Profile, *keys: str) -> Any:
    current: Any = profile
    for key in keys:
        if type(current) is not dict and not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _section(profile: Profile, name: str) -> Mapping[str, Any]:
    value = profile.get(name)
    return value if type(value) is dict or isinstance(value, Mapping) else _EMPTY


_EMPTY: Mapping[str, Any] = {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _count(value: float, one: str, many: str) -> str:
    return one if value == 1 else many.format(n=f"{value:g}")


def _source_name(source: str) -> str:
    return SOURCES.get(source.lower(), source[:1].upper() + source[1:])


def _referrer(profile: Profile) -> str | None:
    referrer = _section(profile, "referrer")
    medium = text(referrer.get("medium"))
    source = text(referrer.get("source"))
    name = _source_name(source) if source else None
    if medium == "search":
        term = text(referrer.get("term"))
        phrase = f"you came from a {name} search" if name else "you came from a search engine"
        return f"{phrase} for '{term}'" if term else phrase
    if medium == "social":
        return f"you came from {name}" if name else "you came from social media"
    if medium == "email":
        return "you came from an email"
    if medium == "paid":
        return f"you came from an ad on {name}" if name else "you came from an ad"
    if medium == "internal":
        return "you were already browsing this site"
    if medium == "direct":
        return "you came here directly"
    host = text(referrer.get("host"))
    if host:
        return f"you came from {host}"
    return "you came from another website" if medium == "referral" else None


def _geo(profile: Profile) -> str | None:
    geo = _section(profile, "geo")
    country = text(geo.get("country"))
    places = [
        text(geo.get("city")),
        text(geo.get("region")),
        COUNTRIES.get(country.upper(), country) if country else None,
    ]
    named: list[str] = []
    for place in places:
        # A city that is its own region (Berlin, Utrecht) is named once.
        if place and (not named or place.casefold() != named[-1].casefold()):
            named.append(place)
    return "you are in " + ", ".join(named) if named else None


def _device(profile: Profile) -> str | None:
    kind = text(_get(profile, "device", "type"))
    if kind is None:
        return None
    if kind == "bot":
        return "you are an automated visitor"
    return f"you are using {DEVICES.get(kind, kind)}"


def _visits(profile: Profile) -> str | None:
    visits = _number(_get(profile, "visitor", "visits"))
    if visits is None:
        return None
    return _count(visits, "this is your first visit", "you have visited {n} times")


def _new(profile: Profile) -> str | None:
    new = _get(profile, "visitor", "new")
    if not isinstance(new, bool):
        return None
    return "this is your first visit" if new else "you have been here before"


def _recency(profile: Profile) -> str | None:
    days = _number(_get(profile, "visitor", "days_since_last_visit"))
    if days is None:
        return None
    if days < 1:
        return "you were here earlier today"
    return _count(days, "you were last here yesterday", "you were last here {n} days ago")


def _pageviews(profile: Profile) -> str | None:
    views = _number(_get(profile, "session", "pageviews"))
    if views is None:
        return None
    return _count(
        views, "you have viewed 1 page this visit", "you have viewed {n} pages this visit"
    )


def _cart(profile: Profile) -> str | None:
    cart = _get(profile, "cart")
    if not isinstance(cart, Mapping):
        return None
    if cart.get("abandoned") is True:
        return "you left items in your cart"
    items = cart.get("items")
    count = _number(cart.get("count", len(items) if isinstance(items, list) else items))
    if count is None:
        return "you have items in your cart" if cart.get("value") else None
    if count <= 0:
        return "your cart is empty"
    return _count(count, "you have 1 item in your cart", "you have {n} items in your cart")


def _nearest(profile: Profile) -> str | None:
    name = text(_get(profile, "geo", "nearest", "name"))
    distance = _number(_get(profile, "geo", "nearest", "distance_km"))
    if name is None or distance is None:
        return None
    return f"our {name} store is {distance:g} km from you"


_MILESTONES = {
    "first_visit": "this is your first visit",
    "second_visit": "this is your second visit",
    "third_visit": "this is your third visit",
    "tenth_visit": "this is your tenth visit",
    "back_after_7_days": "you are back after a week or more away",
    "back_after_30_days": "you are back after a month or more away",
}


_EVENT_PHRASES = {
    "page_view": ("you viewed 1 page {when}", "you viewed {n} pages {when}"),
    "product_view": ("you looked at 1 product {when}", "you looked at {n} products {when}"),
    "add_to_cart": ("you added 1 product to your cart {when}", "you added {n} products {when}"),
    "purchase": ("you bought from us {when}", "you bought from us {n} times {when}"),
    "search": ("you searched our shop {when}", "you searched our shop {n} times {when}"),
}


def _event(name: str) -> Phrase:
    label = text(name.replace("_", " ")) or "event"
    one, many = _EVENT_PHRASES.get(
        name, (f"you did '{label}' {{when}}", f"you did '{label}' {{n}} times {{when}}")
    )

    def phrase(profile: Profile) -> str | None:
        counts = _get(profile, "events", name)
        if not isinstance(counts, Mapping):
            return None
        for key, when in (("count_1d", "today"), ("count_7d", "this week")):
            n = _number(counts.get(key))
            if n:
                return _count(n, one.replace("{when}", when), many.replace("{when}", when))
        return f"of what you did here recently ({label})"

    return phrase


def _hour(profile: Profile) -> str | None:
    hour = _number(_get(profile, "time", "hour"))
    if hour is None:
        return None
    if 5 <= hour < 12:
        return "it is morning where you are"
    if 12 <= hour < 18:
        return "it is afternoon where you are"
    if 18 <= hour < 23:
        return "it is evening where you are"
    return "it is night where you are"


def _weekday(profile: Profile) -> str | None:
    day = _get(profile, "time", "weekday")
    if isinstance(day, int) and not isinstance(day, bool) and 0 <= day < len(WEEKDAYS):
        return f"it is {WEEKDAYS[day]}"
    name = text(day)
    return f"it is {name.capitalize()}" if name else None


def _value_phrase(path: str, template: str) -> Phrase:
    keys = path.split(".")

    def phrase(profile: Profile) -> str | None:
        value = text(_get(profile, *keys))
        return template.replace("{value}", value) if value else None

    return phrase


def _interest(name: str) -> Phrase:
    shown = text(name.replace("_", " "))

    def phrase(profile: Profile) -> str | None:
        if name == "top":  # the category itself is the value
            top = text(_get(profile, "interests", "top"))
            return f"you showed interest in {top.replace('_', ' ')}" if top else None
        return f"you showed interest in {shown}" if shown else None

    return phrase


def _prefs(rest: str) -> Phrase:
    # What the visitor told us, in their words: "you chose size 42".
    keys = rest.split(".")
    section, name = keys[0], text(keys[1].replace("_", " ")) if len(keys) > 1 else None

    def phrase(profile: Profile) -> str | None:
        value = _get(profile, "prefs", *keys)
        if section == "interests" and name and value in ("more", "less"):
            return f"you asked to see {'more' if value == 'more' else 'less of'} {name}"
        if section == "favourites":
            return "you saved favourites"
        if section == "ratings" and name:
            stars = _number(value)
            return f"you gave {name} {stars:g} stars" if stars is not None else None
        if section in ("channels", "time_zone"):
            return "of the channels and hours you chose"
        shown = text(value)
        return f"you chose {section.replace('_', ' ')} {shown}" if shown else None

    return phrase


def _offers(profile: Profile) -> str | None:
    # The first offer's own reason ("because you chose size 42"), as one of the decision's.
    first = _get(profile, "offers")
    top = first[0] if isinstance(first, list) and first else None
    reason = top.get("reason") if isinstance(top, Mapping) else None
    said = text(reason.removeprefix("because ")) if isinstance(reason, str) else None
    return said or "of the offers picked for you"


def _segments(operand: Any) -> Phrase:
    wanted = _operand_values(operand)

    def phrase(profile: Profile) -> str | None:
        segments = _get(profile, "segments")
        if not isinstance(segments, (list, tuple)):
            return None
        # Name a segment the condition asked for; any of the visitor's will do otherwise.
        named = [s for s in segments if isinstance(s, str) and s in wanted] or segments
        for segment in named:
            name = text(segment)
            if name:
                return f"you are in the '{name}' segment"
        return None

    return phrase


def _in_group(group: Any) -> Phrase:
    name = text(group)

    def phrase(profile: Profile) -> str | None:
        return f"you are on the '{name}' list" if name else None

    return phrase


def _constant(sentence: str) -> Phrase:
    def phrase(profile: Profile) -> str | None:
        return sentence

    return phrase


def _generic(path: str) -> Phrase:
    return _constant(f"your {text(path) or 'profile'} matched")


def _operand_values(operand: Any) -> set[Any]:
    if isinstance(operand, Mapping):
        found: set[Any] = set()
        for value in operand.values():
            found |= _operand_values(value)
        return found
    if isinstance(operand, (list, tuple)):
        return {v for v in operand if isinstance(v, str | int | float)}
    return {operand} if isinstance(operand, str | int | float) else set()


_BY_PATH: dict[str, tuple[str, Phrase]] = {
    "referrer.medium": ("referrer", _referrer),
    "referrer.source": ("referrer", _referrer),
    "referrer.term": ("referrer", _referrer),
    "referrer.host": ("referrer", _referrer),
    "referrer.url": ("referrer", _referrer),
    "geo.country": ("geo", _geo),
    "geo.region": ("geo", _geo),
    "geo.city": ("geo", _geo),
    "device.type": ("device", _device),
    "device.os": ("device.os", _value_phrase("device.os", "you use {value}")),
    "device.browser": ("device.browser", _value_phrase("device.browser", "you use {value}")),
    "visitor.visits": ("visits", _visits),
    "visitor.new": ("new", _new),
    "visitor.days_since_last_visit": ("recency", _recency),
    "session.pageviews": ("pageviews", _pageviews),
    "utm.campaign": (
        "utm.campaign",
        _value_phrase("utm.campaign", "you came via the '{value}' campaign"),
    ),
    "time.hour": ("time.hour", _hour),
    "time.weekday": ("time.weekday", _weekday),
    "page.category": ("page", _value_phrase("page.category", "you are looking at {value}")),
    "page.product": ("page", _value_phrase("page.product", "you are looking at {value}")),
    "intent.score": ("intent", _constant("you seem close to a decision")),
    "journey.stage": ("journey", _constant("your stage as a shopper matched")),
    "geo.nearest.name": ("geo.nearest", _nearest),
    "geo.nearest.distance_km": ("geo.nearest", _nearest),
    "orders.count": ("orders", _constant("your order history with us matched")),
    "orders.value": ("orders", _constant("your order history with us matched")),
}


# The phrases that make the most of a few values of one section, and how to read those values.
_SECTION_READS: dict[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]] = {
    "referrer": lambda r: (r.get("medium"), r.get("source"), r.get("term"), r.get("host")),
    "geo": lambda g: (g.get("country"), g.get("city"), g.get("region")),
}
# Phrases kept per campaign's reason, for values of at most REMEMBERED_TEXT characters together.
REMEMBERED = 64
REMEMBERED_TEXT = 480


def _remembered(
    section: str, read: Callable[[Mapping[str, Any]], tuple[Any, ...]], phrase: Phrase
) -> Phrase:
    # ``phrase`` reads only what ``read`` does of ``section``: a visitor's next requests, and
    # visitors from the same place or search engine, find it already said. Only texts and
    # nulls are kept, and no other value equals one of them, so 1, 1.0 and True never mix.
    said: dict[tuple[Any, ...], str | None] = {}

    def remembered(profile: Profile) -> str | None:
        found = profile.get(section)
        values = read(found if type(found) is dict else _section(profile, section))
        try:
            return said[values]
        except KeyError:
            pass
        except TypeError:  # a list or an object where a text belongs
            return phrase(profile)
        found = phrase(profile)
        if all(type(v) is str or v is None for v in values) and (
            sum(len(v) for v in values if v is not None) <= REMEMBERED_TEXT
        ):
            if len(said) >= REMEMBERED:
                said.clear()  # rarely; single dict operations are thread-safe
            said[values] = found
        return found

    return remembered


def _phrase_for(path: str, operator: str, operand: Any) -> tuple[str, Phrase] | None:
    if operator == "$notInGroup":
        return None
    if operator == "$inGroup":
        return f"group:{operand}", _in_group(operand)
    known = _BY_PATH.get(path)
    if known is not None:
        key, phrase = known
        reads = _SECTION_READS.get(key)
        return (key, _remembered(key, reads, phrase)) if reads else known
    head, _, rest = path.partition(".")
    if head == "interests" and rest:
        return path, _interest(rest.split(".")[0])
    if head == "segments":
        return path, _segments(operand)
    if head == "cart":
        return "cart", _cart
    if head == "purl":
        return "purl", _constant("you followed your personal link")
    if head == "rfm":
        return "rfm", _constant("your order history with us matched")
    if head == "milestone" and rest in _MILESTONES:
        return path, _constant(_MILESTONES[rest])
    if head == "events" and rest:
        return f"events.{rest.split('.')[0]}", _event(rest.split(".")[0])
    if head == "viewed_products":
        return "viewed", _constant("you looked at some products recently")
    if head == "utm" and rest:
        return path, _value_phrase(path, "you came via a link tagged '{value}'")
    if head == "prefs" and rest:
        return path, _prefs(rest)
    if head == "offers":
        return "offers", _offers
    return path, _generic(path)


@dataclass(frozen=True, slots=True)
class _Part:
    phrase: Phrase
    checks: tuple[Check, ...]


class Reason:
    """Builds the reason for one campaign's audience; call it with the visitor's profile."""

    __slots__ = ("_empty", "_parts")

    def __init__(self, parts: Sequence[_Part], *, everyone: bool = False) -> None:
        self._parts = tuple(parts)
        self._empty = EVERYONE if everyone else MATCHED

    def __call__(self, profile: Profile) -> str:
        if len(self._parts) == 1:  # the common case, without the list
            (part,) = self._parts
            try:
                if not part.checks or _any_holds(part.checks, profile):
                    return part.phrase(profile) or self._empty
            except Exception:  # as below
                pass
            return self._empty
        phrases: list[str] = []
        for part in self._parts:
            try:
                if part.checks and not _any_holds(part.checks, profile):
                    continue
                phrase = part.phrase(profile)
            except Exception:  # a reason must never cost the visitor their decision
                continue
            if phrase and phrase not in phrases:
                phrases.append(phrase)
        return join(phrases) if phrases else self._empty


def _any_holds(checks: tuple[Check, ...], profile: Profile) -> bool:
    for check in checks:  # noqa: SIM110 - a generator would cost a frame per reason
        if check(profile):
            return True
    return False


def join(phrases: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def compile_reason(
    audience: Mapping[str, Any] | None, saved_groups: Mapping[str, Any] | None = None
) -> Reason:
    """The reason builder for a campaign whose audience is ``audience`` (None: everyone)."""
    if not audience:
        return Reason((), everyone=True)
    # Without an $or every leaf holds once the audience matched, so none needs re-checking.
    alternatives = _has_or(audience)
    groups: dict[str, tuple[Phrase, list[Check]]] = {}
    for path, operator, operand in condition_paths(audience):
        found = _phrase_for(path, operator, operand)
        if found is None:
            continue
        key, phrase = found
        checks = groups.setdefault(key, (phrase, []))[1]
        if alternatives:
            checks.append(compile_condition({path: {operator: operand}}, saved_groups))
    return Reason([_Part(phrase, tuple(checks)) for phrase, checks in groups.values()])


def _has_or(condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for key, value in condition.items():
        if key == "$or":
            return True
        if key == "$and" and isinstance(value, list) and any(_has_or(v) for v in value):
            return True
    return False
