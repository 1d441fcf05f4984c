"""Fuzzing what pages and API callers send beside headers: page metadata, consent, preference
patches, products and events, PURL tokens, targeting conditions, whole profiles fed to the
engine, and the HTML the middleware rewrites.

Each either answers its documented neutral or typed result or raises its documented error
(ProductError, EventError, PreferenceError, ConditionError), nothing else.
"""

from __future__ import annotations

import asyncio
import codecs
import itertools
import math
import re
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opmaat.campaigns import CampaignSet, load_campaigns
from opmaat.cart import (
    MAX_CART_ITEMS,
    MAX_ID_CHARS,
    MAX_LINK_CHARS,
    MAX_NAME_CHARS,
    MAX_PRICE,
    MAX_QUANTITY,
    ProductError,
    cart_attributes,
    clean_product,
    order_attributes,
    viewed_products,
)
from opmaat.conditions import compile_condition
from opmaat.consent import CHOICES, OPT_OUT, TIERS, Consent, resolve_consent
from opmaat.engine import Decision, Engine
from opmaat.errors import ConditionError
from opmaat.html_slots import OPTIONAL_END, VOID, Scanner, SlotElement
from opmaat.middleware.page import BodyRewriter, PagePersonalization
from opmaat.preferences import (
    MAX_PREFERRED,
    OWN_KEYS,
    PreferenceError,
    apply_patch,
    stored_prefs,
)
from opmaat.profile import (
    MAX_META_CHARS,
    MAX_META_KEYS,
    ContextBuilder,
    ProfileSources,
    RequestFacts,
    build_profile,
    clean_page_meta,
    page_attributes,
)
from opmaat.purl import PurlSigner, unsigned_key
from opmaat.tracking import EventError, apply_event, check_event, known_events
from opmaat_edge.resources import DEMO_CAMPAIGNS
from tests.fuzz import HUGE_INTS, any_text, fuzz, integers, json_values, short_text, token_soup

# Examples of several KB are the point here; hypothesis warns that showing them is costly.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_META_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_KEY = re.compile(r"[A-Za-z0-9]{8}")

json_objects = st.dictionaries(short_text, json_values, max_size=5)


# --- page metadata ------------------------------------------------------------------------

META_KEYS = ["category", "product", "price", "product_name", "Category", "a" * 41, "x-y", "_a"]
metas = st.one_of(
    json_values,
    st.dictionaries(st.one_of(st.sampled_from(META_KEYS), short_text), json_values, max_size=30),
)


@fuzz(300)
@given(meta=metas)
def test_clean_page_meta_keeps_short_scalars_under_snake_case_keys(meta: Any) -> None:
    out = clean_page_meta(meta)
    assert isinstance(out, dict)
    assert len(out) <= MAX_META_KEYS
    for key, value in out.items():
        assert _META_KEY.fullmatch(key)
        assert value is None or isinstance(value, bool | int | float | str)
        if isinstance(value, str):
            assert len(value) <= MAX_META_CHARS


@fuzz(300)
@given(url=st.one_of(st.none(), any_text), meta=metas)
def test_page_attributes_always_have_url_and_path(url: str | None, meta: Any) -> None:
    out = page_attributes(url, meta if isinstance(meta, Mapping) else {})
    assert out["url"] is None or (isinstance(out["url"], str) and 0 < len(out["url"]) <= 2048)
    assert out["path"] is None or isinstance(out["path"], str)
    if url:
        assert out["url"] == url[:2048]


# --- consent ------------------------------------------------------------------------------

consent_headers = st.dictionaries(
    st.sampled_from(["sec-gpc", "dnt", "user-agent", "x"]),
    st.one_of(st.sampled_from(["1", " 1 ", "0", "", "true"]), any_text),
    max_size=3,
)
tiers_or_junk = st.one_of(st.sampled_from([*CHOICES, "FULL", "", "all"]), json_values)


