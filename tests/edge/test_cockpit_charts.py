"""The cockpit's inline SVG charts: well-formed XML, every text escaped, shapes inside the
view box, nothing that runs or loads, and the same bytes for the same input."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from opmaat_edge.cockpit.charts import rate_bars, sparkline

NS = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script>\'&'
NUMBER = re.compile(r"-?\d+(\.\d)?")


def parse(svg: Markup) -> ET.Element:
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == NS + "svg"
    return root


def view_box(root: ET.Element) -> tuple[float, float]:
    x, y, width, height = (float(n) for n in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0)
    assert float(root.attrib["width"]) == width
    assert float(root.attrib["height"]) == height
    return width, height


def all_of(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(NS + tag))


def polyline_points(root: ET.Element) -> list[tuple[float, float]]:
    (line,) = all_of(root, "polyline")
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.attrib["points"].split())]


def check_safe(svg: Markup) -> None:
    """No script, no event handlers, no external references, numbers with one decimal."""
    text = str(svg)
    root = parse(svg)
    assert not all_of(root, "script")
    assert not all_of(root, "foreignObject")
    assert not all_of(root, "image")
    for element in root.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on")
            assert "href" not in name
            assert name != "style"
            assert "url(" not in value
    assert "javascript:" not in text.lower()
    # Only the namespace is a URL; only the polyline carries more than one number.
    assert text.count("http") == 1
    for element in root.iter():
        for name, value in element.attrib.items():
            if name in {"x", "y", "cx", "cy", "r", "x1", "x2", "y1", "y2", "width", "height"}:
                assert NUMBER.fullmatch(value), (name, value)
            if name == "points":
                for pair in value.split():
                    assert all(NUMBER.fullmatch(n) for n in pair.split(",")), value


# --- sparkline ---------------------------------------------------------------------------

SERIES = [("2024-05-01", 3.0), ("2024-05-02", 0.0), ("2024-05-03", 12.0), ("2024-05-04", 6.0)]


def test_sparkline_shape_and_accessibility() -> None:
    svg = sparkline(SERIES, label="Impressions, 4 days")
    check_safe(svg)
    root = parse(svg)
    width, height = view_box(root)
    assert (width, height) == (160, 36)
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-label"] == "Impressions, 4 days"
    assert root.find(NS + "title") is not None
    assert root.findtext(NS + "title") == "Impressions, 4 days"
    circles = all_of(root, "circle")
    assert len(circles) == 4
    assert [c.findtext(NS + "title") for c in circles] == [
        "2024-05-01: 3",
        "2024-05-02: 0",
        "2024-05-03: 12",
        "2024-05-04: 6",
    ]
    points = polyline_points(root)
    assert len(points) == 4
    assert points == [(float(c.attrib["cx"]), float(c.attrib["cy"])) for c in circles]
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    assert xs == sorted(xs)
    assert len(set(xs)) == 4
    for x, y in points:
        assert 0 <= x <= width
        assert 0 <= y <= height
    # The largest value is highest (smallest y), zero is lowest; order of heights follows values.
    assert ys[2] == min(ys)
    assert ys[1] == max(ys)
    assert ys[2] < ys[3] < ys[0] < ys[1]
    # Proportional: 6 is halfway between the bottom (0) and the top (12).
    assert ys[3] == pytest.approx((ys[1] + ys[2]) / 2, abs=0.1)


def test_sparkline_size() -> None:
    root = parse(sparkline(SERIES, width=300, height=80, label="x"))
    width, height = view_box(root)
    assert (width, height) == (300, 80)
    for x, y in polyline_points(root):
        assert 0 <= x <= 300
        assert 0 <= y <= 80
    xs = [x for x, _ in polyline_points(root)]
    assert xs[-1] - xs[0] > 250  # the line uses the width it gets


def test_sparkline_escapes_every_text() -> None:
    svg = sparkline([(EVIL, 1.0), ("2024-05-02", 2.0)], label=EVIL)
    check_safe(svg)
    text = str(svg)
    assert "<script>" not in text
    assert '"x"' not in text
    assert "'&" not in text
    root = parse(svg)
    assert root.attrib["aria-label"] == EVIL
    assert root.findtext(NS + "title") == EVIL
    assert all_of(root, "circle")[0].findtext(NS + "title") == f"{EVIL}: 1"


def test_sparkline_drops_characters_xml_cannot_hold() -> None:
    svg = sparkline([("d\x00ay\x1b", 1.0)], label="a\x01b\x0bc\ud800")
    root = parse(svg)
    assert root.attrib["aria-label"] == "abc"
    assert all_of(root, "circle")[0].findtext(NS + "title") == "day: 1"


def test_sparkline_empty() -> None:
    svg = sparkline([], label="Nothing yet")
    check_safe(svg)
    root = parse(svg)
    assert not all_of(root, "circle")
    assert not all_of(root, "polyline")
    assert root.attrib["aria-label"] == "Nothing yet"
    assert "no data" in "".join(root.itertext())


def test_sparkline_single_point() -> None:
    root = parse(sparkline([("2024-05-01", 7.0)], label="one"))
    width, height = view_box(root)
    (circle,) = all_of(root, "circle")
    assert not all_of(root, "polyline")
    assert float(circle.attrib["cx"]) == pytest.approx(width / 2, abs=0.1)
    assert 0 <= float(circle.attrib["cy"]) <= height
    assert circle.findtext(NS + "title") == "2024-05-01: 7"


def test_sparkline_all_zero_is_a_flat_line_at_the_bottom() -> None:
    points = [(f"2024-05-0{day}", 0.0) for day in range(1, 8)]
    root = parse(sparkline(points, label="zeros"))
    _, height = view_box(root)
    ys = {y for _, y in polyline_points(root)}
    assert len(ys) == 1
    (y,) = ys
    assert height / 2 < y <= height
    assert len(all_of(root, "circle")) == 7


def test_sparkline_huge_and_odd_values() -> None:
    points: list[tuple[str, float]] = [
        ("a", 1e300),
        ("b", 10**400),  # an int past any float
        ("c", float("nan")),
        ("d", float("inf")),
        ("e", -5.0),
        ("f", 2.5),
        ("g", 123456789012345),
        ("h", 1e20),
    ]
    svg = sparkline(points, label="odd")
    check_safe(svg)
    root = parse(svg)
    width, height = view_box(root)
    for x, y in polyline_points(root):
        assert 0 <= x <= width
        assert 0 <= y <= height
    titles = [c.findtext(NS + "title") for c in all_of(root, "circle")]
    assert titles[0] == "a: 1e+300"
    assert titles[1] is not None
    assert titles[1].startswith("b: ")
    assert len(titles[1]) < 40
    assert titles[2] == "c: nan"
    assert titles[3] == "d: inf"
    assert titles[4] == "e: -5"
    assert titles[5] == "f: 2.5"
    assert titles[6] == "g: 123456789012345"
    assert titles[7] == "h: 1e+20"
    ys = [y for _, y in polyline_points(root)]
    # The int past any float is the highest point; nan, inf and negatives sit at the bottom.
    assert ys[1] == min(ys)
    assert ys[2] == ys[3] == ys[4] == max(ys)


def test_sparkline_is_deterministic() -> None:
    assert sparkline(SERIES, label="x") == sparkline(list(SERIES), label="x")
    assert sparkline(SERIES, label="x") != sparkline(SERIES[:3], label="x")


# --- rate_bars ---------------------------------------------------------------------------

BARS: list[tuple[str, float | None, float | None, float | None]] = [
    ("control", 0.1, 0.08, 0.12),
    ("bold", 0.25, None, None),
    ("new", None, None, None),
]


def bar_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in all_of(root, "g") if g.attrib.get("class") == "bar"]


def rects(group: ET.Element, kind: str) -> list[ET.Element]:
    return [r for r in group.iter(NS + "rect") if r.attrib.get("class") == kind]


def test_rate_bars_shapes() -> None:
    svg = rate_bars(BARS, label="Click-through by arm")
    check_safe(svg)
    root = parse(svg)
    width, height = view_box(root)
    assert width == 240
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-label"] == "Click-through by arm"
    assert root.findtext(NS + "title") == "Click-through by arm"
    groups = bar_groups(root)
    assert len(groups) == 3
    # A track per arm, a filled bar for each arm with a rate, a whisker where the CI is known.
    assert len(all_of(root, "rect")) == 3 + 2
    assert [len(rects(g, "track")) for g in groups] == [1, 1, 1]
    assert [len(rects(g, "fill")) for g in groups] == [1, 1, 0]
    assert [len(list(g.iter(NS + "line"))) for g in groups] == [1, 0, 0]
    texts = ["".join(g.itertext()) for g in groups]
    assert "control" in texts[0]
    assert "10.0%" in texts[0]
    assert "25.0%" in texts[1]
    assert "no data" in texts[2]
    assert groups[0].findtext(NS + "title") == "control: 10.0% (95% CI 8.0% to 12.0%)"
    assert groups[2].findtext(NS + "title") == "new: no data"
    for element in root.iter():
        for name in ("x", "x1", "x2"):
            if name in element.attrib:
                assert 0 <= float(element.attrib[name]) <= width
        for name in ("y", "y1", "y2"):
            if name in element.attrib:
                assert 0 <= float(element.attrib[name]) <= height
        if element.tag == NS + "rect":
            x, w = float(element.attrib["x"]), float(element.attrib["width"])
            y, h = float(element.attrib["y"]), float(element.attrib["height"])
            assert w >= 0
            assert x + w <= width
            assert y + h <= height


def test_rate_bars_lengths_are_proportional() -> None:
    root = parse(rate_bars(BARS, label="x"))
    control, bold, _ = bar_groups(root)
    track = float(rects(control, "track")[0].attrib["width"])
    assert float(rects(control, "fill")[0].attrib["width"]) == pytest.approx(0.1 * track, abs=0.1)
    assert float(rects(bold, "fill")[0].attrib["width"]) == pytest.approx(0.25 * track, abs=0.1)
    (line,) = control.iter(NS + "line")
    x0 = float(rects(control, "track")[0].attrib["x"])
    assert float(line.attrib["x1"]) == pytest.approx(x0 + 0.08 * track, abs=0.1)
    assert float(line.attrib["x2"]) == pytest.approx(x0 + 0.12 * track, abs=0.1)
    assert line.attrib["y1"] == line.attrib["y2"]


def test_rate_bars_height_grows_with_bars() -> None:
    heights = [
        view_box(parse(rate_bars([("a", 0.5, None, None)] * n, label="x")))[1] for n in (1, 2, 5)
    ]
    assert heights[0] < heights[1] < heights[2]
    assert heights[2] - heights[1] == pytest.approx(3 * (heights[1] - heights[0]))
    # Rows do not overlap.
    root = parse(rate_bars([("a", 0.5, None, None)] * 5, label="x"))
    ys = [float(rects(g, "track")[0].attrib["y"]) for g in bar_groups(root)]
    height = float(rects(bar_groups(root)[0], "track")[0].attrib["height"])
    assert all(b - a > height for a, b in itertools.pairwise(ys))


def test_rate_bars_clamp_rates_and_whiskers() -> None:
    bars: list[tuple[str, float | None, float | None, float | None]] = [
        ("over", 1.7, 0.9, 2.5),
        ("under", -0.2, -0.5, 0.1),
        ("swapped", 0.5, 0.6, 0.4),
    ]
    root = parse(rate_bars(bars, width=300, label="x"))
    width, _ = view_box(root)
    assert width == 300
    over, under, swapped = bar_groups(root)
    track = rects(over, "track")[0]
    x0, full = float(track.attrib["x"]), float(track.attrib["width"])
    assert float(rects(over, "fill")[0].attrib["width"]) == full
    assert float(rects(under, "fill")[0].attrib["width"]) == 0
    (line,) = over.iter(NS + "line")
    assert float(line.attrib["x2"]) == pytest.approx(x0 + full)
    (line,) = under.iter(NS + "line")
    assert float(line.attrib["x1"]) == pytest.approx(x0)
    (line,) = swapped.iter(NS + "line")
    assert float(line.attrib["x1"]) < float(line.attrib["x2"])
    # The text still tells the real value.
    assert "170.0%" in "".join(over.itertext())


def test_rate_bars_odd_rates_are_no_data() -> None:
    bars: list[tuple[str, float | None, float | None, float | None]] = [
        ("nan", float("nan"), None, None),
        ("inf", float("inf"), 0.1, 0.2),
        ("half a ci", 0.3, 0.2, None),
    ]
    root = parse(rate_bars(bars, label="x"))
    nan, inf, half = bar_groups(root)
    for group in (nan, inf):
        assert not rects(group, "fill")
        assert not list(group.iter(NS + "line"))
        assert "no data" in "".join(group.itertext())
    assert len(rects(half, "fill")) == 1
    assert not list(half.iter(NS + "line"))


def test_rate_bars_escape_every_text() -> None:
    svg = rate_bars([(EVIL, 0.5, 0.4, 0.6), ('"quoted" & <b>', None, None, None)], label=EVIL)
    check_safe(svg)
    text = str(svg)
    assert "<script>" not in text
    assert "<b>" not in text
    root = parse(svg)
    assert root.attrib["aria-label"] == EVIL
    groups = bar_groups(root)
    assert groups[0].findtext(NS + "title") == f"{EVIL}: 50.0% (95% CI 40.0% to 60.0%)"
    assert EVIL in "".join(groups[0].itertext())
    assert '"quoted" & <b>' in "".join(groups[1].itertext())


def test_rate_bars_long_names_are_cut_but_titled_in_full() -> None:
    name = "Spring sale banner for returning visitors from the newsletter"
    root = parse(rate_bars([(name, 0.5, None, None)], label="x"))
    (group,) = bar_groups(root)
    shown = next(t for t in group.iter(NS + "text") if t.attrib.get("class") == "name").text
    assert shown is not None
    assert shown.endswith("…")
    assert len(shown) < len(name)
    assert group.findtext(NS + "title") == f"{name}: 50.0%"


def test_rate_bars_empty() -> None:
    svg = rate_bars([], label="No arms")
    check_safe(svg)
    root = parse(svg)
    _, height = view_box(root)
    assert height > 0
    assert not all_of(root, "rect")
    assert "no data" in "".join(root.itertext())


def test_rate_bars_are_deterministic() -> None:
    assert rate_bars(BARS, label="x") == rate_bars(list(BARS), label="x")
    assert rate_bars(BARS, label="x") != rate_bars(BARS[:2], label="x")
