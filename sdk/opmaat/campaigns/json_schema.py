"""The campaign file's JSON Schema (draft 2020-12), for editors with a YAML or JSON language
server: completion, descriptions and errors while typing.

Built from what the loader validates with (its key lists, names and limits) and from the
profile's description (`opmaat.profile_reference`) for audiences, so a key the loader learns
comes along; a key without a description here is still accepted (tests ask for one).
``python -m opmaat.campaigns.json_schema`` prints it; the package and docs/ carry a copy,
``campaign-file.schema.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from opmaat.campaigns.model import (
    ALLOCATIONS,
    BUILTIN_EVENTS,
    CHANNELS,
    CONSENT_TIERS,
    DEFAULT_INTENT_WEIGHTS,
)
from opmaat.campaigns.preference_section import SCHEMA_TOP as PREFERENCES
from opmaat.campaigns.preference_section import schema_defs as preference_defs
from opmaat.campaigns.recommendations import (
    FEED_SUFFIXES,
    MAX_STRATEGIES,
    SECTION_KEYS,
    STRATEGY_NAME,
)
from opmaat.campaigns.schema import (
    CAMPAIGN_ID,
    CAMPAIGN_KEYS,
    FREQUENCY_KEYS,
    MAX_FREQUENCY,
    MAX_HOLDOUT,
    MAX_LABEL,
    SCHEDULE_KEYS,
    TOP_KEYS,
    VARIANT_KEYS,
)
from opmaat.campaigns.sections import SITE_KEYS, SLOT_KEYS, SLOT_NAME
from opmaat.campaigns.site_data import (
    EVENT_NAME,
    LOCATION_KEYS,
    MAX_EVENTS,
    MAX_LOCATIONS,
    PURL_KEYS,
)
from opmaat.conditions import LOGICAL_OPERATORS, TYPE_NAMES, VALUE_OPERATORS
from opmaat.profile_reference import ATTRIBUTES, Attribute, notes, type_text
from opmaat.recommend.strategies import BY, KINDS, MAX_SEEDS, OPTIONS

Schema = dict[str, Any]
FILE_NAME = "campaign-file.schema.json"
_TEXT: Schema = {"type": "string"}
_TEXTS: Schema = {"type": "array", "items": {"type": "string"}}
_TYPES = {"string": "string", "time": "string", "number": "number", "integer": "integer"}
_TYPES |= {"boolean": "boolean", "list": "array", "object": "object"}


def _anchored(pattern: re.Pattern[str] | str) -> str:
    # The loader matches whole values (fullmatch); a JSON Schema pattern matches anywhere.
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    return f"^(?:{text})$"


def _whole(low: int, high: int, about: str) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high, "description": about}


def _described(about: str, schema: Schema) -> Schema:
    return {"description": about, **schema}


SITE: dict[str, Schema] = {
    "name": _described("the site's name", _TEXT),
    "hosts": _described("the site's own host names: referrers from them are internal", _TEXTS),
    "allowed_origins": _described("origins whose pages may call the edge (CORS)", _TEXTS),
    "landing_hosts": _described("hosts a PURL may land on (default: hosts)", _TEXTS),
    "consent_default": {
        "enum": list(CONSENT_TIERS),
        "description": "the consent tier a visitor has before choosing",
    },
    "geo_database": _described(
        "a MaxMind City database (GeoLite2-City.mmdb), relative to this file", _TEXT
    ),
    "trusted_proxies": _described(
        "addresses or networks whose X-Forwarded-For is believed", _TEXTS
    ),
    "cdn_geo_header": _described("a CDN's country header, such as CF-IPCountry", _TEXT),
    "session_timeout_minutes": _whole(1, 1440, "minutes without a page view that end a session"),
    "retention_days": _whole(1, 3650, "days a profile is kept after the last visit"),
    "interest_half_life_days": _whole(1, 365, "days in which an interest score halves"),
    "events": {
        "type": "array",
        "maxItems": MAX_EVENTS,
        "items": {
            "type": "string",
            "pattern": _anchored(EVENT_NAME),
            "not": {"enum": list(BUILTIN_EVENTS)},
        },
        "description": "the site's own event names, besides the built-in ones and the goals",
    },
    "customers": _described(
        "the customer table `opmaat import customers` writes, relative to this file", _TEXT
    ),
    "locations": {
        "type": "array",
        "maxItems": MAX_LOCATIONS,
        "items": {"$ref": "#/$defs/location"},
        "description": "stores or service points, for geo.nearest",
    },
    "intent_weights": {
        "type": "object",
        "properties": {
            name: {"type": "number", "minimum": 0, "maximum": 100}
            for name in DEFAULT_INTENT_WEIGHTS
        },
        "additionalProperties": False,
        "description": "weights of the intent score's signals",
    },
    "cart_abandon_minutes": _whole(1, 10080, "minutes after which a cart counts as abandoned"),
    "purl_forward_limit": _whole(1, 1000, "visitors a personal link personalizes for"),
}
LOCATION: dict[str, Schema] = {
    "name": _described("the place's name (geo.nearest.name)", _TEXT),
    "lat": {"type": "number", "minimum": -90, "maximum": 90, "description": "latitude"},
    "lon": {"type": "number", "minimum": -180, "maximum": 180, "description": "longitude"},
    "url": _described("a path like /stores/x or an https URL (geo.nearest.url)", _TEXT),
}
SLOT: dict[str, Schema] = {
    "default": _described("inline HTML (a template) shown when no campaign wins", _TEXT),
    "default_template": _described("a template file, relative to this file", _TEXT),
}
CAMPAIGN: dict[str, Schema] = {
    "id": {
        "type": "string",
        "pattern": _anchored(CAMPAIGN_ID),
        "description": "unique; lower-case letters, digits, '-' and '_'",
    },
    "name": _described("the marketers' name for it (the cockpit's)", _TEXT),
    "label": {
        "type": "string",
        "maxLength": MAX_LABEL,
        "description": "what visitors are shown of it (their privacy page)",
    },
    "slot": _described("the declared slot it fills", _TEXT),
    "slots": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string"},
        "description": "the declared slots it fills",
    },
    "priority": {"type": "integer", "description": "higher is tried first (default 0)"},
    "audience": {"$ref": "#/$defs/condition", "description": "who sees it (default: everyone)"},
    "schedule": {"$ref": "#/$defs/schedule", "description": "when it runs (default: always)"},
    "frequency": {
        "$ref": "#/$defs/frequency",
        "description": "at most max impressions per visitor in any per window",
    },
    "holdout": {
        "type": "number",
        "minimum": 0,
        "maximum": MAX_HOLDOUT,
        "description": "share of matching visitors who see the default instead (0.1 is 10%)",
    },
    "consent": {"enum": list(CONSENT_TIERS), "description": "the lowest consent tier it needs"},
    "allocation": {
        "enum": list(ALLOCATIONS),
        "description": "fixed weights, or adaptive (Thompson sampling on the goal)",
    },
    "goal": {
        "type": "string",
        "pattern": _anchored(EVENT_NAME),
        "description": "what counts as a conversion: click or an event name",
    },
    "channels": {
        "type": "array",
        "minItems": 1,
        "items": {"enum": list(CHANNELS)},
        "description": "where it may be shown (default [web])",
    },
    "variants": {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/$defs/variant"},
        "description": "what it shows: at least one, each html or a template file",
    },
    "exploration": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "adaptive only: share of visitors who get a random variant",
    },
    "purl": {"$ref": "#/$defs/purl", "description": "personalized landing URLs"},
    "raw_utm": {"type": "boolean", "description": "its templates may show utm.*"},
}
VARIANT: dict[str, Schema] = {
    "key": {"type": ["string", "integer"], "description": "unique within the campaign"},
    "weight": {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "share of visitors, relative to the others (default 1)",
    },
    "html": _described("an inline template", _TEXT),
    "template": _described("a template file, relative to this file", _TEXT),
}
SCHEDULE: dict[str, Schema] = {
    "start": _described("a date or date-time, like 2026-11-01 09:00", _TEXT),
    "end": _described("exclusive; a bare date runs through that day", _TEXT),
    "timezone": _described("for times without an offset (default UTC)", _TEXT),
}
FREQUENCY: dict[str, Schema] = {
    "max": {"type": "integer", "minimum": 1, "maximum": MAX_FREQUENCY, "description": "shows"},
    "per": {
        "type": "string",
        "pattern": r"^\s*[0-9]+\s*[mhd]\s*$",
        "description": "a window like 30m, 12h or 7d",
    },
}
PURL: dict[str, Schema] = {
    "recipients": _described("the file `opmaat purl create` writes, relative to this file", _TEXT),
    "landing": _described("a path like /welcome, or a URL on a landing host", _TEXT),
    "expires_days": _whole(1, 3650, "days a link stays valid"),
    "expose": _described("recipients columns shown as purl.<column>", _TEXTS),
}

_SHARE: Schema = {"type": "number", "minimum": 0, "maximum": 0.5}
RECOMMENDATIONS: dict[str, Schema] = {
    "feed": _described(
        f"the product feed ({', '.join(FEED_SUFFIXES)}), relative to this file; without it the "
        "catalogue is learned from the product pages visitors view",
        _TEXT,
    ),
    "serendipity": {
        **_SHARE,
        "description": "the share of each list drawn from outside the visitor's interests "
        "(default 0.2)",
    },
    "strategies": {
        "type": "object",
        "maxProperties": MAX_STRATEGIES,
        "propertyNames": {"pattern": _anchored(STRATEGY_NAME), "not": {"const": "top"}},
        "additionalProperties": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/strategy"}]},
        "description": "the strategies templates name, each with its options (default: one "
        "of each kind, named after it)",
    },
}
STRATEGY: dict[str, Schema] = {
    "kind": {"enum": list(KINDS), "description": "what it lists (default: its name)"},
    "by": {"enum": list(BY), "description": "popular and trending: the visitor's own list"},
    "serendipity": {**_SHARE, "description": "its own share (recently-viewed: default 0)"},
    "fill": {"type": "boolean", "description": "top a short list up with popular products"},
    "seeds": _whole(1, MAX_SEEDS, "recently viewed products that seed it (default 3)"),
}


def _object(keys: Iterable[str], fields: Mapping[str, Schema], **more: Any) -> Schema:
    # Every key the loader knows, described or not, and no other.
    properties = {key: fields.get(key, {}) for key in keys}
    return {"type": "object", "properties": properties, "additionalProperties": False, **more}


def _one_of(*keys: str) -> list[Schema]:
    return [{"required": [key]} for key in keys]


# Keys of a condition: attribute paths, and of the keys starting with "$" only the logical ones.
_CONDITION_KEY = "[^$].*|" + "|".join(re.escape(name) for name in LOGICAL_OPERATORS)
_LITERAL: Schema = {"type": "object", "propertyNames": {"pattern": "^[^$]"}}
_OPERATORS: Schema = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"enum": list(VALUE_OPERATORS)},
    "properties": {
        **{name: {"type": "array"} for name in ("$in", "$nin", "$ini", "$nini", "$all", "$alli")},
        **dict.fromkeys(("$regex", "$regexi", "$notRegex", "$notRegexi"), _TEXT),
        "$exists": {"type": "boolean"},
        "$type": {"enum": list(TYPE_NAMES)},
        "$inGroup": _TEXT,
        "$notInGroup": _TEXT,
        "$elemMatch": {"type": "object"},
        "$not": {"$ref": "#/$defs/test"},
    },
}


def _logical() -> dict[str, Schema]:
    conditions = {"type": "array", "items": {"$ref": "#/$defs/condition"}}
    return {
        "$and": {**conditions, "description": "all of these conditions"},
        "$or": {**conditions, "description": "at least one of these conditions"},
        "$nor": {**conditions, "description": "none of these conditions"},
        "$not": {"$ref": "#/$defs/condition", "description": "not this condition"},
    }


def _value(attribute: Attribute, kind: str) -> Schema:
    """What a value compared with the attribute (or its items, ``kind``) may be."""
    if attribute.values and kind == attribute.type:
        return {"enum": [*attribute.values, None]}
    schema: Schema = {"type": [_TYPES[kind], "null"]} if kind in _TYPES else {}
    if attribute.format is not None and attribute.format.known is None and kind == "string":
        schema["pattern"] = _anchored(attribute.format.pattern)
    if kind in ("number", "integer"):
        bounds = {"minimum": attribute.minimum, "maximum": attribute.maximum}
        schema |= {key: bound for key, bound in bounds.items() if bound is not None}
    return schema


def _test(attribute: Attribute, values: dict[str, Schema]) -> Schema:
    """A plain value or an object of operators whose operands fit the attribute; what a value
    may be goes into ``values`` (shared $defs), once per attribute."""
    name = f"value {attribute.path}"
    values[name] = _value(attribute, attribute.type)
    value = {"$ref": f"#/$defs/{name}"}
    member = value
    if attribute.items:
        values[f"item {attribute.path}"] = _value(attribute, attribute.items)
        member = {"$ref": f"#/$defs/item {attribute.path}"}
    members = {"type": "array", "items": member}
    operators: Schema = {
        "$ref": "#/$defs/operators",
        "properties": {"$eq": value, "$ne": value, "$in": members, "$nin": members},
    }
    if attribute.type == "list":
        operators["properties"] |= {"$all": members}
    about = f"{type_text(attribute)}, from {attribute.source}: {notes(attribute)}"
    return {"description": about, "anyOf": [value, operators]}


def _audience_properties(
    values: dict[str, Schema],
) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """The described attributes as a condition's properties, by path and, for paths with a
    wildcard, by pattern (a fixed name beside a wildcard keeps its own schema)."""
    paths = [attribute.path.split(".") for attribute in ATTRIBUTES]
    fixed: dict[str, Schema] = {}
    patterns: dict[str, Schema] = {}
    for attribute, parts in zip(ATTRIBUTES, paths, strict=True):
        if "<" not in attribute.path:
            fixed[attribute.path] = _test(attribute, values)
            continue
        pieces = []
        for depth, part in enumerate(parts):
            if not part.startswith("<"):
                pieces.append(re.escape(part))
                continue
            siblings = {
                other[depth]
                for other in paths
                if other[:depth] == parts[:depth] and len(other) > depth
            }
            named = sorted(re.escape(name) for name in siblings if not name.startswith("<"))
            guard = f"(?!(?:{'|'.join(named)})(?:\\.|$))" if named else ""
            pieces.append(guard + "[^.]+")
        patterns["^" + "\\.".join(pieces) + "$"] = _test(attribute, values)
    return fixed, patterns


def campaign_file_schema() -> Schema:
    """The JSON Schema of the campaign file."""
    values: dict[str, Schema] = {}
    condition, wildcards = _audience_properties(values)
    top: dict[str, Schema] = {
        "site": {"$ref": "#/$defs/site", "description": "how the edge serves the site"},
        "slots": {
            "type": "object",
            "propertyNames": {"pattern": _anchored(SLOT_NAME)},
            "additionalProperties": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/slot"}]},
            "description": "the named places on pages, with their default content",
        },
        "segments": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": ["string", "number"]}},
            "description": "named lists of values for $inGroup and $notInGroup",
        },
        "campaigns": {
            "type": "array",
            "items": {"$ref": "#/$defs/campaign"},
            "description": "who sees what in which slot, highest priority first",
        },
        "recommendations": {
            "$ref": "#/$defs/recommendations",
            "description": "the product feed and the strategies templates call "
            "recommendations(...) with (docs/recommendations.md)",
        },
        "preferences": PREFERENCES,
    }
    slot = _object(SLOT_KEYS, SLOT)
    slot["not"] = {"required": list(SLOT_KEYS)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "opmaat campaign file",
        "description": "Slots, campaigns and site settings for the opmaat edge (docs/campaigns.md)",
        **_object(TOP_KEYS, top),
        "$defs": {
            "site": _object(SITE_KEYS, SITE),
            "location": _object(LOCATION_KEYS, LOCATION, required=["name", "lat", "lon"]),
            "slot": slot,
            "campaign": _object(
                CAMPAIGN_KEYS, CAMPAIGN, required=["id", "variants"], oneOf=_one_of("slot", "slots")
            ),
            "variant": _object(
                VARIANT_KEYS, VARIANT, required=["key"], oneOf=_one_of("html", "template")
            ),
            "schedule": _object(SCHEDULE_KEYS, SCHEDULE),
            "frequency": _object(FREQUENCY_KEYS, FREQUENCY, required=list(FREQUENCY_KEYS)),
            "purl": _object(PURL_KEYS, PURL, required=["recipients"]),
            "recommendations": _object(SECTION_KEYS, RECOMMENDATIONS),
            "strategy": _object(OPTIONS, STRATEGY),
            **preference_defs(),
            "condition": {
                "type": "object",
                "description": "a condition on the visitor's profile (docs/profile.md)",
                "propertyNames": {"pattern": _anchored(_CONDITION_KEY)},
                "properties": {**_logical(), **condition},
                "patternProperties": wildcards,
                "additionalProperties": {"$ref": "#/$defs/test"},
            },
            "test": {"anyOf": [{"not": {"type": "object"}}, _LITERAL, _OPERATORS]},
            "operators": _OPERATORS,
            **values,
        },
    }


def schema_text() -> str:
    """The schema as the published files hold it: what fits in 100 columns on one line."""
    return _dumps(campaign_file_schema(), 0) + "\n"


def _dumps(value: Any, indent: int) -> str:
    flat = json.dumps(value, ensure_ascii=False)
    if len(flat) + indent <= 100 or not isinstance(value, dict | list) or not value:
        return flat
    inner = " " * (indent + 2)
    if isinstance(value, list):
        items = [inner + _dumps(item, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    entries = [
        f"{inner}{json.dumps(key, ensure_ascii=False)}: {_dumps(item, indent + 2)}"
        for key, item in value.items()
    ]
    return "{\n" + ",\n".join(entries) + "\n" + " " * indent + "}"


if __name__ == "__main__":
    print(schema_text(), end="")