@fuzz(300)
@given(
    default=st.one_of(st.sampled_from([*TIERS, "off", ""]), any_text),  # from the loader: text
    choice=tiers_or_junk,
    headers=consent_headers,
    page_default=tiers_or_junk,
)
def test_resolve_consent_always_gives_a_known_tier(
    default: str, choice: Any, headers: dict[str, str], page_default: Any
) -> None:
    consent = resolve_consent(default, choice, headers, page_default)
    assert isinstance(consent, Consent)
    assert consent.tier in TIERS
    assert consent.choice is None or consent.choice in CHOICES
    assert consent.capped_by in (None, "gpc", "dnt")
    assert consent.source in ("choice", "page", "site")
    assert consent.personalized == (consent.choice != OPT_OUT)
    signal = headers.get("sec-gpc", "").strip() == "1" or headers.get("dnt", "").strip() == "1"
    if signal:
        assert consent.tier != "full"
    if consent.capped_by is not None:
        assert consent.tier == "session"
    if consent.choice is None:
        rank = {tier: i for i, tier in enumerate(TIERS)}
        site = default if default in rank else "none"
        assert rank[consent.tier] <= rank[site]  # a page may only lower the site's default


# --- preferences --------------------------------------------------------------------------

interest_patches = st.fixed_dictionaries(
    {
        "interests": st.dictionaries(
            st.one_of(
                st.sampled_from(["shoes", "outdoor", "top", "Shoes", "a b", "-x"]), short_text
            ),
            st.one_of(st.sampled_from(["more", "less", None]), json_values),
            max_size=35,
        )
    }
)


@fuzz(300)
@given(current=st.one_of(json_objects, st.just({})), patch=st.one_of(interest_patches, json_values))
def test_apply_patch_gives_clean_preferences_or_preference_error(
    current: dict[str, Any], patch: Any
) -> None:
    try:
        out = apply_patch(current, patch)
    except PreferenceError:
        return
    assert "interests" in out
    assert set(out) <= set(OWN_KEYS)
    interests = out["interests"]
    assert len(interests) <= MAX_PREFERRED
    for key, value in interests.items():
        assert _CATEGORY.fullmatch(key)
        assert value in ("more", "less")


@fuzz(200)
@given(record=st.one_of(json_objects, st.fixed_dictionaries({"prefs": json_values})))
def test_stored_prefs_of_any_record(record: dict[str, Any]) -> None:
    out = stored_prefs(record)
    assert "interests" in out
    assert set(out) <= set(OWN_KEYS)
    assert all(v in ("more", "less") for v in out["interests"].values())
    assert stored_prefs({"prefs": out}) == out  # what is read back is kept as it is


# --- products and events ------------------------------------------------------------------

products = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.sampled_from(["sku-1", 12, " 7 ", "", True, 10**30]), json_values),
            "name": st.one_of(st.just("Boots"), json_values),
            "price": st.one_of(st.floats(), integers, json_values),
            "quantity": st.one_of(st.integers(-5, 1005), json_values),
            "category": st.one_of(st.sampled_from(["shoes", "Outdoor Gear", "top"]), json_values),
            "url": st.one_of(
                st.sampled_from(["/p/1", "//evil", "/\\evil", "https://x.y/"]), any_text
            ),
            "image": st.one_of(st.sampled_from(["https://[::1/", "http://", "/i.png"]), any_text),
        },
    ),
)


def check_product(out: dict[str, Any]) -> None:
    assert isinstance(out["id"], str)
    assert 1 <= len(out["id"]) <= MAX_ID_CHARS
    assert out["id"] == out["id"].strip()
    assert not _CONTROL.search(out["id"])
    assert isinstance(out["quantity"], int)
    assert 1 <= out["quantity"] <= MAX_QUANTITY
    if "name" in out:
        assert isinstance(out["name"], str)
        assert len(out["name"]) <= MAX_NAME_CHARS
    if "price" in out:
        assert isinstance(out["price"], int | float)
        assert not isinstance(out["price"], bool)
        assert 0 <= out["price"] <= MAX_PRICE
    if "category" in out:
        assert _CATEGORY.fullmatch(out["category"])
    for field in ("url", "image"):
        if field in out:
            link = out[field]
            assert 0 < len(link) <= MAX_LINK_CHARS
            assert not link.startswith("//")
            assert "\\" not in link
            assert not _CONTROL.search(link)


