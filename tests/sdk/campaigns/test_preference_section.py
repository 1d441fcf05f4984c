"""The campaign file's ``preferences`` section: its fields, the offers file they filter, and
what `opmaat check` says of both."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opmaat.campaigns import check_file, load_campaigns
from opmaat.campaigns.loader import review_file
from opmaat.errors import ConfigError
from opmaat.preference_fields import PreferenceField

TAIL = """slots: {hero: {}}
campaigns:
  - {id: a, slot: hero, variants: [{key: x, html: hi}]}
"""
OFFERS = """id,name,url,price,category,in_stock,sizes
shoe,Road shoe,/p/shoe,99.50,Running,true,41|42
boot,Boot,/p/boot,150,outdoor,no,42
tent,Tent,https://shop.example/tent,,outdoor,,
"""


def write(folder: Path, preferences: str, offers: str | None = OFFERS) -> Path:
    path = folder / "campaigns.yaml"
    path.write_text("preferences:\n" + preferences + TAIL, encoding="utf-8")
    if offers is not None:
        (folder / "offers.csv").write_text(offers, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    found = [str(problem) for problem in check_file(path)]
    if found:
        with pytest.raises(ConfigError):
            load_campaigns(path)
    return [f.split(": ", 1)[1] for f in found]


def test_fields_and_offers_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  fields:\n"
        "    size: {values: [41, 42, 42.5], column: sizes}\n"
        "    budget: {label: EU budget, type: number, min: 0, max: 500, column: price}\n"
        "  offers: offers.csv\n",
    )
    preferences = load_campaigns(path).preferences
    assert preferences.fields == {
        "size": PreferenceField("size", "Size", "choice", ("41", "42", "42.5"), column="sizes"),
        "budget": PreferenceField("budget", "EU budget", "number", (), 0, 500, "price"),
    }
    assert preferences.fields["budget"].phrase == "EU budget"
    shoe, boot, tent = preferences.offers
    assert (shoe.id, shoe.name, shoe.price, shoe.category) == ("shoe", "Road shoe", 99.5, "running")
    assert shoe.choices == {"sizes": frozenset({"41", "42"})}
    assert shoe.numbers == {"price": 99.5}
    assert boot.in_stock is False
    assert (tent.url, tent.price, tent.choices, tent.in_stock) == (
        "https://shop.example/tent",
        None,
        {},
        True,
    )
    assert path.parent / "offers.csv" in load_campaigns(path).data_files


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("  fields: {favourites: {values: [a]}}\n", "'favourites' is prefs.favourites already"),
        ("  fields: {Size: {values: [a]}}\n", "'Size' is not a field name"),
        ("  fields: {size: {values: []}}\n", "a choice field lists its values"),
        ("  fields: {size: {values: [a, a]}}\n", "'a' is listed twice"),
        ("  fields: {size: {values: [a|b]}}\n", "without '|'"),
        ("  fields: {size: {values: [a], min: 1}}\n", "'min' is for a number field"),
        ("  fields: {size: {type: colour}}\n", "must be one of choice, number"),
        ("  fields: {budget: {type: number, min: 9, max: 1}}\n", "max (1) is below min (9)"),
        ("  fields: {budget: {type: number, values: [1]}}\n", "'values' is for a choice field"),
        ("  fields: {size: {values: [a], colour: red}}\n", "colour"),
        ("  fields: {size: {values: [a], column: sizes}}\n", "name it under preferences.offers"),
        ("  fields: {size: {values: [a], column: Sizes}}\n  offers: offers.csv\n", "lower-case"),
        ("  offers: ../offers.csv\n", "offers"),
        ("  flavour: vanilla\n", "flavour"),
    ],
)
def test_a_bad_section_says_what_is_wrong(tmp_path: Path, section: str, message: str) -> None:
    found = problems(write(tmp_path, section))
    assert found
    assert any(message in problem for problem in found), found


@pytest.mark.parametrize(
    ("offers", "message"),
    [
        ("id,name\nshoe,Shoe\n", "offers.csv:1: header: no url column"),
        ("id,name,url\nshoe,Shoe,/p/shoe\n", "offers.csv:1: header: no sizes column"),
        ("id,name,url,sizes\nshoe,,/p/shoe,41\n", "offers.csv:2: name: missing"),
        ("id,name,url,sizes\nshoe,Shoe,javascript:x,41\n", "offers.csv:2: url: product.url"),
        ("id,name,url,sizes,price\nshoe,Shoe,/p,41,12;50\n", "offers.csv:2: price: '12;50'"),
        ("id,name,url,sizes,in_stock\nshoe,Shoe,/p,41,maybe\n", "in_stock: 'maybe'"),
        ("id,name,url,sizes\nshoe,Shoe,/p,41\nshoe,Shoe,/q,42\n", "3: id: duplicate id 'shoe'"),
        ("id,name,url,sizes\nshoe,Shoe,/p\n", "offers.csv:2: row: has 3 cells"),
    ],
)
def test_a_bad_offers_file_is_refused_naming_file_line_and_field(
    tmp_path: Path, offers: str, message: str
) -> None:
    path = write(
        tmp_path, "  fields: {size: {values: [41], column: sizes}}\n  offers: offers.csv\n", offers
    )
    with pytest.raises(ConfigError) as info:
        load_campaigns(path)
    assert message in str(info.value)


def test_too_many_offers_are_refused(tmp_path: Path) -> None:
    rows = "".join(f"p{i},P,/p\n" for i in range(501))
    path = write(tmp_path, "  offers: offers.csv\n", "id,name,url\n" + rows)
    with pytest.raises(ConfigError, match="more than 500 offers"):
        load_campaigns(path)


def test_no_offers_file_yet_is_no_offers(tmp_path: Path) -> None:
    path = write(tmp_path, "  offers: offers.csv\n", offers=None)
    assert load_campaigns(path).preferences.offers == ()


def test_check_warns_of_preferences_the_file_does_not_declare(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.yaml"
    path.write_text(
        "preferences: {fields: {size: {values: ['42']}}}\n"
        "slots: {hero: {}}\n"
        "campaigns:\n"
        "  - {id: a, slot: hero, audience: {prefs.colour: red}, variants: [{key: x, html: hi}]}\n"
        "  - {id: b, slot: hero, audience: {prefs.size: '47'}, variants: [{key: x, html: hi}]}\n"
        "  - {id: c, slot: hero, audience: {prefs.size: '42', prefs.ratings.shoe: {$gte: 4}},\n"
        "     variants: [{key: x, html: '{{ offers[0].reason }}'}]}\n",
        encoding="utf-8",
    )
    warnings = [str(w) for w in review_file(path).warnings]
    assert any("preferences.fields has no field 'colour'" in w for w in warnings), warnings
    assert not any("campaigns[2]" in w or ":6:" in w for w in warnings), warnings


def test_a_changed_offers_file_is_read_again(tmp_path: Path) -> None:
    path = write(tmp_path, "  offers: offers.csv\n", "id,name,url\nshoe,Shoe,/p\n")
    assert [o.id for o in load_campaigns(path).preferences.offers] == ["shoe"]
    time.sleep(0.01)
    (tmp_path / "offers.csv").write_text("id,name,url\nboot,Boot,/b\n", encoding="utf-8")
    assert [o.id for o in load_campaigns(path).preferences.offers] == ["boot"]
