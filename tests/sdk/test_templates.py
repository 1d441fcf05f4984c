from __future__ import annotations

import logging

import pytest
from jinja2 import TemplateSyntaxError

from opmaat.templates import RawUtmError, TemplateRenderer, render_context

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ profile.segments.append('vip') }}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_render_nothing_and_are_counted(
    source: str, caplog: pytest.LogCaptureFixture
) -> None:
    renderer = TemplateRenderer()
    profile = {"segments": ["new"]}
    with caplog.at_level(logging.WARNING, logger="opmaat.templates"):
        html = renderer.render(
            renderer.compile("<p>" + source + "</p>"), {"profile": profile}, "campaign 'x'"
        )
    assert html is None
    assert renderer.errors == 1
    assert profile == {"segments": ["new"]}
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "campaign 'x'" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_visitor_values_are_escaped() -> None:
    renderer = TemplateRenderer()
    template = renderer.compile("<p>{{ referrer.term }}</p>")
    html = renderer.render(template, {"referrer": {"term": "<script>alert(1)</script>"}}, "t")
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_missing_attributes_render_empty() -> None:
    renderer = TemplateRenderer()
    template = renderer.compile("<p>Hi {{ geo.city.name|title }}{{ nothing }}!</p>")
    assert renderer.render(template, {}, "t") == "<p>Hi !</p>"
    assert renderer.errors == 0


def test_runtime_error_gives_none_never_a_fragment() -> None:
    renderer = TemplateRenderer()
    template = renderer.compile("<p>start {{ 1 / visitor.visits }} end</p>")
    assert renderer.render(template, {"visitor": {"visits": 0}}, "t") is None
    assert renderer.render(template, {"visitor": {"visits": 2}}, "t") == "<p>start 0.5 end</p>"
    assert renderer.errors == 1


def test_globals_stay_available() -> None:
    renderer = TemplateRenderer()
    template = renderer.compile("{% for i in range(3) %}{{ i }}{% endfor %}")
    assert renderer.render(template, {}, "t") == "012"


def test_syntax_errors_raise_at_compile_time() -> None:
    with pytest.raises(TemplateSyntaxError):
        TemplateRenderer().compile("{% if x %}")


def test_render_context_exposes_sections_and_names() -> None:
    profile = {"geo": {"city": "Utrecht"}, "campaign": "shadowed"}
    context = render_context(profile, {"id": "c", "name": "C"}, {"key": "a"}, {"name": "hero"})
    renderer = TemplateRenderer()
    template = renderer.compile(
        "{{ geo.city }} {{ profile.geo.city }} {{ campaign.id }} {{ variant.key }} {{ slot.name }}"
    )
    assert renderer.render(template, context, "t") == "Utrecht Utrecht c a hero"


def test_a_profile_key_named_like_a_dict_method_wins() -> None:
    renderer = TemplateRenderer()
    template = renderer.compile(
        "{% for item in cart.items %}{{ item.name }};{% endfor %}"
        "{{ cart.keys }}|{{ prefs.get('x') }}"
    )
    context = {"cart": {"items": [{"name": "tent"}], "keys": "k"}, "prefs": {"x": 1}}
    assert renderer.render(template, context, "test") == "tent;k|1"


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("<p>{{ utm.term }}</p>", 1),
        ("<p>\n{{ utm.source|title }}</p>", 2),
        ("{% if utm.campaign == 'x' %}x{% endif %}", 1),
        ("{{ profile.utm.term }}", 1),
        ("{{ profile['utm']['term'] }}", 1),
        ("{{ profile|attr('utm') }}", 1),
        ("a\nb\n{% set u = utm %}{{ u.term }}", 3),
    ],
)
def test_a_template_reads_utm_only_when_allowed(source: str, line: int) -> None:
    renderer = TemplateRenderer()
    with pytest.raises(RawUtmError) as caught:
        renderer.compile(source)
    assert caught.value.lineno == line
    renderer.compile(source, raw_utm=True)


def test_raw_utm_text_is_escaped() -> None:
    renderer = TemplateRenderer()
    template = renderer.compile("<p>{{ utm.term }}</p>", raw_utm=True)
    html = renderer.render(template, {"utm": {"term": "<b>call 0800</b>"}}, "t")
    assert html == "<p>&lt;b&gt;call 0800&lt;/b&gt;</p>"