@fuzz(400)
@given(payload=products)
def test_clean_product_gives_a_product_or_product_error(payload: Any) -> None:
    try:
        out = clean_product(payload)
    except ProductError:
        return
    check_product(out)


CAMPAIGNS: CampaignSet = load_campaigns(DEMO_CAMPAIGNS)
KNOWN = known_events(CAMPAIGNS.site.events, [c.goal for c in CAMPAIGNS.campaigns])
EVENT_NAMES = [*sorted(KNOWN), "click", "Purchase", "", "unknown_event"]
event_props = st.one_of(
    products,
    st.fixed_dictionaries({}, optional={"value": st.one_of(st.floats(), integers, json_values)}),
)


@fuzz(400)
@given(name=st.one_of(st.sampled_from(EVENT_NAMES), json_values), props=event_props)
def test_check_event_gives_a_product_none_or_event_error(name: Any, props: Any) -> None:
    try:
        out = check_event(name, props, KNOWN)
    except EventError:
        return
    assert name in KNOWN
    if name in ("product_view", "add_to_cart", "remove_from_cart"):
        assert out is not None
        check_product(out)
    else:
        assert out is None


# A stored record as another version or a damaged store may hold it: the right keys with any
# values, or anything at all.
RECORD_KEYS = [
    "cart",
    "orders",
    "bought",
    "viewed",
    "events",
    "session",
    "visits",
    "first_seen",
    "last_seen",
    "interests",
    "prefs",
    "customer",
    "segments",
    "purl",
    "response",
    "decisions",
    "milestones",
]
# Times as a store may hold them: any number, including ones far outside datetime's range.
stamps = st.one_of(
    st.floats(),
    integers,
    st.sampled_from([*HUGE_INTS, -62135596801, 253402300800, 2**63, 1.7e9]),
)
records = st.one_of(
    json_objects,
    st.fixed_dictionaries(
        {},
        optional={
            **dict.fromkeys(RECORD_KEYS, json_values),
            "first_seen": st.one_of(stamps, json_values),
            "last_seen": st.one_of(stamps, json_values),
            "visits": st.one_of(integers, json_values),
            "session": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "id": st.one_of(st.just("s1"), json_values),
                        "started": stamps,
                        "pages": json_values,
                        "events": json_values,
                        "days_since_last_visit": st.one_of(stamps, json_values),
                    },
                ),
            ),
            "cart": st.fixed_dictionaries(
                {"items": st.lists(st.one_of(products, json_values), max_size=6)},
                optional={"updated": st.one_of(stamps, json_values), "session": json_values},
            ),
            "orders": st.fixed_dictionaries(
                {},
                optional={
                    "count": st.one_of(integers, json_values),
                    "value": st.one_of(stamps, json_values),
                    "last": st.one_of(stamps, json_values),
                },
            ),
            "events": st.dictionaries(
                st.one_of(st.sampled_from(sorted(KNOWN)), short_text),
                st.one_of(st.lists(st.lists(stamps, max_size=3), max_size=4), json_values),
                max_size=4,
            ),
        },
    ),
)


@fuzz(300)
@given(
    record=records,
    name=st.sampled_from(sorted(KNOWN)),
    props=event_props,
    now=st.floats(0, 4e9),
)
def test_an_accepted_event_applies_to_any_stored_record_or_raises_event_error(
    record: dict[str, Any], name: str, props: Any, now: float
) -> None:
    try:
        product = check_event(name, props, KNOWN)
        apply_event(record, name, props, product, now=now, session_id="s1", half_life_days=7.0)
    except EventError:
        return
    cart = cart_attributes(record, now, "s1")
    assert len(cart["items"]) <= MAX_CART_ITEMS
    assert isinstance(cart["value"], float)
    assert math.isfinite(cart["value"])


