"""Fuzzing the files opmaat reads: campaign files (as text, and as YAML or JSON structures of
roughly the right shape), customer CSV exports and the table written from them, and PURL
recipient files.

Whatever is in them, loading either succeeds or raises ConfigError, and every problem it
reports points somewhere: a line from 1 up to the end of the file, and a field named.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import string
import traceback
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from opmaat.campaigns import CampaignSet, load_campaigns_text
from opmaat.campaigns.model import ALLOCATIONS, CHANNELS, CONSENT_TIERS
from opmaat.campaigns.schema import CAMPAIGN_KEYS, TOP_KEYS
from opmaat.campaigns.sections import SITE_KEYS
from opmaat.customers import FORMAT, CustomerImport, load_table, parse_customers
from opmaat.errors import ConfigError, Problem
from opmaat.purl import PurlSigner, create_recipients, load_recipients
from tests.fuzz import (
    HUGE_INTS,
    any_text,
    fuzz,
    integers,
    json_scalars,
    json_values,
    short_text,
    token_soup,
)

# Examples of several KB are the point here; hypothesis warns that showing them is costly.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

FILENAME = "campaigns.yaml"


def last_line(text: str) -> int:
    """The highest line number a problem in ``text`` may name (YAML counts \\r, \\x85,
    \\u2028 and \\u2029 as line breaks too; splitlines counts them all, and a few more)."""
    return len(text.splitlines()) + 1


def check_problems(problems: list[Problem], filename: str, text: str | None) -> None:
    assert problems, "a ConfigError must say what is wrong"
    for problem in problems:
        assert isinstance(problem, Problem)
        assert isinstance(problem.line, int)
        assert problem.line >= 1, problem
        assert isinstance(problem.field, str)
        assert problem.field, problem
        assert isinstance(problem.message, str)
        assert problem.message, problem
        if text is not None and problem.file == filename:
            assert problem.line <= last_line(text), problem


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The campaign file's folder, with a few files a fuzzed campaign file may name."""
    folder = tmp_path_factory.mktemp("campaigns")
    (folder / "hero.html").write_text("<p>Hi {{ visitor.visits }}</p>", encoding="utf-8")
    (folder / "broken.html").write_text("{% if %}", encoding="utf-8")
    (folder / "latin1.html").write_bytes(b"caf\xe9")
    (folder / "customers.json").write_text('{"format": "x"}', encoding="utf-8")
    (folder / "recipients.csv").write_text("id,url\n1,https://x.example/p/abc\n", encoding="utf-8")
    (folder / "feed.csv").write_text("id,name,url\np1,P 1,/p/1\n", encoding="utf-8")
    (folder / "feed.json").write_text('[{"id": "p1", "name": "P", "url": "ftp://x"}]')
    (folder / "sub").mkdir()
    return folder


def load(text: str, base_dir: Path, filename: str = FILENAME) -> CampaignSet | None:
    try:
        return load_campaigns_text(text, filename, base_dir)
    except ConfigError as exc:
        check_problems(exc.problems, filename, text)
        return None
    except RecursionError as exc:
        # Said in one line: a thousand-frame traceback makes every shrink step slow.
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "/opmaat/" in f.filename.replace("\\", "/")]
        where = ", ".join(f"{Path(f.filename).name}:{f.lineno}" for f in (ours or frames)[-1:])
        innermost = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
        raise AssertionError(
            f"RecursionError (not ConfigError) from {where} (innermost frame {innermost})"
        ) from None


# --- campaign files as text ---------------------------------------------------------------

YAML_TOKENS = [
    "a",
    "id",
    "slots",
    "campaigns",
    "site",
    "hero",
    ":",
    ": ",
    " ",
    "\n",
    "\n  ",
    "\r\n",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "!!int ",
    "!!float ",
    "!!str ",
    "!!binary ",
    "!!timestamp ",
    "!custom ",
    "<<: ",
    "? ",
    "|\n",
    ">\n",
    "'",
    '"',
    "#",
    "\t",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "\\",
    "\\0",
    "\x00",
    "\ufeff",
    "\u2028",
    "\x85",
    "1",
    "0x1F",
    "1e400",
    ".inf",
    ".nan",
    "true",
    "null",
    "~",
    "{{",
    "}}",
    "{%",
]


