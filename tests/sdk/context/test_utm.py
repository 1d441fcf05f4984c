from __future__ import annotations

import pytest

from opmaat.context import parse_utm


def test_all_five_parameters() -> None:
    url = (
        "https://shop.example/?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday"
        "&utm_term=red+shoes&utm_content=hero%20banner&other=1"
    )
    assert parse_utm(url) == {
        "source": "newsletter",
        "medium": "email",
        "campaign": "black-friday",
        "term": "red shoes",
        "content": "hero banner",
    }


def test_only_present_parameters() -> None:
    assert parse_utm("https://shop.example/?utm_campaign=spring&utm_source=") == {
        "campaign": "spring"
    }


def test_names_in_any_case_and_first_value_wins() -> None:
    url = "https://shop.example/?UTM_Source=first&utm_source=second"
    assert parse_utm(url) == {"source": "first"}


def test_values_are_cut_to_200_characters() -> None:
    assert parse_utm("https://shop.example/?utm_campaign=" + "x" * 1000) == {"campaign": "x" * 200}


def test_unicode_and_control_characters() -> None:
    url = "https://shop.example/?utm_campaign=%E2%82%AC%2010%20korting%00%0A&utm_term=%F0%9F%98%80"
    assert parse_utm(url) == {"campaign": "€ 10 korting", "term": "😀"}


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "not a url?utm_source=x",
        "javascript:alert(1)//?utm_source=x",
        "https://shop.example/",
        "https://shop.example/#utm_source=x",
        "https://shop.example/?utm_source=%00%01",
        "https://shop.example/?" + "&" * 8192,
        "\udcff",
    ],
)
def test_nothing_to_find(url: str | None) -> None:
    assert parse_utm(url) == {}


def test_broken_percent_escape_is_kept_as_text() -> None:
    assert parse_utm("https://shop.example/?utm_source=%ZZ%") == {"source": "%ZZ%"}


def test_huge_url_does_not_reach_past_2kb() -> None:
    url = "https://shop.example/?pad=" + "x" * 4096 + "&utm_source=late"
    assert parse_utm(url) == {}