@fuzz(300)
@given(record=records, now=st.floats(-1e10, 1e10), session=st.one_of(st.none(), short_text))
def test_cart_and_order_attributes_of_any_record(
    record: dict[str, Any], now: float, session: str | None
) -> None:
    cart = cart_attributes(record, now, session)
    assert cart["count"] == sum(item["quantity"] for item in cart["items"])
    assert math.isfinite(cart["value"])
    orders = order_attributes(record)
    assert isinstance(orders["count"], int)
    assert orders["count"] >= 0
    assert orders["value"] >= 0
    assert all(isinstance(v["id"], str) for v in viewed_products(record))


CONTEXT = ContextBuilder().build(RequestFacts(peer="192.0.2.1", headers={}))
SOURCES = ProfileSources.of(CAMPAIGNS, KNOWN)


@fuzz(300)
@given(record=records, visitor=st.one_of(st.none(), short_text), now=st.floats(0, 4e9))
def test_build_profile_of_any_stored_record(
    record: dict[str, Any], visitor: str | None, now: float
) -> None:
    consent = Consent("full")
    profile = build_profile(
        CONTEXT, record, visitor_id=visitor, consent=consent, now=now, sources=SOURCES
    )
    for key in ("visitor", "cart", "orders", "interests", "prefs", "events", "consent"):
        assert key in profile


# --- PURL tokens --------------------------------------------------------------------------

PURL = PurlSigner(("fuzz-purl-key-0123456789abcdef",))
link_keys = st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=8)
_B64 = string.ascii_letters + string.digits + "-_"
token_like = st.builds(
    lambda key, stamp, sig: f"{key}.{stamp}.{sig}",
    st.one_of(link_keys, short_text),
    st.text(alphabet=_B64, min_size=1, max_size=11),
    st.text(alphabet=_B64, min_size=16, max_size=16),
)
ages = st.one_of(st.floats(), st.just(60.0 * 86400))


@fuzz(300)
@given(token=st.one_of(any_text, token_like, st.binary(max_size=120)), max_age=ages)
def test_verify_never_raises_and_gives_a_key_only_when_signed(
    token: str | bytes, max_age: float
) -> None:
    key, status = PURL.verify(token, max_age)
    assert status in ("ok", "expired", "invalid")
    if status == "invalid":
        assert key is None
    else:
        assert key is not None
        assert _KEY.fullmatch(key)


@fuzz(200)
@given(
    key=link_keys,
    at=st.integers(0, 39),
    piece=st.sampled_from(["", "A", "0", ".", "-", "_", "é", "\x00"]),
)
def test_a_tampered_token_is_invalid_or_still_the_same_key(key: str, at: int, piece: str) -> None:
    token = PURL.issue(key)
    assert PURL.verify(token, 60.0) == (key, "ok")
    at %= len(token)
    changed = token[:at] + piece + token[at + 1 :]
    found, status = PURL.verify(changed, 60.0)
    assert status in ("ok", "invalid")
    if status == "ok":
        assert found == key


@fuzz(300)
@given(token=st.one_of(any_text, token_like, json_values))
def test_unsigned_key_is_none_or_the_tokens_first_eight_characters(token: Any) -> None:
    key = unsigned_key(token)
    if key is not None:
        assert _KEY.fullmatch(key)
        assert token.startswith(key)


# --- targeting conditions -----------------------------------------------------------------