def _nested(depth: int, opening: str, closing: str) -> str:
    return opening * depth + "1" + closing * depth


@fuzz(150)
@given(text=any_text, as_json=st.booleans())
def test_any_campaign_text_loads_or_raises_config_error(
    base_dir: Path, text: str, as_json: bool
) -> None:
    load(text, base_dir, "campaigns.json" if as_json else FILENAME)


@fuzz(200)
@given(text=token_soup(YAML_TOKENS, max_size=50))
def test_yaml_tags_and_syntax_load_or_raise_config_error(base_dir: Path, text: str) -> None:
    load(text, base_dir)


def _flow_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _flow_map(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}"


# Flow-style YAML with anchors and aliases, placed anywhere (also inside what they name).
anchored_yaml = st.recursive(
    st.sampled_from(["x", "1", "*a", "*b", "''", "slots", "campaigns"]),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3).map(_flow_list),
        st.lists(st.tuples(st.sampled_from(["k", "slots", "*a"]), kids), max_size=3).map(_flow_map),
        st.tuples(st.sampled_from(["&a ", "&b "]), kids).map("".join),
    ),
    max_leaves=8,
)


@fuzz(100)
@given(text=anchored_yaml)
def test_yaml_anchors_and_aliases_load_or_raise_config_error(base_dir: Path, text: str) -> None:
    load(text, base_dir)


@fuzz(30)
@given(
    depth=st.integers(1, 1500),
    nesting=st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", ""), ('{"a": ', "}")]),
)
def test_deeply_nested_campaign_text_loads_or_raises_config_error(
    base_dir: Path, depth: int, nesting: tuple[str, str]
) -> None:
    opening, closing = nesting
    load(_nested(depth, opening, closing), base_dir)


# --- campaign files as structures of roughly the right shape ------------------------------


