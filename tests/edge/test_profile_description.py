"""The profile's description (sdk/opmaat/profile.yaml) against the profiles the demo edge really
builds: every value a decision saw is described, with the type, values and format it has, and
every described attribute turned up."""

from __future__ import annotations

import copy
import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from opmaat import runtime
from opmaat.profile_reads import EVERYTHING
from opmaat.profile_reference import ATTRIBUTES, Attribute, lookup
from opmaat.recommend.live import LiveRecommender
from opmaat_edge.data_cli import prepare_demo
from tests.edge.conftest import KEYS, MakeClient

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
BERLIN = {"X-Forwarded-For": "192.0.2.1", "User-Agent": IPHONE}
GPC = {**BERLIN, "Sec-GPC": "1"}
SHOES = {"id": "trail-3", "name": "Trail Runner 3", "price": 129.95, "category": "running"}
LANDING = (
    "http://127.0.0.1/c/running?utm_source=google&utm_medium=cpc&utm_campaign=spring_sale"
    "&utm_term=trail+shoes&utm_content=banner"
)


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Each value of a profile that is not a section holding more (lists are values)."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves(inner, f"{prefix}.{key}" if prefix else key)
    elif prefix:
        yield prefix, value


def _post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    r = client.post(path, content=json.dumps(body), headers=BERLIN)
    assert r.status_code == 200, r.text
    return r.json()


def _decide(client: TestClient, slots: list[str], **more: Any) -> dict[str, Any]:
    decided: dict[str, Any] = _post(client, "/v1/decide", {"slots": slots, **more})["slots"]
    return decided


def _goal(client: TestClient, name: str, props: dict[str, Any] | None = None) -> None:
    _post(client, "/v1/events", {"type": "goal", "name": name, "props": props})


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What the engine saw in a visit that does a bit of everything the demo can."""
    seen: list[dict[str, Any]] = []
    function = LiveRecommender.function

    # The engine is handed the profile and, with it, the recommender's function (plain Python
    # in a compiled build too: opmaat/compiled.py).
    def capture(self: LiveRecommender, campaigns: Any, profile: Any, record: Any) -> Any:
        seen.append(copy.deepcopy(dict(profile)))
        return function(self, campaigns, profile, record)

    config = prepare_demo(tmp_path_factory.mktemp("demo"), "http://testserver", KEYS)
    assert config is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LiveRecommender, "function", capture)
        # Every section, as /v1/me has them (a decision builds only what the file reads).
        patch.setattr(runtime, "profile_reads", lambda campaigns: EVERYTHING)
        make: MakeClient = _client_factory()
        with make(config) as client:
            _visit(client, config)
    return seen


def _client_factory() -> Any:
    from opmaat_edge.app import create_app
    from opmaat_edge.settings import EdgeSettings

    def make(config: Path) -> TestClient:
        settings = EdgeSettings(config=str(config), secret_keys=KEYS, dev=True, demo=True)
        return TestClient(create_app(settings), client=("127.0.0.1", 5000))

    return make


def _visit(client: TestClient, config: Path) -> None:
    # One visitor follows a personal link of the spring mailing.
    with (config.parent / "recipients-links.csv").open(encoding="utf-8", newline="") as f:
        link = next(csv.DictReader(f))["url"]
    r = client.get(urlsplit(link).path, headers=BERLIN, follow_redirects=False)
    assert r.status_code == 303, r.text
    _decide(client, ["hero"])
    # Another comes from a Google ad, shops, logs in and comes back.
    client.cookies.clear()
    _post(client, "/v1/consent", {"tier": "full"})
    page = {"category": "running", "product": "TR-42", "price": 89.95, "in_stock": True}
    referrer = "https://www.google.com/search?q=trail+running+shoes"
    _decide(client, ["hero", "store"], url=LANDING, referrer=referrer, page=page)
    _goal(client, "product_view", {**SHOES, "id": "viewed-only"})
    _goal(client, "add_to_cart", SHOES)
    _goal(client, "purchase")
    _goal(client, "newsletter_signup")
    _goal(client, "search")
    _goal(client, "add_to_cart", SHOES)
    personalizer = client.app.state.edge.personalizer  # type: ignore[attr-defined]
    proof = personalizer.identify_proof("c-1001")
    assert _post(client, "/v1/identify", {"customer_id": "c-1001", "proof": proof})["linked"]
    _goal(client, "favourite", {"id": "trail-runner"})
    _goal(client, "rate", {"id": "road-racer", "rating": 5})
    chosen = {
        "interests": {"cycling": "more"},
        "size": "42",
        "time_zone": "Europe/Berlin",
        "channels": {"app": {"per_week": 3, "quiet_from": 22, "quiet_until": 7}},
    }
    prefs = json.dumps({"prefs": chosen})
    assert client.patch("/v1/me", content=prefs, headers=BERLIN).status_code == 200
    _respond(client, "promo", _decide(client, ["promo"])["promo"], "impression", "click")
    # A new session (another campaign's link): the cart left behind is abandoned, and the
    # reminder (a campaign with a frequency cap) is shown.
    hero = _decide(client, ["hero"], url="http://127.0.0.1/?utm_campaign=winback")["hero"]
    assert hero["campaign"] == "cart-reminder"
    _respond(client, "hero", hero, "impression")
    r = client.post("/v1/decide", content=json.dumps({"slots": ["hero"]}), headers=GPC)
    assert r.status_code == 200, r.text


def _respond(client: TestClient, name: str, slot: dict[str, Any], *kinds: str) -> None:
    decision = {"slot": name, **{k: slot[k] for k in ("campaign", "variant", "token")}}
    for kind in kinds:
        _post(client, "/v1/events", {"type": kind, **decision})


def _agrees(attribute: Attribute, value: Any) -> bool:
    if value is None:
        return attribute.nullable or attribute.type == "object"
    kinds = {
        "string": str,
        "time": str,
        "number": float | int,
        "integer": int,
        "boolean": bool,
        "scalar": str | float | int | bool,
        "list": list,
        "object": dict,
    }
    if not isinstance(value, kinds[attribute.type]):
        return False
    if isinstance(value, bool) and attribute.type in ("number", "integer"):
        return False
    if isinstance(value, str) and attribute.values:
        return value in attribute.values
    if isinstance(value, str) and attribute.format is not None:
        return attribute.format.allows(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        low = -math.inf if attribute.minimum is None else attribute.minimum
        high = math.inf if attribute.maximum is None else attribute.maximum
        return low <= value <= high
    if isinstance(value, list) and attribute.items is not None:
        return all(_agrees(_item(attribute), item) for item in value)
    return True


def _item(attribute: Attribute) -> Attribute:
    assert attribute.items is not None
    return Attribute(f"{attribute.path}.0", attribute.items, "", "", format=attribute.format)


def test_every_value_a_decision_saw_is_described_as_it_is(profiles: list[dict[str, Any]]) -> None:
    assert len(profiles) >= 4
    for profile in profiles:
        for path, value in _leaves(profile):
            found = lookup(path)
            assert found is not None, f"{path} is not in profile.yaml"
            if value == {}:
                continue  # an empty section (no customer, no link)
            assert found.attribute is not None, path
            assert _agrees(found.attribute, value), (path, value)


def test_every_described_attribute_turned_up(profiles: list[dict[str, Any]]) -> None:
    found = set()
    for profile in profiles:
        for path, _ in _leaves(profile):
            described = lookup(path)
            if described is not None and described.attribute is not None:
                found.add(described.attribute.path)
    missing = [a.path for a in ATTRIBUTES if a.path not in found]
    assert missing == []