OPERATORS = [
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$veq",
    "$vne",
    "$vgt",
    "$vgte",
    "$vlt",
    "$vlte",
    "$in",
    "$nin",
    "$ini",
    "$nini",
    "$inGroup",
    "$notInGroup",
    "$all",
    "$alli",
    "$elemMatch",
    "$size",
    "$exists",
    "$type",
    "$regex",
    "$regexi",
    "$notRegex",
    "$notRegexi",
    "$not",
    "$and",
    "$or",
    "$nor",
    "$unknown",
]
PATHS = ["geo.country", "visitor.visits", "cart.items.0.id", "cart.items.length", "tags", "a..b"]
OPERANDS = [
    "string",
    "number",
    "array",
    "NL",
    "1.2.3",
    "v2.0.0-rc.1+b",
    "^a[",
    "(?P<",
    "a|b",
    "vip",
]
# Short texts keep each example fast (patterns run on RE2: linear, whatever the fuzzer writes).
small_text = st.text(max_size=8)
small_scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(),
    small_text,
)
condition_keys = st.one_of(st.sampled_from(OPERATORS + PATHS), small_text)
condition_values = st.recursive(
    st.one_of(small_scalars, st.sampled_from(OPERANDS)),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(condition_keys, kids, max_size=4)
    ),
    max_leaves=16,
)
operands = st.one_of(
    small_scalars,
    st.sampled_from(OPERANDS),
    st.lists(st.one_of(small_scalars, st.sampled_from(OPERANDS)), max_size=4),
    condition_values,
)
# The shape real conditions have: {path: value or {operator: operand}}, joined by $and/$or/...
leaf_conditions = st.dictionaries(
    st.one_of(st.sampled_from(PATHS), small_text),
    st.one_of(
        operands, st.dictionaries(st.sampled_from(OPERATORS), operands, min_size=1, max_size=3)
    ),
    min_size=1,
    max_size=3,
)
logical_conditions = st.dictionaries(
    st.sampled_from(["$and", "$or", "$nor", "$not"]),
    st.one_of(st.lists(leaf_conditions, max_size=3), leaf_conditions),
    min_size=1,
    max_size=2,
)
conditions = st.one_of(
    st.none(),
    leaf_conditions,
    logical_conditions,
    st.dictionaries(condition_keys, condition_values, max_size=4),
    condition_values,
)
saved_groups = st.dictionaries(
    st.one_of(st.just("vip"), small_text), st.one_of(st.lists(small_scalars), condition_values)
)
attribute_values = st.recursive(
    small_scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [
                        "geo",
                        "visitor",
                        "cart",
                        "items",
                        "0",
                        "country",
                        "visits",
                        "tags",
                        "id",
                        "length",
                    ]
                ),
                small_text,
            ),
            kids,
            max_size=4,
        ),
    ),
    max_leaves=16,
)


@fuzz(400)
@given(condition=conditions, groups=saved_groups, strict=st.booleans(), attributes=attribute_values)
def test_compile_condition_raises_only_condition_error_and_never_fails_to_evaluate(
    condition: Any, groups: dict[str, Any], strict: bool, attributes: Any
) -> None:
    try:
        matcher = compile_condition(condition, groups, strict=strict)
    except ConditionError:
        assert strict  # without strict a bad condition compiles to "never matches"
        return
    assert matcher(attributes) in (True, False)
    profile = {"geo": attributes, "visitor": attributes, "cart": attributes, "tags": attributes}
    assert matcher(profile) in (True, False)


NUMBER_OPERATORS = ["$gt", "$gte", "$lt", "$lte", "$veq", "$vgt", "$vlte", "$eq", "$ne", "$size"]
numbers = st.one_of(st.sampled_from(HUGE_INTS), st.floats(), integers)


@fuzz(150)
@given(
    operator=st.sampled_from(NUMBER_OPERATORS),
    operand=st.one_of(numbers, st.lists(numbers, max_size=3)),
    value=st.one_of(numbers, small_text, st.lists(numbers, max_size=3)),
    strict=st.booleans(),
)
def test_number_operators_compile_any_number_and_evaluate_any_value(
    operator: str, operand: Any, value: Any, strict: bool
) -> None:
    condition = {"visitor.visits": {operator: operand}}
    try:
        matcher = compile_condition(condition, strict=strict)
    except ConditionError:
        assert strict
        return
    assert matcher({"visitor": {"visits": value}}) in (True, False)


