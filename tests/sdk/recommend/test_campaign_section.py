"""The campaign file's ``recommendations`` section: strategies and their options, the product
feed read and reloaded like the customer table, and templates' ``recommendations(...)`` calls
checked against both, each mistake with its file:line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opmaat.campaigns import load_campaigns
from opmaat.campaigns.loader import check_file, review_file
from opmaat.errors import ConfigError
from opmaat.runtime import RuntimeHolder

FEED = "id,name,url,price,category\ntent,Dome tent,/p/tent,179,outdoor\nmat,Mat,/p/mat,35,yoga\n"
SECTION = """\
recommendations:
  feed: feed.csv
  serendipity: 0.1
  strategies:
    viewed-together: {}
    also-bought: {kind: bought-together, serendipity: 0}
    near-you: {kind: popular, by: city}
"""
SLOTS = """\
slots:
  hero: {default: ""}
campaigns:
  - id: picks
    slot: hero
    variants:
      - key: a
        html: >-
"""


def write(folder: Path, section: str = SECTION, html: str = "<p>hi</p>", feed: str = FEED) -> Path:
    (folder / "feed.csv").write_text(feed, encoding="utf-8")
    config = folder / "campaigns.yaml"
    config.write_text(section + SLOTS + f"          {html}\n", encoding="utf-8")
    return config


def problems(config: Path) -> list[str]:
    return [str(p).replace(f"{config.parent}/", "") for p in check_file(config)]


def test_the_section_names_strategies_with_their_options_and_loads_the_feed(
    tmp_path: Path,
) -> None:
    campaigns = load_campaigns(write(tmp_path))
    section = campaigns.recommendations
    assert section is not None
    assert section.feed == (tmp_path / "feed.csv").resolve()
    assert list(section.strategies) == ["viewed-together", "also-bought", "near-you"]
    assert section.strategies["viewed-together"].serendipity == 0.1  # the section's share
    assert section.strategies["also-bought"].kind == "bought-together"
    assert section.strategies["also-bought"].serendipity == 0
    assert section.strategies["near-you"].by == "city"
    assert campaigns.feed is not None
    assert [p.id for p in campaigns.feed] == ["tent", "mat"]
    assert section.feed in campaigns.data_files  # watched like the customer table


def test_without_strategies_there_is_one_of_each_kind_and_without_a_feed_none_is_read(
    tmp_path: Path,
) -> None:
    campaigns = load_campaigns(write(tmp_path, "recommendations: {}\n"))
    assert campaigns.recommendations is not None
    assert campaigns.recommendations.feed is None
    assert "personal" in campaigns.recommendations.strategies
    assert campaigns.feed is None
    assert load_campaigns(write(tmp_path, "")).recommendations is None


def test_every_mistake_in_the_section_is_reported_at_its_line(tmp_path: Path) -> None:
    section = """\
recommendations:
  feed: feed.xlsx
  serendipity: 0.7
  colour: blue
  strategies:
    Best Sellers: {}
    for-you: {kind: personnal}
    here: {kind: personal, by: city}
    popular: {seeds: 9}