def plausible(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right kind, sometimes anything at all."""
    return st.one_of(good, good, json_values)


paths = st.one_of(
    st.sampled_from(
        ["hero.html", "broken.html", "latin1.html", "sub", "missing.html", "../outside.html"]
    ),
    short_text,
    st.sampled_from(["/etc/hostname", "a" * 300, "customers.json", "recipients.csv", "a\x00b"]),
)
date_texts = st.one_of(
    st.sampled_from(["9999-12-31", "9999-12-31 23:59", "9999-12-31T23:59:59+01:00"]),
    st.sampled_from(["0001-01-01", "0001-01-01 00:00", "0001-01-01T00:00-01:00"]),
    st.sampled_from(["2026-02-30", "tomorrow", "2026-11-01 09:00", ""]),
    st.dates().map(str),
    st.datetimes().map(lambda moment: moment.isoformat(sep=" ")),
    st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat),
)
templates = st.one_of(
    st.sampled_from(["<p>x</p>", "{{ visitor.visits }}", "{% if %}", "{{", "", "{{ x|nope }}"]),
    st.builds(lambda depth: "{{ " + "(" * depth + "1" + ")" * depth + " }}", st.integers(1, 400)),
    short_text,
)
condition_values = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(["geo.country", "visitor.visits", "$or", "$and", "$not", "x"]),
        st.one_of(
            json_scalars,
            st.dictionaries(
                st.sampled_from(["$in", "$gt", "$veq", "$regex", "$inGroup", "$size", "$bad"]),
                st.one_of(json_scalars, st.lists(json_scalars, max_size=3)),
                max_size=2,
            ),
        ),
        max_size=3,
    ),
)
variants = st.fixed_dictionaries(
    {},
    optional={
        "key": plausible(st.one_of(st.sampled_from(["a", "b"]), integers)),
        "weight": plausible(st.one_of(st.floats(), integers)),
        "html": plausible(templates),
        "template": plausible(paths),
    },
)
time_zones = st.one_of(
    st.sampled_from(["UTC", "Europe/Amsterdam", "Pacific/Kiritimati", "Etc/GMT+12", "No/Where"]),
    short_text,
)
schedules = st.fixed_dictionaries(
    {},
    optional={
        "start": plausible(date_texts),
        "end": plausible(date_texts),
        "timezone": plausible(time_zones),
    },
)
frequencies = st.fixed_dictionaries(
    {},
    optional={
        "max": plausible(integers),
        "per": plausible(
            st.one_of(
                st.sampled_from(["30m", "12h", "7d", "0d", " 1 h "]),
                st.from_regex(r"[0-9]{1,30}[mhd]", fullmatch=True),
            )
        ),
    },
)
purls = st.fixed_dictionaries(
    {},
    optional={
        "recipients": plausible(paths),
        "landing": plausible(st.sampled_from(["/", "/spring", "//evil", "https://shop.example/"])),
        "expires_days": plausible(integers),
        "expose": plausible(
            st.lists(st.sampled_from(["first_name", "customer_id", "First Name", "url"]))
        ),
    },
)
CAMPAIGN_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(st.sampled_from(["a", "b", "spring-sale", "A B"]), short_text),
    "name": short_text,
    "label": short_text,
    "slot": st.sampled_from(["hero", "side", "nope"]),
    "slots": st.lists(st.sampled_from(["hero", "side", "nope"]), max_size=3),
    "priority": integers,
    "audience": condition_values,
    "schedule": schedules,
    "frequency": frequencies,
    "holdout": st.floats(),
    "consent": st.sampled_from(CONSENT_TIERS),
    "allocation": st.sampled_from(ALLOCATIONS),
    "goal": st.sampled_from(["click", "purchase", "signup", "Bad Goal"]),
    "channels": st.lists(st.sampled_from([*CHANNELS, "fax"]), max_size=3),
    "variants": st.lists(variants, max_size=3),
    "exploration": st.floats(),
    "purl": purls,
    "raw_utm": st.booleans(),
}
assert set(CAMPAIGN_VALUES) == set(CAMPAIGN_KEYS)
campaigns = st.fixed_dictionaries(
    {}, optional={key: plausible(value) for key, value in CAMPAIGN_VALUES.items()}
)
locations = st.fixed_dictionaries(
    {},
    optional={
        "name": plausible(short_text),
        "lat": plausible(st.floats()),
        "lon": plausible(st.floats()),
        "url": plausible(st.sampled_from(["/stores/x", "//evil", "https://x.example", "/\t/x"])),
    },
)
host_lists = st.lists(
    st.one_of(st.sampled_from(["shop.example", "Shop.Example:8080", "-bad-"]), short_text),
    max_size=3,
)
SITE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": short_text,
    "hosts": host_lists,
    "allowed_origins": host_lists.map(lambda hosts: [f"https://{host}" for host in hosts]),
    "landing_hosts": host_lists,
    "consent_default": st.sampled_from([*CONSENT_TIERS, "off"]),
    "geo_database": paths,
    "trusted_proxies": st.lists(
        st.sampled_from(["127.0.0.1", "10.0.0.0/8", "0.0.0.0/0", "::/0", "x"]), max_size=3
    ),
    "cdn_geo_header": st.sampled_from(["CF-IPCountry", "bad header"]),
    "session_timeout_minutes": integers,
    "retention_days": integers,
    "interest_half_life_days": integers,
    "events": st.lists(st.sampled_from(["newsletter_signup", "page_view", "Bad"]), max_size=3),
    "customers": paths,
    "locations": st.lists(locations, max_size=3),
    "intent_weights": st.dictionaries(
        st.sampled_from(["depth", "add_to_cart", "nope"]), st.floats(), max_size=3
    ),
    "cart_abandon_minutes": integers,
    "purl_forward_limit": integers,
}
assert set(SITE_VALUES) == set(SITE_KEYS)
sites = st.fixed_dictionaries(
    {}, optional={key: plausible(value) for key, value in SITE_VALUES.items()}
)
slot_specs = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={"default": plausible(templates), "default_template": plausible(paths)},
    ),
)
TOP_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "site": sites,
    "slots": st.dictionaries(
        st.one_of(st.sampled_from(["hero", "side", "bad name"]), short_text),
        plausible(slot_specs),
        max_size=3,
    ),
    "segments": st.dictionaries(short_text, st.lists(json_scalars, max_size=3), max_size=2),
    "campaigns": st.lists(campaigns, max_size=3),
    "recommendations": st.fixed_dictionaries(
        {},
        optional={
            "feed": st.one_of(paths, st.sampled_from(["feed.csv", "feed.json", "hero.html"])),
            "serendipity": st.one_of(st.floats(), json_scalars),
            "strategies": st.dictionaries(
                st.one_of(st.sampled_from(["popular", "for-you", "Bad Name", "top"]), short_text),
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "kind": st.sampled_from(["personal", "popular", "nope"]),
                            "by": st.sampled_from(["city", "segment", "planet"]),
                            "serendipity": st.floats(),
                            "fill": json_scalars,
                            "seeds": integers,
                        },
                    ),
                    json_values,
                ),
                max_size=3,
            ),
        },
    ),
    "preferences": st.fixed_dictionaries(
        {},
        optional={
            "offers": st.one_of(paths, st.sampled_from(["offers.csv", "hero.html"])),
            "fields": st.dictionaries(
                st.one_of(
                    st.sampled_from(["size", "budget", "Bad Name", "favourites"]), short_text
                ),
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "label": short_text,
                            "type": st.sampled_from(["choice", "number", "colour"]),
                            "values": st.lists(json_scalars, max_size=4),
                            "min": json_scalars,
                            "max": json_scalars,
                            "column": st.sampled_from(["sizes", "price", "Sizes"]),
                        },
                    ),
                    json_values,
                ),
                max_size=3,
            ),
        },
    ),
}
assert set(TOP_VALUES) == set(TOP_KEYS)
documents = st.one_of(
    st.fixed_dictionaries({}, optional={key: plausible(v) for key, v in TOP_VALUES.items()}),
    json_values,
)


def dumped(document: Any, how: str) -> str:
    if how == "json":
        return json.dumps(document)
    return yaml.safe_dump(document, allow_unicode=how == "yaml-unicode", sort_keys=False)


formats = st.sampled_from(["yaml", "yaml-unicode", "json"])


def load_document(document: Any, how: str, base_dir: Path) -> CampaignSet | None:
    text = dumped(document, how)
    campaigns = load(text, base_dir, "campaigns.json" if how == "json" else FILENAME)
    if campaigns is not None:
        for campaign in campaigns.campaigns:
            assert campaign.variants
            assert campaign.line >= 1
    return campaigns


@fuzz(150)
@given(document=documents, how=formats)
def test_any_campaign_structure_loads_or_raises_config_error(
    base_dir: Path, document: Any, how: str
) -> None:
    load_document(document, how, base_dir)


# One part fuzzed at a time in an otherwise good file, so that a crash in one part does not
# hide the others (hypothesis stops at the first failure of a test).
GOOD_CAMPAIGN = {"id": "a", "slot": "hero", "variants": [{"key": "a", "html": "<p>A</p>"}]}
GOOD_FILE = {"slots": {"hero": {"default": "<p>default</p>"}}, "campaigns": [GOOD_CAMPAIGN]}
CAMPAIGN_PARTS = [
    ("schedule",),
    ("holdout", "exploration", "priority"),
    ("variants",),
    ("purl",),
    ("audience",),
    ("frequency", "channels", "consent", "allocation", "goal", "id", "name", "slot", "slots"),
    ("raw_utm", "label"),
]
SITE_PARTS = [
    ("customers", "geo_database"),
    ("locations", "intent_weights"),
    tuple(key for key in SITE_KEYS if key not in ("customers", "geo_database", "locations")),
]
assert {key for part in CAMPAIGN_PARTS for key in part} == set(CAMPAIGN_KEYS)
assert {key for part in SITE_PARTS for key in part} == set(SITE_KEYS)


def _fuzzed(values: dict[str, st.SearchStrategy[Any]], keys: tuple[str, ...]) -> Any:
    return st.fixed_dictionaries({}, optional={key: plausible(values[key]) for key in keys})


@pytest.mark.parametrize("keys", CAMPAIGN_PARTS, ids="+".join)
@fuzz(120)
@given(data=st.data(), how=formats)
def test_campaign_fields_load_or_raise_config_error(
    base_dir: Path, keys: tuple[str, ...], data: st.DataObject, how: str
) -> None:
    changed = data.draw(_fuzzed(CAMPAIGN_VALUES, keys), label="campaign fields")
    campaign = {**{k: v for k, v in GOOD_CAMPAIGN.items() if k not in keys}, **changed}
    load_document({**GOOD_FILE, "campaigns": [campaign]}, how, base_dir)


@fuzz(100)
@given(
    schedule=st.fixed_dictionaries(
        {}, optional={"start": date_texts, "end": date_texts, "timezone": time_zones}
    )
)
def test_any_schedule_dates_load_or_raise_config_error(
    base_dir: Path, schedule: dict[str, str]
) -> None:
    campaign = {**GOOD_CAMPAIGN, "schedule": schedule}
    load_document({**GOOD_FILE, "campaigns": [campaign]}, "yaml", base_dir)


numbers = st.one_of(st.sampled_from(HUGE_INTS), st.floats(), integers)
NUMBER_FIELDS = ["holdout", "exploration", "priority", "weight", "lat", "intent_weights", "max"]


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@fuzz(40)
@given(number=numbers)
def test_any_number_in_a_number_field_loads_or_raises_config_error(
    base_dir: Path, field: str, number: Any
) -> None:
    campaign: dict[str, Any] = dict(GOOD_CAMPAIGN)
    site: dict[str, Any] = {}
    if field == "weight":
        campaign["variants"] = [{"key": "a", "html": "x", "weight": number}]
    elif field == "max":
        campaign["frequency"] = {"max": number, "per": "1d"}
    elif field == "lat":
        site["locations"] = [{"name": "Shop", "lat": number, "lon": number}]
    elif field == "intent_weights":
        site["intent_weights"] = {"depth": number}
    else:
        campaign[field] = number
    if field == "exploration":
        campaign["allocation"] = "adaptive"
    load_document({**GOOD_FILE, "site": site, "campaigns": [campaign]}, "yaml", base_dir)


PATH_FIELDS = ["slot default_template", "variant template", "site customers", "purl recipients"]


@pytest.mark.parametrize("field", PATH_FIELDS)
@fuzz(40)
@given(name=paths)
def test_any_file_name_in_a_file_field_loads_or_raises_config_error(
    base_dir: Path, field: str, name: str
) -> None:
    document: dict[str, Any] = dict(GOOD_FILE)
    if field == "slot default_template":
        document["slots"] = {"hero": {"default_template": name}}
    elif field == "variant template":
        variant = {"key": "a", "template": name}
        document["campaigns"] = [{**GOOD_CAMPAIGN, "variants": [variant]}]
    elif field == "site customers":
        document["site"] = {"customers": name}
    else:
        document["campaigns"] = [{**GOOD_CAMPAIGN, "purl": {"recipients": name}}]
    load_document(document, "yaml", base_dir)


@pytest.mark.parametrize("keys", SITE_PARTS, ids=lambda keys: "+".join(keys[:2]))
@fuzz(60)
@given(data=st.data(), how=formats)
def test_site_fields_load_or_raise_config_error(
    base_dir: Path, keys: tuple[str, ...], data: st.DataObject, how: str
) -> None:
    site = data.draw(_fuzzed(SITE_VALUES, keys), label="site fields")
    load_document({**GOOD_FILE, "site": site}, how, base_dir)


JINJA_TOKENS = [
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "(",
    ")",
    "[",
    "]",
    "if",
    "for",
    "x",
    " ",
    "|",
    "e",
]


@fuzz(100)
@given(
    template=st.one_of(templates, token_soup(JINJA_TOKENS)),
    where=st.sampled_from(["slot", "variant"]),
)
def test_any_template_loads_or_raises_config_error(
    base_dir: Path, template: str, where: str
) -> None:
    if where == "slot":
        document: dict[str, Any] = {**GOOD_FILE, "slots": {"hero": {"default": template}}}
    else:
        variant = {"key": "a", "html": template}
        document = {**GOOD_FILE, "campaigns": [{**GOOD_CAMPAIGN, "variants": [variant]}]}
    load_document(document, "yaml", base_dir)


@fuzz(80)
@given(slots=TOP_VALUES["slots"], how=formats)
def test_slot_defaults_load_or_raise_config_error(
    base_dir: Path, slots: dict[str, Any], how: str
) -> None:
    load_document({"slots": slots, "campaigns": []}, how, base_dir)


# --- customer exports ---------------------------------------------------------------------

COLUMNS = [
    "customer_id",
    "id",
    "recency_days",
    "last_order",
    "frequency",
    "monetary",
    "segments",
    "email",
    "First Name",
    "bad name!",
    "",
]
CELLS: dict[str, st.SearchStrategy[str]] = {
    "customer_id": st.one_of(st.sampled_from(["c1", "c2", "", " c1 ", "c\x00"]), short_text),
    "recency_days": st.one_of(st.integers(-5, 10**20).map(str), short_text),
    "last_order": st.one_of(date_texts, short_text),
    "frequency": st.one_of(st.integers(-5, 10**20).map(str), short_text),
    "monetary": st.one_of(
        st.floats().map(repr), st.sampled_from(["1e999", "-0.0", "nan", "12,50"]), short_text
    ),
    "segments": st.one_of(st.sampled_from(["vip|new", "a;b,c", "Top", "rfm-x|"]), short_text),
}


QUOTINGS: list[Literal[0, 1, 2, 3]] = [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]


@st.composite
def customer_csvs(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.one_of(st.sampled_from(COLUMNS), short_text), min_size=1, max_size=6))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        cells = [draw(plausible_cell(name)) for name in names]
        extra = draw(st.integers(-1, 1))  # a cell too few or too many, now and then
        rows.append(cells[:extra] if extra < 0 else cells + [""] * extra)
    buffer = io.StringIO()
    quoting = draw(st.sampled_from(QUOTINGS))
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(rows)
    return ("\ufeff" if draw(st.booleans()) else "") + buffer.getvalue()


def plausible_cell(name: str) -> st.SearchStrategy[str]:
    good = CELLS.get("customer_id" if name == "id" else name, short_text)
    return st.one_of(good, good, any_text)


@fuzz(300)
@given(
    text=st.one_of(customer_csvs(), any_text, token_soup([*COLUMNS, ",", ";", "\t", "\n", '"'])),
    today=st.dates(),
)
def test_any_customer_export_parses_or_raises_config_error(text: str, today: dt.date) -> None:
    try:
        result = parse_customers(text, filename="crm.csv", today=today)
    except ConfigError as exc:
        check_problems(exc.problems, "crm.csv", text)
        return
    assert isinstance(result, CustomerImport)
    for problem in result.rejected:
        assert 1 <= problem.line <= last_line(text)
        assert problem.field
    assert 0 < len(result.table) <= result.rows
    for key, entry in result.table.items():
        assert entry["id"] == key
        assert isinstance(entry["segments"], list)
        for letter in ("r", "f", "m"):
            score = entry["rfm"][letter]
            assert score is None or 1 <= score <= 5
    json.dumps(result.table, allow_nan=False)  # what write_table does: must be plain JSON


@fuzz(200)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        any_text.map(lambda text: text.encode("utf-8")),
        st.fixed_dictionaries({"format": plausible(st.just(FORMAT)), "customers": json_values}).map(
            lambda doc: json.dumps(doc).encode("utf-8")
        ),
        json_values.map(lambda value: json.dumps(value).encode("utf-8")),
    )
)
def test_any_customer_table_file_loads_or_raises_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "customers-table.json"
    path.write_bytes(data)
    try:
        table = load_table(path)
    except ConfigError as exc:
        check_problems(exc.problems, str(path), None)
        return
    assert isinstance(table, dict)
    assert all(isinstance(entry, dict) for entry in table.values())


# --- PURL recipient files -----------------------------------------------------------------

SIGNER = PurlSigner(("fuzz-purl-key-0123456789abcdef",))
RECIPIENT_COLUMNS = ["id", "recipient_id", "url", "first_name", "Customer ID", "E-mail", "bad!", ""]
link_keys = st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=8)
url_cells = st.one_of(
    st.just(""),
    link_keys.map(lambda key: f"https://shop.example/p/{SIGNER.issue(key)}"),
    link_keys.map(lambda key: f"https://shop.example/p/{key}.x.y"),
    st.sampled_from(["https://[::1/p/x", "not a url", "/p/"]),
    short_text,
)


@st.composite
def recipient_csvs(draw: st.DrawFn) -> str:
    names = draw(
        st.lists(st.one_of(st.sampled_from(RECIPIENT_COLUMNS), short_text), min_size=1, max_size=5)
    )
    delimiter = draw(st.sampled_from([",", ";"]))
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        cells = [
            draw(url_cells if name == "url" else st.one_of(short_text, any_text, st.just("")))
            for name in names
        ]
        extra = draw(st.integers(-1, 1))
        rows.append(cells[:extra] if extra < 0 else cells + ["x"] * extra)
    buffer = io.StringIO()
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(names)
    writer.writerows(rows)
    return ("\ufeff" if draw(st.booleans()) else "") + buffer.getvalue()


base_urls = st.one_of(
    st.sampled_from(["https://shop.example", "http://127.0.0.1:8000/x/", "https://x:99999"]),
    short_text,
)


@fuzz(200)
@given(
    text=st.one_of(recipient_csvs(), any_text, token_soup([*RECIPIENT_COLUMNS, ",", ";", "\n"])),
    base_url=base_urls,
)
def test_create_recipients_gives_links_or_raises_config_error_and_they_load_back(
    tmp_path_factory: pytest.TempPathFactory, text: str, base_url: str
) -> None:
    try:
        written, problems, issued = create_recipients(
            text, filename="r.csv", base_url=base_url, signer=SIGNER
        )
    except ConfigError as exc:
        check_problems(exc.problems, "r.csv", text)
        return
    for problem in problems:
        assert 1 <= problem.line <= last_line(text)
        assert problem.field
    path = tmp_path_factory.getbasetemp() / "recipients-links.csv"
    path.write_text(written, encoding="utf-8", newline="")
    loaded = load_recipients(path)  # what create_recipients wrote always loads back
    assert len(loaded) >= issued
    for key, recipient in loaded.items():
        assert recipient.key == key
        assert recipient.id == recipient.id.strip()
        assert recipient.id


@fuzz(200)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        recipient_csvs().map(lambda text: text.encode("utf-8")),
        any_text.map(lambda text: text.encode("utf-8")),
    )
)
def test_any_recipients_file_loads_or_raises_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "recipients-any.csv"
    path.write_bytes(data)
    try:
        loaded = load_recipients(path)
    except ConfigError as exc:
        check_problems(exc.problems, str(path), None)
        return
    for key, recipient in loaded.items():
        assert recipient.key == key
        assert recipient.id
