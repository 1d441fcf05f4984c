"""Rendered campaign content is kept per set of values the template reads: the same visitor
values render once, anything else a template may depend on is rendered every time."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from jinja2 import Template

from opmaat import templates
from opmaat.templates import TemplateRenderer, no_recommendations

CAMPAIGN = {"id": "c1", "name": "One"}
VARIANT = {"key": "a"}
SLOT = {"name": "hero"}


def render(renderer: TemplateRenderer, template: Template, profile: dict[str, Any]) -> str | None:
    return renderer.render_for(
        template, profile, CAMPAIGN, VARIANT, SLOT, "campaign 'c1'", no_recommendations
    )


def renders(renderer: TemplateRenderer, source: str, *profiles: dict[str, Any]) -> list[str]:
    """What each profile gets, and how many times the template really rendered."""
    template = renderer.compile(source)
    real = Template.render
    with mock.patch.object(Template, "render", autospec=True, side_effect=real) as spy:
        out = [str(render(renderer, template, p)) for p in profiles]
    return [*out, f"rendered {spy.call_count}x"]


def test_the_same_values_render_once() -> None:
    source = "<p>Hi {{ geo.city }}, {{ referrer.term }} in {{ slot.name }} ({{ campaign.id }})</p>"
    one = {"geo": {"city": "Utrecht", "country": "NL"}, "referrer": {"term": "shoes"}}
    other_country = {"geo": {"city": "Utrecht", "country": "BE"}, "referrer": {"term": "shoes"}}
    assert renders(TemplateRenderer(), source, one, other_country, one) == [
        "<p>Hi Utrecht, shoes in hero (c1)</p>",
        "<p>Hi Utrecht, shoes in hero (c1)</p>",
        "<p>Hi Utrecht, shoes in hero (c1)</p>",
        "rendered 1x",
    ]


def test_other_values_render_again_and_stay_escaped() -> None:
    source = "<p>{{ referrer.term }}</p>"
    first = {"referrer": {"term": "<b>shoes</b>"}}
    second = {"referrer": {"term": "socks"}}
    missing: dict[str, Any] = {"referrer": {}}
    assert renders(TemplateRenderer(), source, first, second, missing, first) == [
        "<p>&lt;b&gt;shoes&lt;/b&gt;</p>",
        "<p>socks</p>",
        "<p></p>",
        "<p>&lt;b&gt;shoes&lt;/b&gt;</p>",
        "rendered 3x",
    ]


@pytest.mark.parametrize(
    "values",
    [
        (1, True, 1.0),  # equal as keys, written differently
        (0.0, -0.0, None),
        ("1", 1, [1]),
    ],
)
def test_values_that_compare_equal_but_render_otherwise_are_kept_apart(
    values: tuple[Any, ...],
) -> None:
    profiles = [{"visitor": {"visits": value}} for value in values]
    out = renders(TemplateRenderer(), "{{ visitor.visits }}", *profiles)
    assert out[:-1] == [str(value) for value in values]


@pytest.mark.parametrize(
    "source",
    [
        "{% for item in cart.items %}{{ item.name }}{% endfor %}",  # a list of objects
        "{{ geo }}",  # a whole section
        "{{ geo.get('city') }}",  # a method of the section
        "{{ interests[name] }}",  # a key given by a variable
        "{{ [1, 2, 3]|random }}",  # a filter that draws
        "{{ lipsum(1) }}",  # a global that draws
        "{{ recommendations('similar') }}",  # what the host hands in, per visitor
        "{{ profile.geo.city }}{{ profile }}",
    ],
)
def test_templates_that_may_depend_on_more_render_every_time(source: str) -> None:
    profile = {
        "cart": {"items": [{"name": "Tent"}]},
        "geo": {"city": "Utrecht"},
        "interests": {"running": 1.0},
    }
    out = renders(TemplateRenderer(), source, profile, profile)
    assert out[-1] == "rendered 2x"


def test_a_list_of_plain_values_is_a_key() -> None:
    source = "{% if 'vip' in segments %}VIP{% else %}-{% endif %}"
    out = renders(
        TemplateRenderer(), source, {"segments": ["vip"]}, {"segments": []}, {"segments": ["vip"]}
    )
    assert out == ["VIP", "-", "VIP", "rendered 2x"]


def test_a_key_that_is_a_dict_method_name_is_not_cached_unless_present() -> None:
    source = "{{ cart.items }}"
    with_key = {"cart": {"items": 3}}
    out = renders(TemplateRenderer(), source, with_key, with_key)
    assert out == ["3", "3", "rendered 1x"]
    without = {"cart": {"count": 3}}  # cart.items is then dict.items
    assert renders(TemplateRenderer(), source, without, without)[-1] == "rendered 2x"


def test_failed_renders_are_counted_every_time_and_never_kept() -> None:
    renderer = TemplateRenderer()
    template = renderer.compile("{{ 1 / visitor.visits }}")
    profile = {"visitor": {"visits": 0}}
    assert render(renderer, template, profile) is None
    assert render(renderer, template, profile) is None
    assert renderer.errors == 2
    assert render(renderer, template, {"visitor": {"visits": 4}}) == "0.25"


def test_what_is_kept_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDERED_CACHE", 10)
    renderer = TemplateRenderer()
    template = renderer.compile("{{ referrer.term }}")
    for n in range(25):
        assert render(renderer, template, {"referrer": {"term": f"t{n}"}}) == f"t{n}"
    assert len(renderer._rendered) <= 10


def test_long_texts_are_not_kept() -> None:
    renderer = TemplateRenderer()
    template = renderer.compile("{{ page.url }}")
    url = "https://shop.example/" + "x" * templates.MAX_KEY_TEXT
    assert render(renderer, template, {"page": {"url": url}}) == url
    assert not renderer._rendered
