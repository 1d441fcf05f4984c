"""The campaign file's JSON Schema: published as generated, in step with the loader, accepting
the shipped files and refusing each broken one for the right reason."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from opmaat.campaigns import load_campaigns_text
from opmaat.campaigns.json_schema import FILE_NAME, campaign_file_schema, schema_text
from opmaat.campaigns.loader import review_file
from opmaat.campaigns.schema import CAMPAIGN_KEYS, TOP_KEYS, VARIANT_KEYS
from opmaat.campaigns.sections import SITE_KEYS
from opmaat.campaigns.yamlines import parse
from opmaat.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [
    ROOT / "edge" / "opmaat_edge" / "demo" / "campaigns.yaml",
    ROOT / "examples" / "campaigns.yaml",
]
SCHEMA = campaign_file_schema()
VALIDATOR = Draft202012Validator(SCHEMA)
GOOD: dict[str, Any] = {
    "slots": {"hero": {"default": "<p>hi</p>"}},
    "campaigns": [{"id": "a", "slot": "hero", "variants": [{"key": "a", "html": "hi"}]}],
}


def errors(document: Any) -> list[tuple[list[Any], str]]:
    found = []
    for error in VALIDATOR.iter_errors(document):
        found.append((list(error.absolute_path), str(error.validator)))
    return found


def with_campaign(**changes: Any) -> dict[str, Any]:
    campaign = {**GOOD["campaigns"][0], **changes}
    return {**GOOD, "campaigns": [{k: v for k, v in campaign.items() if v is not None}]}


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("folder", ["sdk/opmaat/campaigns", "docs"])
def test_the_published_copies_are_the_generated_schema(folder: str) -> None:
    assert (ROOT / folder / FILE_NAME).read_text(encoding="utf-8") == schema_text(), (
        "run scripts/generate"
    )
    assert json.loads(schema_text()) == SCHEMA


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_the_shipped_files_validate_and_name_the_schema(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert errors(parse(text).data) == []
    first = text.splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    assert (path.parent / first.removeprefix(prefix)).resolve() == ROOT / "docs" / FILE_NAME


def test_every_key_the_loader_knows_is_in_the_schema_and_described() -> None:
    defs = SCHEMA["$defs"]
    for keys, properties in (
        (TOP_KEYS, SCHEMA["properties"]),
        (SITE_KEYS, defs["site"]["properties"]),
        (CAMPAIGN_KEYS, defs["campaign"]["properties"]),
        (VARIANT_KEYS, defs["variant"]["properties"]),
    ):
        assert list(properties) == list(keys)
        for key, schema in properties.items():
            assert schema.get("description"), key


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [
        (key, schema["minimum"], schema["maximum"])
        for key, schema in SCHEMA["$defs"]["site"]["properties"].items()
        if schema.get("type") == "integer"
    ],
)
def test_the_schemas_site_limits_are_the_loaders(key: str, low: int, high: int) -> None:
    for value, fine in ((low, True), (high, True), (low - 1, False), (high + 1, False)):
        document = {**GOOD, "site": {key: value}}
        assert (errors(document) == []) is fine
        text = json.dumps(document)
        if fine:
            load_campaigns_text(text)
        else:
            with pytest.raises(ConfigError, match=f"site.{key}"):
                load_campaigns_text(text)


@pytest.mark.parametrize(
    ("document", "where", "why"),
    [
        (with_campaign(priorty=3), ["campaigns", 0], "additionalProperties"),
        (with_campaign(holdout=0.7), ["campaigns", 0, "holdout"], "maximum"),
        (with_campaign(id="Spring Sale"), ["campaigns", 0, "id"], "pattern"),
        (with_campaign(slots=["hero"]), ["campaigns", 0], "oneOf"),
        (with_campaign(slot=None), ["campaigns", 0], "oneOf"),
        (with_campaign(channels=["sms"]), ["campaigns", 0, "channels", 0], "enum"),
        (
            with_campaign(frequency={"max": 3, "per": "1w"}),
            ["campaigns", 0, "frequency", "per"],
            "pattern",
        ),
        (
            with_campaign(variants=[{"key": "a", "html": "x", "template": "x.html"}]),
            ["campaigns", 0, "variants", 0],
            "oneOf",
        ),
        (
            with_campaign(audience={"device.type": "phone"}),
            ["campaigns", 0, "audience", "device.type"],
            "anyOf",
        ),
        (
            with_campaign(audience={"geo.country": "Germany"}),
            ["campaigns", 0, "audience", "geo.country"],
            "anyOf",
        ),
        (
            with_campaign(audience={"visitor.visits": "3"}),
            ["campaigns", 0, "audience", "visitor.visits"],
            "anyOf",
        ),
        (
            with_campaign(audience={"geo.country": {"$eqq": "NL"}}),
            ["campaigns", 0, "audience", "geo.country"],
            "anyOf",
        ),
        (with_campaign(audience={"$foo": []}), ["campaigns", 0, "audience"], "pattern"),
        (
            with_campaign(audience={"$or": [{"device.type": {"$in": ["phone"]}}]}),
            ["campaigns", 0, "audience", "$or", 0, "device.type"],
            "anyOf",
        ),
        ({**GOOD, "site": {"consent_default": "all"}}, ["site", "consent_default"], "enum"),
        ({**GOOD, "site": {"events": ["page_view"]}}, ["site", "events", 0], "not"),
        (
            {**GOOD, "slots": {"hero": {"default": "x", "default_template": "x"}}},
            ["slots", "hero"],
            "anyOf",
        ),
        ({**GOOD, "slots": {"bad name": {}}}, ["slots"], "pattern"),
    ],
)
def test_each_broken_file_fails_for_its_reason(
    tmp_path: Path, document: dict[str, Any], where: list[Any], why: str
) -> None:
    assert errors(document) == [(where, why)]
    # What the schema refuses, `opmaat check` refuses or warns of, at the same place.
    path = tmp_path / "c.json"
    path.write_text(json.dumps(document))
    review = review_file(path)
    fields = [problem.field for problem in [*review.errors, *review.warnings]]
    spot = ".".join(str(part) for part in where).replace(".0", "[0]")
    assert any(field.startswith(spot) for field in fields), (spot, fields)


def test_the_audience_offers_every_described_attribute() -> None:
    condition = SCHEMA["$defs"]["condition"]
    assert "geo.country" in condition["properties"]
    assert "$or" in condition["properties"]
    assert any("interests" in pattern for pattern in condition["patternProperties"])
    # A fixed name beside a wildcard keeps its own schema: interests.top is text.
    assert errors(with_campaign(audience={"interests.top": "running", "interests.x": 2})) == []
    assert errors(with_campaign(audience={"shoe_size": 42})) == []  # a caller's own attribute


def test_the_wheel_carries_the_schema_and_the_profiles_description(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    [wheel] = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    names = zipfile.ZipFile(wheel).namelist()
    assert f"opmaat/campaigns/{FILE_NAME}" in names
    assert "opmaat/profile.yaml" in names
