"""Decisions for channels other than a browser page: email at send time, an app's backend, the
contact centre. They ask for a customer (the site's own customer id) instead of sending a
cookie, and get the same engine, campaigns, reasons and stats as the web.

A customer who logged in on the site (``identify``) has a link in the store from their
customer id to their web visitor id, so an email sees what the web saw (cart, interests,
responses). A customer without one gets a record of their own, under a visitor id derived
from the customer id, that keeps what the server channels report (responses, frequency caps).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from opmaat.store import ProfileStore, Record

# Store keys of links: never a visitor id (those are base64url, without ':').
LINK_PREFIX = "customer:"
# Profile attributes a server caller may give (facts it knows better than the edge); the
# engine's own state (visitor, consent, response) is not among them.
CALLER_ATTRIBUTES = frozenset(
    {
        "geo",
        "device",
        "referrer",
        "utm",
        "time",
        "page",
        "session",
        "interests",
        "cart",
        "segments",
        "rfm",
        "customer",
        "prefs",
        "intent",
        "journey",
        "orders",
        "events",
        "milestone",
        "purl",
        "viewed_products",
    }
)
MAX_ATTRIBUTE_DEPTH = 4
MAX_ATTRIBUTE_ITEMS = 200
MAX_TEXT = 1024


class CallerAttributeError(ValueError):
    """Attributes a caller passed that cannot be used; the message names the problem."""


def link_key(customer_id: str) -> str:
    """The store key of a customer's link (hashed: customer ids may hold any character)."""
    digest = hashlib.blake2b(customer_id.encode("utf-8"), digest_size=16).hexdigest()
    return f"{LINK_PREFIX}{digest}"


def customer_visitor_id(secret: str, customer_id: str) -> str:
    """The visitor id of a customer's own record under one signing key: stable for the
    customer, pseudonymous (it cannot be matched to a customer list without the key), in the
    alphabet of visitor ids."""
    mac = hmac.new(secret.encode(), b"customer:" + customer_id.encode("utf-8"), "sha256")
    return "c" + base64.urlsafe_b64encode(mac.digest()[:15]).decode("ascii")


def customer_visitor_ids(secrets: Sequence[str], customer_id: str) -> list[str]:
    """The ids a customer's own record may have, newest key first: a record made before a key
    rotation is found under an older key (and kept there)."""
    return [customer_visitor_id(secret, customer_id) for secret in secrets]


async def linked_visitor(store: ProfileStore, customer_id: str) -> str | None:
    """The web visitor id the customer last logged in as, if any."""
    link = await store.get(link_key(customer_id))
    visitor = link.get("visitor") if isinstance(link, dict) else None
    return visitor if isinstance(visitor, str) and visitor else None


async def write_link(
    store: ProfileStore, customer_id: str, visitor_id: str, ttl_seconds: float
) -> None:
    """Point the customer id at this visitor (the newest login wins)."""
    key = link_key(customer_id)
    for _ in range(3):
        _, token = await store.load(key)
        written = await store.store_if(key, {"visitor": visitor_id}, ttl_seconds, token)
        if written is not None:
            return


async def drop_link(store: ProfileStore, customer_id: str, visitor_id: str) -> None:
    """Remove the customer's link when it points at this (deleted) visitor: overwritten empty,
    expiring at once (a delete would also search the event stream for a visitor it is not)."""
    key = link_key(customer_id)
    link, token = await store.load(key)
    if isinstance(link, dict) and link.get("visitor") == visitor_id:
        await store.store_if(key, {"visitor": ""}, 1, token)


def caller_attributes(value: Any) -> dict[str, Any]:
    """The attributes a caller passed, checked: an object of known top-level names (see
    ``CALLER_ATTRIBUTES``) holding JSON values at most ``MAX_ATTRIBUTE_DEPTH`` deep, with at
    most ``MAX_ATTRIBUTE_ITEMS`` values in all. Raises CallerAttributeError naming the problem."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CallerAttributeError("attributes must be an object")
    unknown = sorted(str(k)[:40] for k in value if k not in CALLER_ATTRIBUTES)
    if unknown:
        raise CallerAttributeError(
            f"unknown attribute '{unknown[0]}': use {', '.join(sorted(CALLER_ATTRIBUTES))}"
        )
    budget = [MAX_ATTRIBUTE_ITEMS]
    return {str(k): _checked(v, str(k), 1, budget) for k, v in value.items()}


def _checked(value: Any, path: str, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise CallerAttributeError(f"at most {MAX_ATTRIBUTE_ITEMS} attribute values")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise CallerAttributeError(f"{path}: texts are at most {MAX_TEXT} characters")
        return value
    if depth >= MAX_ATTRIBUTE_DEPTH and isinstance(value, Mapping | list):
        raise CallerAttributeError(f"{path}: attributes nest at most {MAX_ATTRIBUTE_DEPTH} deep")
    if isinstance(value, Mapping):
        return {str(k): _checked(v, f"{path}.{k}", depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_checked(v, f"{path}[{i}]", depth + 1, budget) for i, v in enumerate(value)]
    raise CallerAttributeError(f"{path}: not a JSON value")


def overlay(profile: dict[str, Any], attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The profile with the caller's attributes on top: objects merge one level deep (a
    caller's ``geo.country`` keeps the stored ``geo.city``), anything else replaces."""
    out = dict(profile)
    for key, value in attributes.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = {**current, **value}
        else:
            out[key] = value
    return out


def record_customer(record: Record) -> str | None:
    customer = record.get("customer")
    found = customer.get("id") if isinstance(customer, dict) else None
    return found if isinstance(found, str) else None