# --- the engine on any profile ------------------------------------------------------------

ENGINE = Engine(CAMPAIGNS)
CAMPAIGN_IDS = [c.id for c in CAMPAIGNS.campaigns]
SLOT_NAMES = list(CAMPAIGNS.slots)
PROFILE_KEYS = [
    "visitor",
    "session",
    "geo",
    "device",
    "referrer",
    "utm",
    "time",
    "page",
    "interests",
    "prefs",
    "customer",
    "rfm",
    "segments",
    "purl",
    "events",
    "milestone",
    "cart",
    "orders",
    "viewed_products",
    "intent",
    "journey",
    "response",
    "consent",
]
BASE_PROFILE = build_profile(
    CONTEXT, {}, visitor_id="v1", consent=Consent("full"), now=1.7e9, sources=SOURCES
)
responses = st.dictionaries(
    st.sampled_from(CAMPAIGN_IDS),
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "seen": st.one_of(
                    st.lists(st.one_of(st.floats(), integers, json_values)), json_values
                ),
                "adaptive": st.one_of(
                    st.fixed_dictionaries(
                        {"session": st.sampled_from(["s1", None]), "variant": json_values}
                    ),
                    json_values,
                ),
            },
        ),
    ),
)
consents = st.fixed_dictionaries(
    {
        "tier": st.one_of(st.sampled_from(TIERS[::-1]), json_values),  # full first
        "personalized": st.one_of(st.just(True), json_values),
    }
)