"""
    assert problems(write(tmp_path, section)) == [
        "campaigns.yaml:2: recommendations.feed: a product feed is a .csv or a .json file",
        "campaigns.yaml:3: recommendations.serendipity: expected a share from 0 to 0.5 (0.2 is "
        "a fifth of each list), got 0.7",
        "campaigns.yaml:4: recommendations.colour: unknown key 'colour'",
        "campaigns.yaml:6: recommendations.strategies.Best Sellers: 'Best Sellers' is not a "
        "strategy name: lower-case letters, digits, '-' and '_' (at most 40)",
        "campaigns.yaml:7: recommendations.strategies.for-you.kind: 'personnal' is not a kind: "
        "viewed-together, bought-together, viewed-then-bought, popular, trending, "
        "recently-viewed, personal",
        "campaigns.yaml:8: recommendations.strategies.here.by: popular and trending take by: "
        "city, country, segment",
        "campaigns.yaml:9: recommendations.strategies.popular.seeds: a whole number from 1 to 5",
    ]


def test_a_bad_feed_row_is_reported_with_the_feeds_file_and_line(tmp_path: Path) -> None:
    feed = FEED + "bad,Bad,javascript:alert(1),12.50,outdoor\n"
    config = write(tmp_path, feed=feed)
    with pytest.raises(ConfigError) as caught:
        load_campaigns(config)
    (problem,) = caught.value.problems
    assert (Path(problem.file).name, problem.line, problem.field) == ("feed.csv", 4, "url")


@pytest.mark.parametrize(
    ("html", "said"),
    [
        (
            '{{ recommendations("viewed-togther") }}',
            "no strategy 'viewed-togther' in recommendations.strategies (also-bought, near-you, "
            "viewed-together); did you mean 'viewed-together'?",
        ),
        ('{{ recommendations("near-you", n=100) }}', "n is how many items: a whole number"),
        ('{{ recommendations("near-you", size=3) }}', "takes strategy, n and products"),
        ("{{ recommendations(n=3) }}", "needs a strategy's name"),
        ('{{ recommendations("also-bought", products="tent") }}', "a list of at most 5"),
        (
            '{{ recommendations("also-bought", products=["tnet"]) }}',
            "product 'tnet' is not in the feed (feed.csv); did you mean 'tent'?",
        ),
    ],
)
def test_a_templates_call_is_checked_against_the_section_and_the_feed(
    tmp_path: Path, html: str, said: str
) -> None:
    (found,) = problems(write(tmp_path, html=html))
    assert found.startswith("campaigns.yaml:15: campaigns[0].variants[0].html: ")
    assert said in found


def test_a_feed_not_written_yet_is_an_empty_one_and_a_note(tmp_path: Path) -> None:
    config = write(tmp_path, SECTION.replace("feed.csv", "feeed.csv"))
    campaigns = load_campaigns(config)
    assert campaigns.feed is not None
    assert len(campaigns.feed) == 0  # nothing is recommended until it is written
    (warning,) = review_file(config).warnings  # a name close to a file that is there
    assert (warning.line, warning.field) == (2, "recommendations.feed")
    assert "did you mean 'feed.csv'?" in warning.message
    config = write(tmp_path, SECTION.replace("feed.csv", "catalogue.csv"))
    (note,) = review_file(config).notes
    assert "no product is recommended" in note.message


def test_calls_given_by_variables_are_left_to_the_render(tmp_path: Path) -> None:
    html = (
        '{% set s = "near-you" %}{% for i in recommendations(s, n=4, products=[page.product]) %}'
        "{{ i.name }} {{ i.reason }}{% endfor %}"
    )
    config = write(tmp_path, html=html)
    assert check_file(config) == []
    review = review_file(config)
    assert review.warnings == []  # recommendations is a name templates know


def test_a_call_without_a_section_is_an_error(tmp_path: Path) -> None:
    (found,) = problems(write(tmp_path, "", html='{{ recommendations("popular") }}'))
    assert found == (
        "campaigns.yaml:8: campaigns[0].variants[0].html: recommendations() needs a "
        "'recommendations' section in this file"
    )


def test_a_call_in_a_template_file_is_reported_at_the_files_own_line(tmp_path: Path) -> None:
    (tmp_path / "picks.html").write_text(
        '<h2>Picks</h2>\n{{ recommendations("popullar", n=4) }}\n', encoding="utf-8"
    )
    config = write(tmp_path)
    text = config.read_text(encoding="utf-8").replace("html: >-\n          <p>hi</p>", "")
    config.write_text(text.replace("      - key: a\n", "      - {key: a, template: picks.html}\n"))
    (found,) = problems(config)
    assert found.startswith("picks.html:2: campaigns[0].variants[0].template: no strategy")


def test_a_bad_feed_on_reload_keeps_the_previous_one_and_says_where(tmp_path: Path) -> None:
    config = write(tmp_path)
    holder = RuntimeHolder(config)
    first = holder.current.campaigns.feed
    assert first is not None
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED + "x,X,/p/x,twelve,outdoor\n", encoding="utf-8")
    os.utime(feed, (1, 1))  # a new stamp, whatever the clock's resolution
    assert holder.reload_if_changed() is False
    assert holder.current.campaigns.feed is first
    assert holder.last_error is not None
    assert "feed.csv:4: price: 'twelve' is not a price" in holder.last_error
    feed.write_text(FEED + "x,X,/p/x,12,outdoor\n", encoding="utf-8")
    os.utime(feed, (2, 2))
    assert holder.reload_if_changed() is True
    reloaded = holder.current.campaigns.feed
    assert reloaded is not None
    assert "x" in reloaded


def test_a_product_the_feed_drops_fails_the_reload_of_a_template_that_names_it(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, html='{{ recommendations("also-bought", products=["mat"]) }}')
    holder = RuntimeHolder(config)
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED.replace("mat,Mat,/p/mat,35,yoga\n", ""), encoding="utf-8")
    os.utime(feed, (1, 1))
    assert holder.reload_if_changed() is False
    assert holder.last_error is not None
    assert "product 'mat' is not in the feed (feed.csv)" in holder.last_error


def test_a_feed_written_after_the_start_is_read_when_it_appears(tmp_path: Path) -> None:
    config = write(tmp_path, SECTION.replace("feed.csv", "later.csv"))
    holder = RuntimeHolder(config)
    assert len(holder.current.campaigns.feed or ()) == 0
    (tmp_path / "later.csv").write_text(FEED, encoding="utf-8")
    assert holder.reload_if_changed() is True
    assert [p.id for p in holder.current.campaigns.feed or ()] == ["tent", "mat"]
