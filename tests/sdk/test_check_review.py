"""`opmaat check` catches what people get wrong: attribute paths no profile has (in audiences
and templates), values and operators that never match, missing files, near misses; each said
as file:line: field: message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opmaat.campaigns import check_file, load_campaigns
from opmaat.campaigns.loader import Review, review_file

DEMO_GEO = Path(__file__).resolve().parents[2] / "edge" / "opmaat_edge" / "demo" / "geo-demo.mmdb"
SLOTS = "slots: {hero: {}}\n"


def campaign(audience: str = "{}", html: str = "hi", more: str = "") -> str:
    return (
        f"  - id: a\n    slot: hero\n    audience: {audience}\n{more}"
        f"    variants: [{{key: a, html: {html}}}]\n"
    )


def review(tmp_path: Path, text: str, site: str = "site:\n  geo_database: geo.mmdb\n") -> Review:
    (tmp_path / "geo.mmdb").write_bytes(DEMO_GEO.read_bytes())
    path = tmp_path / "c.yaml"
    path.write_text(site + SLOTS + "campaigns:\n" + text, encoding="utf-8")
    return review_file(path)


def said(found: list[Any], tmp_path: Path) -> list[str]:
    return [str(problem).replace(f"{tmp_path}/", "") for problem in found]


def warned(tmp_path: Path, audience: str) -> list[str]:
    result = review(tmp_path, campaign(audience))
    assert result.errors == []
    return [
        w.replace("c.yaml:7: campaigns[0].audience.", "") for w in said(result.warnings, tmp_path)
    ]


@pytest.mark.parametrize(
    ("audience", "warning"),
    [
        (
            "{geo.contry: DE}",
            "geo.contry: unknown attribute 'geo.contry'; did you mean 'geo.country'?",
        ),
        (
            "{device.type: phone}",
            "device.type: device.type is never 'phone': it is one of mobile, tablet, desktop, "
            "bot, other",
        ),
        (
            "{device.type: {$in: [mobile, Tablet]}}",
            "device.type.$in[1]: device.type is never 'Tablet': it is one of mobile, tablet, "
            "desktop, bot, other; did you mean 'tablet'?",
        ),
        (
            "{geo.country: Germany}",
            "geo.country: 'Germany' is not an ISO 3166-1 alpha-2 country code (two upper-case "
            "letters, like 'NL'), so geo.country never equals it",
        ),
        (
            "{geo.country: {$ne: nl}}",
            "geo.country.$ne: 'nl' is not an ISO 3166-1 alpha-2 country code (two upper-case "
            "letters, like 'NL'), so geo.country never equals it; did you mean 'NL'?",
        ),
        (
            "{geo.timezone: Europe/Amsterdm}",
            "geo.timezone: 'Europe/Amsterdm' is not an IANA time zone name (like "
            "'Europe/Amsterdam'), so geo.timezone never equals it; "
            "did you mean 'Europe/Amsterdam'?",
        ),
        (
            "{visitor.visits: '3'}",
            "visitor.visits: visitor.visits is a whole number: '3' never equals it; "
            "write it without quotes",
        ),
        (
            "{referrer.medium: 5}",
            "referrer.medium: referrer.medium is text: 5 never equals it; put it in quotes",
        ),
        (
            "{segments: vip}",
            "segments: segments is a list: a plain value only equals the whole list; to match "
            "one of its items write {$in: [vip]}",
        ),
        (
            "{segments: {$ne: vip}}",
            "segments.$ne: segments is a list: a plain value only equals the whole list; to "
            "match none of its items write {$nin: [vip]}",
        ),
        ("{time.hour: {$gte: 24}}", "time.hour.$gte: time.hour is from 0 to 23: never $gte 24"),
        ("{time.hour: 7.5}", "time.hour: time.hour is a whole number: never 7.5"),
        (
            "{intent.score: {$lt: 0}}",
            "intent.score.$lt: intent.score is from 0 to 100: never $lt 0",
        ),
        (
            "{geo.country: {$size: 2}}",
            "geo.country.$size: $size tests a list, and geo.country is text: never true",
        ),
        (
            "{cart.abandoned: {$regex: 'true'}}",
            "cart.abandoned.$regex: $regex tests text, and cart.abandoned is true or false: "
            "never true",
        ),
        (
            "{visitor.visits: {$type: string}}",
            "visitor.visits.$type: visitor.visits is a whole number, never of $type string",
        ),
        (
            "{visitor.visits: {$gt: many}}",
            "visitor.visits.$gt: visitor.visits is a whole number: never $gt the text 'many'",
        ),
        ("{device.type: {$gt: 2}}", "device.type.$gt: device.type is text, never $gt a number"),
        (
            "{events.prodct_view.count_1d: {$gte: 1}}",
            "events.prodct_view.count_1d: 'prodct_view' is not an event this file knows (built "
            "in, site.events or a goal), so no profile has events.prodct_view.count_1d; did you "
            "mean 'product_view'?",
        ),
        (
            "{response.b.clicks: {$gte: 1}}",
            "response.b.clicks: there is no campaign 'b' in this file, so no profile has "
            "response.b.clicks",
        ),
        (
            "{interests.Running: {$gt: 1}}",
            "interests.Running: 'Running' is not a category key (lower-case letters, digits, "
            "'-' and '_', like 'running'), so no profile has interests.Running; did you mean "
            "'running'?",
        ),
        (
            "{$or: [{cart.count: {$gte: 1}}, {$not: {visitor.visit: 2}}]}",
            "$or[1].$not.visitor.visit: unknown attribute 'visitor.visit'; did you mean "
            "'visitor.visits'?",
        ),
        (
            "{purl.first_name: {$exists: true}}",
            "purl.first_name: no campaign's purl.expose lists 'first_name', so no profile has "
            "purl.first_name",
        ),
    ],
)
def test_audiences_that_never_match_as_meant_are_warned_of(
    tmp_path: Path, audience: str, warning: str
) -> None:
    assert warned(tmp_path, audience) == [warning]


@pytest.mark.parametrize(
    "audience",
    [
        "{geo.country: {$in: [NL, BE]}, device.type: {$ne: bot}}",
        "{visitor.visits: {$gte: 3}, time.hour: {$lt: 12}, time.weekday: saturday}",
        "{segments: {$in: [vip]}, session.pages: {$all: [/cart]}, session.pages.length: 2}",
        "{session.pages: {$elemMatch: {$regex: '^/shoes/'}}, cart.items.0.price: {$gt: 10}}",
        "{events.page_view.count_7d: {$gte: 2}, response.a.clicks: 1, interests.running: {$gt: 1}}",
        "{utm.campaign: {$exists: true}, page.category: running, page.price: {$lt: 100}}",
        "{geo.country: null, referrer.term: {$regexi: shoes}, geo.continent: EU}",
        "{visitor.visits: {$gte: '3'}, orders.last: {$gte: '2026-01-01'}}",
    ],
)
def test_audiences_that_can_match_are_not_warned_of(tmp_path: Path, audience: str) -> None:
    assert warned(tmp_path, audience) == []


def test_an_attribute_whose_source_the_file_does_not_set_is_warned_of(tmp_path: Path) -> None:
    text = campaign("{geo.city: Amsterdam, rfm.segment: champions, purl.campaign: a}")
    result = review(tmp_path, text, site="site: {name: x}\n")
    assert said(result.warnings, tmp_path) == [
        "c.yaml:6: campaigns[0].audience.geo.city: geo.city comes from site.geo_database, "
        "which this file does not set: no visitor has it",
        "c.yaml:6: campaigns[0].audience.rfm.segment: rfm.segment comes from site.customers, "
        "which this file does not set: no visitor has it",
        "c.yaml:6: campaigns[0].audience.purl.campaign: purl.campaign is only set for visitors "
        "who followed a personal link, and no campaign here has a purl section",
    ]
    # A campaign for server channels only is given its attributes by the caller.
    server = campaign("{geo.city: Amsterdam}", more="    channels: [email]\n")
    assert review(tmp_path, server, site="site: {name: x}\n").warnings == []


def test_templates_are_read_for_unknown_attributes(tmp_path: Path) -> None:
    html = "<p>{{ geo.cty }}</p>\n<p>{{ gep.city }} {{ campaign.nam }} {{ profile.visitr.id }}</p>"
    result = review(tmp_path, campaign(html=json.dumps(html)))
    assert said(result.warnings, tmp_path) == [
        "c.yaml:8: campaigns[0].variants[0].html: the template reads geo.cty: unknown "
        "attribute 'geo.cty'; did you mean 'geo.city'?",
        "c.yaml:8: campaigns[0].variants[0].html: the template reads gep.city on line 2 of the "
        "template: unknown attribute 'gep.city'; did you mean 'geo.city'?",
        "c.yaml:8: campaigns[0].variants[0].html: the template reads campaign.nam on line 2 of "
        "the template: campaign has id, name, not 'nam'; did you mean 'name'?",
        "c.yaml:8: campaigns[0].variants[0].html: the template reads profile.visitr.id on line 2 "
        "of the template: unknown attribute 'visitr.id'; did you mean 'visitor.id'?",
    ]


def test_a_template_files_warnings_point_into_it(tmp_path: Path) -> None:
    (tmp_path / "hero.html.j2").write_text(
        "{% for item in cart.items %}{{ item.name }}{{ loop.index }}{% endfor %}\n"
        "{% set n = visitor.visits %}{{ n }} {{ geo.get('city') }} {{ range(2)|list }}\n"
        "{{ segments|join(', ') }} {{ interests[n] }}\n{{ geo.nearest.nam }}\n",
        encoding="utf-8",
    )
    text = "  - {id: a, slot: hero, variants: [{key: a, template: hero.html.j2}]}\n"
    result = review(
        tmp_path,
        text,
        site="site: {geo_database: geo.mmdb, locations: [{name: x, lat: 1, lon: 2}]}\n",
    )
    assert said(result.warnings, tmp_path) == [
        "hero.html.j2:4: campaigns[0].variants[0].template: the template reads geo.nearest.nam: "
        "unknown attribute 'geo.nearest.nam'; did you mean 'geo.nearest.name'?"
    ]


def test_check_errors_name_where_and_what_near_misses_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hero.html.j2").write_text("<h2>\n{{ geo.city }\n</h2>\n")
    (tmp_path / "c.yaml").write_text(
        "site: {geo_database: GeoLite2-City.mmdb}\n" + SLOTS + "campaigns:\n"
        "  - id: a\n    slot: hero\n    audience: {geo.country: {$eqq: NL}}\n"
        "    variants:\n"
        "      - {key: a, template: templates/hero.html.j2}\n"
        "      - {key: b, template: templates/missing.html.j2}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    assert [str(problem) for problem in check_file("c.yaml")] == [
        f"c.yaml:1: site.geo_database: no such file {tmp_path}/GeoLite2-City.mmdb: download a "
        "GeoLite2 or GeoIP2 City database (docs/edge.md#geo-ip), or leave geo_database out",
        "c.yaml:6: campaigns[0].audience.geo.country.$eqq: unknown operator '$eqq'; "
        "did you mean '$eq'?",
        "templates/hero.html.j2:2: campaigns[0].variants[0].template: template syntax error: "
        "unexpected '}'",
        "c.yaml:9: campaigns[0].variants[1].template: template file "
        f"'templates/missing.html.j2' not found (looked in {tmp_path})",
    ]


def test_a_template_file_reading_utm_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "hero.html").write_text("<h2>Hi</h2>\n<p>{{ utm.term }}</p>\n")
    path = tmp_path / "c.yaml"
    path.write_text(
        SLOTS + "campaigns:\n  - {id: a, slot: hero, variants: [{key: a, template: hero.html}]}\n"
    )
    [problem] = check_file(path)
    assert (problem.file, problem.line) == (str(tmp_path / "hero.html"), 2)
    assert problem.message.startswith("the template shows utm.*: text from the link")


def test_a_geo_database_that_is_no_maxmind_db_is_an_error_but_other_commands_load(
    tmp_path: Path,
) -> None:
    (tmp_path / "geo.mmdb").write_text("not a database")
    path = tmp_path / "c.yaml"
    path.write_text("site:\n  geo_database: geo.mmdb\n" + SLOTS)
    [problem] = check_file(path)
    assert (problem.line, problem.field) == (2, "site.geo_database")
    assert problem.message.startswith(f"{tmp_path}/geo.mmdb is not a MaxMind DB file (")
    assert "Errno" not in problem.message
    assert "b'" not in problem.message
    assert load_campaigns(path).site.geo_database == tmp_path / "geo.mmdb"  # `opmaat pause`


def test_data_files_not_written_yet_are_notes_and_near_misses_warnings(tmp_path: Path) -> None:
    (tmp_path / "customers.json").write_text("{}")
    text = campaign(more="    purl: {recipients: links.csv}\n")
    result = review(
        tmp_path, text, site="site: {geo_database: geo.mmdb, customers: customer.json}\n"
    )
    assert said(result.warnings, tmp_path) == [
        "c.yaml:1: site.customers: no file customer.json; did you mean "
        "'customers.json'? (`opmaat import customers` writes it)"
    ]
    assert said(result.notes, tmp_path) == [
        "c.yaml:7: campaigns[0].purl.recipients: no file links.csv yet (`opmaat purl "
        "create` writes it): until then the edge knows none of this campaign's personal links"
    ]


def test_locations_without_a_geo_database_are_warned_of(tmp_path: Path) -> None:
    site = "site:\n  locations: [{name: Utrecht, lat: 52.09, lon: 5.12}]\n"
    result = review(tmp_path, campaign(), site=site)
    assert said(result.warnings, tmp_path) == [
        "c.yaml:2: site.locations: geo.nearest needs the visitor's position, which only "
        "site.geo_database gives: without it no visitor has a nearest location"
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
paths = st.sampled_from(["geo.country", "segments", "events.x.count_1d", "a.b", "$or", "$not"])
keys = st.sampled_from(["$in", "$eq", "$gt", "$size", "$type", "$inGroup", "$all", "$elemMatch"])
tests = json_values | st.dictionaries(keys, json_values, min_size=1, max_size=2)
templates = st.sampled_from(
    ["{{ a.b.c }}", "{{ x[y].z }}", "{% for q in r %}{{ q.s }}{% endfor %}"]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(audience=st.dictionaries(paths, tests, max_size=3), html=templates | st.text(max_size=20))
def test_any_audience_and_template_is_reviewed_without_raising(
    tmp_path: Path, audience: dict[str, Any], html: str
) -> None:
    spec = {
        "id": "a",
        "slot": "hero",
        "audience": audience,
        "variants": [{"key": "a", "html": html}],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"slots": {"hero": None}, "campaigns": [spec]}))
    result = review_file(path)
    assert all(p.line >= 1 for p in [*result.errors, *result.warnings])