def either(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value of the shape campaigns test, or anything (good first: hypothesis favours it)."""
    return st.one_of(good, json_values)


# Sections shaped like the ones the demo's audiences and templates read, with any values in
# them: so that campaigns match and their templates render fuzzed text.
SECTIONS: dict[str, st.SearchStrategy[Any]] = {
    "geo": st.fixed_dictionaries(
        {"country": either(st.sampled_from(["NL", "BE"]))},
        optional={
            "city": either(any_text),
            "nearest": st.fixed_dictionaries(
                {"distance_km": either(st.floats()), "name": either(any_text)}
            ),
        },
    ),
    "device": st.fixed_dictionaries({"type": either(st.sampled_from(["mobile", "desktop"]))}),
    "referrer": st.fixed_dictionaries(
        {"medium": either(st.sampled_from(["search", "social"])), "term": either(any_text)}
    ),
    "visitor": st.fixed_dictionaries(
        {"visits": either(integers), "id": either(st.sampled_from(["v1", "v2", ""]))}
    ),
    "cart": st.fixed_dictionaries(
        {
            "abandoned": either(st.booleans()),
            "count": either(integers),
            "items": either(st.lists(json_objects, max_size=3)),
        }
    ),
    "segments": either(st.lists(st.sampled_from(["vip", "rfm-champions", "x"]), max_size=3)),
    "rfm": st.fixed_dictionaries({"cell": either(any_text), "segment": either(any_text)}),
    "interests": st.fixed_dictionaries({"top": either(st.sampled_from(["running", None]))}),
    "events": st.fixed_dictionaries(
        {"product_view": st.fixed_dictionaries({"count_1d": either(integers)})}
    ),
    "milestone": st.dictionaries(
        st.sampled_from(["third_visit", "back_after_30_days"]), either(st.booleans())
    ),
    "intent": st.fixed_dictionaries({"score": either(integers)}),
    "purl": st.fixed_dictionaries(
        {"campaign": either(st.just("spring-mailing")), "forwarded": either(st.booleans())},
        optional={"first_name": either(any_text), "company": either(any_text)},
    ),
    "consent": consents,
    "response": responses,
    "session": st.fixed_dictionaries({"id": either(st.sampled_from(["s1", "s2"]))}),
}
overrides = st.dictionaries(
    st.sampled_from(PROFILE_KEYS),
    st.one_of(json_values, json_objects),
    max_size=3,
)
profiles = st.one_of(
    st.fixed_dictionaries({}, optional=SECTIONS).map(lambda shaped: {**BASE_PROFILE, **shaped}),
    overrides.map(lambda changed: {**BASE_PROFILE, **changed}),
    st.dictionaries(st.one_of(st.sampled_from(PROFILE_KEYS), short_text), json_values, max_size=10),
)
slot_lists = st.lists(st.one_of(st.sampled_from(SLOT_NAMES), json_values), max_size=8)
slot_lists = st.one_of(st.lists(st.sampled_from(SLOT_NAMES), max_size=8), slot_lists)


@fuzz(300)
@given(
    profile=profiles,
    slots=slot_lists,
    channel=st.one_of(st.sampled_from(["web", "email", "app"]), short_text),
    now=st.one_of(st.none(), st.datetimes(), st.datetimes(timezones=st.just(UTC))),
    exclude=st.lists(st.sampled_from(CAMPAIGN_IDS), max_size=3),
)
def test_decide_never_raises_on_any_profile(
    profile: dict[str, Any],
    slots: list[Any],
    channel: str,
    now: datetime | None,
    exclude: list[str],
) -> None:
    decisions = ENGINE.decide(profile, slots, channel=channel, now=now, exclude=exclude)
    wanted = list(dict.fromkeys(s for s in slots if isinstance(s, str)))
    assert list(decisions) == wanted
    for slot, decision in decisions.items():
        assert isinstance(decision, Decision)
        assert decision.slot == slot
        assert isinstance(decision.reason, str)
        assert decision.html is None or isinstance(decision.html, str)
        if decision.campaign is None:
            assert decision.variant is None
            assert decision.html is None
        else:
            assert decision.campaign in CAMPAIGN_IDS
            assert decision.campaign not in exclude


# --- HTML slots ---------------------------------------------------------------------------

HTML_TOKENS = [
    "<",
    ">",
    "</",
    "/>",
    "=",
    '"',
    "'",
    " ",
    "\n",
    "<div>",
    "</div>",
    "</div >",
    "<div data-opmaat-slot=hero>",
    '<section data-opmaat-slot="side" class="x">',
    "</section>",
    "<DIV DATA-OPMAAT-SLOT='a-b'>",
    "<p data-opmaat-slot=p>",
    "<img data-opmaat-slot=i>",
    "<div data-opmaat-slot=x data-opmaat-filled=server>",
    "<div title='<div data-opmaat-slot=t>'>",
    "data-opmaat-slot",
    "<!--",
    "-->",
    "<script>",
    "</script>",
    '<script type="application/ld+json">',
    '{"@type": "Product", "sku": "s1", "offers": {"price": "1e999"}}',
    "<style>",
    "</style>",
    "<textarea>",
    "</textarea>",
    "<title>",
    '<meta name="opmaat:category" content="shoes">',
    "<meta name=opmaat:Bad content=x>",
    "<meta",
    "&amp;",
    "é",
    "\x00",
]


def _element(tag: str, attrs: str, children: list[str], closed: bool) -> str:
    return f"<{tag}{attrs}>" + "".join(children) + (f"</{tag}>" if closed else "")


SLOT_ATTRIBUTES = [
    " data-opmaat-slot=hero",
    ' data-opmaat-slot="side" class="x"',
    " DATA-OPMAAT-SLOT='a-b'",
    "",
    ' data-opmaat-slot="bad name"',
    ' title="<div data-opmaat-slot=t>"',
    " data-opmaat-slot=x data-opmaat-filled=server",
    " data-opmaat-slot=s /",
]
SPECIALS = [
    "<!-- <div data-opmaat-slot=c>x</div> -->",
    "<script>var s = '<div data-opmaat-slot=s></div>';</script>",
    '<script type="application/ld+json">{"@type": "Product", "sku": "s1", '
    '"offers": {"price": "9.50"}}</script>',
    '<meta name="opmaat:category" content="shoes">',
    "<style>div > p {}</style>",
    "<textarea><div data-opmaat-slot=t></div></textarea>",
    "<br>",
    "<img data-opmaat-slot=i>",
]
# Well-nested markup with slots, comments, scripts and metadata: what the scanner must split
# exactly; then the same with junk around it.
html_trees = st.recursive(
    st.one_of(st.sampled_from(["hi", "a < b", "&amp;", "é", ""]), st.sampled_from(SPECIALS)),
    lambda kids: st.builds(
        _element,
        st.sampled_from(["div", "section", "span", "p", "li", "DIV", "x-y"]),
        st.sampled_from(SLOT_ATTRIBUTES),
        st.lists(kids, max_size=4),
        st.sampled_from([True, True, False]),
    ),
    max_leaves=12,
)
html_documents = st.one_of(
    st.lists(html_trees, max_size=4).map("".join),
    st.lists(st.one_of(html_trees, st.sampled_from(HTML_TOKENS)), max_size=8).map("".join),
    token_soup(HTML_TOKENS, max_size=60),
    any_text,
)


@st.composite
def chunked(draw: st.DrawFn, documents: st.SearchStrategy[Any]) -> tuple[Any, list[Any]]:
    """A document and the same document cut at arbitrary places."""
    doc = draw(documents)
    cuts = sorted(draw(st.lists(st.integers(0, len(doc)), max_size=12)))
    bounds = [0, *cuts, len(doc)]
    return doc, [doc[a:b] for a, b in itertools.pairwise(bounds)]


def joined(pieces: list[str | SlotElement]) -> str:
    return "".join(p if isinstance(p, str) else p.start_tag + p.inner + p.end_tag for p in pieces)


@fuzz(400)
@given(case=chunked(html_documents))
def test_scanner_gives_back_any_html_unchanged_in_any_chunks(case: tuple[str, list[str]]) -> None:
    doc, chunks = case
    scanner = Scanner()
    pieces: list[str | SlotElement] = []
    for chunk in chunks:
        pieces += scanner.feed(chunk)
    pieces += scanner.feed("", final=True)
    assert joined(pieces) == doc
    assert scanner.release() == ""
    for piece in pieces:
        if isinstance(piece, SlotElement):
            assert piece.tag not in VOID
            assert piece.tag not in OPTIONAL_END
            assert "data-opmaat-slot" in piece.start_tag.lower()
    for key, value in scanner.meta.items():
        assert _META_KEY.fullmatch(key)
        if key == "price":
            assert isinstance(value, float)
            assert math.isfinite(value)
        else:
            assert isinstance(value, str)
            assert len(value) <= 200


class _NoDecisions:
    """The part of PagePersonalization a BodyRewriter uses, deciding nothing for any slot."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []

    async def decide(self, slots: list[str]) -> dict[str, Decision]:
        self.asked += slots
        return {}


def _encoded(doc: str, charset: str, junk: bytes, at: int) -> bytes:
    data = doc.encode(charset, "xmlcharrefreplace")
    at %= len(data) + 1
    return data[:at] + junk + data[at:]


html_bytes = st.builds(
    _encoded,
    html_documents,
    st.sampled_from(["utf-8", "latin-1", "cp1252"]),
    st.one_of(st.just(b""), st.binary(max_size=8)),
    st.integers(0, 10**6),
)


async def _rewrite(charset: str, chunks: list[bytes]) -> bytes:
    page = _NoDecisions()
    rewriter = BodyRewriter(cast(PagePersonalization, page), codecs.lookup(charset).name)
    out = b""
    for i, chunk in enumerate(chunks):
        out += await rewriter.feed(chunk, final=i == len(chunks) - 1)
    return out


@pytest.mark.parametrize("charset", ["utf-8", "latin-1", "cp1252"])
@fuzz(150)
@given(case=chunked(html_bytes))
def test_body_rewriter_gives_back_any_bytes_when_no_slot_is_filled(
    charset: str, case: tuple[bytes, list[bytes]]
) -> None:
    data, chunks = case
    assert asyncio.run(_rewrite(charset, [*chunks, b""])) == data
