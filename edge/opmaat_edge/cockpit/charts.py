"""Small server-rendered inline SVG charts for the cockpit: a sparkline of a daily series and
horizontal bars of a rate per arm.

No JavaScript and no external resources: plain shapes coloured with currentColor (the page's
CSS can restyle them through their classes). Every text comes escaped, since labels and arm
names are a marketer's. Coordinates carry at most one decimal, so the same input always gives
the same bytes.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

from opmaat_edge.cockpit.report import percent

__all__ = ["rate_bars", "sparkline"]

# Characters XML 1.0 does not allow anywhere, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Sparkline: room around the line for the points' circles.
_PAD = 3.0
_DOT = 1.5
# Rate bars: a row is the arm's name over its bar, the rate at the bar's right end.
_ROW = 30.0
_NAME_Y = 11.0
_BAR_Y = 15.0
_BAR_H = 10.0
_VALUE_W = 48.0
_MAX_NAME = 40


def _text(value: object) -> str:
    """Text safe inside an element or a double-quoted attribute."""
    return str(escape(_NOT_XML.sub("", str(value))))


def _num(value: float) -> str:
    """A coordinate with at most one decimal: 12, 12.5, never -0 or 1e+20."""
    if not math.isfinite(value):
        value = 0.0
    text = f"{round(value, 1):.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past any float
        return sys.float_info.max if value > 0 else -sys.float_info.max
    return number if math.isfinite(number) else None


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _show(value: float) -> str:
    """A value as a reader sees it: 12, 12.5, 1.2e+30."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**15:
        return str(value)
    number = _finite(value)
    if number is None:
        return str(value)  # nan, inf
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if abs(number) == sys.float_info.max and isinstance(value, int):
        return "more than 1e+308" if value > 0 else "less than -1e+308"
    return f"{number:.6g}"


def _svg(width: float, height: float, label: str, body: Iterable[str], kind: str) -> Markup:
    text = _text(label)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{kind}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" width="{_num(width)}" '
        f'height="{_num(height)}" role="img" aria-label="{text}">'
        f"<title>{text}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def sparkline(
    points: Sequence[tuple[str, float]],
    *,
    width: float = 160,
    height: float = 36,
    label: str,
) -> Markup:
    """A daily series as a line with a dot per day (hover: "day: value"). Values are scaled
    to the largest; negative or non-finite values sit at the bottom, as do all-zero series."""
    width = max(float(width), 4 * _PAD)
    height = max(float(height), 4 * _PAD)
    left, right = _PAD, width - _PAD
    top, bottom = _PAD, height - _PAD
    values = [max(0.0, _finite(value) or 0.0) for _, value in points]
    peak = max(values, default=0.0)
    body: list[str] = []
    if not points:
        body.append(
            f'<text class="empty" x="{_num(width / 2)}" y="{_num(height / 2 + 4)}" '
            'text-anchor="middle" font-size="10" fill="currentColor">no data</text>'
        )
        return _svg(width, height, label, body, "sparkline")
    coordinates: list[tuple[str, str]] = []
    for index, scaled in enumerate(values):
        x = (
            (left + right) / 2
            if len(values) == 1
            else left + (right - left) * index / (len(values) - 1)
        )
        y = bottom - (bottom - top) * (scaled / peak if peak > 0 else 0.0)
        coordinates.append((_num(x), _num(y)))
    if len(coordinates) > 1:
        line = " ".join(f"{x},{y}" for x, y in coordinates)
        body.append(
            f'<polyline points="{line}" fill="none" stroke="currentColor" '
            'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>'
        )
    for (day, raw), (cx, cy) in zip(points, coordinates, strict=True):
        body.append(
            f'<circle cx="{cx}" cy="{cy}" r="{_num(_DOT)}" fill="currentColor">'
            f"<title>{_text(day)}: {_text(_show(raw))}</title></circle>"
        )
    return _svg(width, height, label, body, "sparkline")


def rate_bars(
    bars: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    width: float = 240,
    label: str,
) -> Markup:
    """A horizontal bar per arm (name, rate, ci_low, ci_high) on a 0-100% scale, with a
    whisker over the confidence interval when both ends are given. Rates outside [0, 1] are
    drawn clamped (the text says the real value); no rate draws an empty bar and "no data"."""
    width = max(float(width), _VALUE_W + 4 * _PAD)
    track = width - 2 * _PAD - _VALUE_W
    rows = max(1, len(bars))
    height = rows * _ROW + _PAD
    body: list[str] = []
    if not bars:
        body.append(
            f'<text class="empty" x="{_num(_PAD)}" y="{_num(_BAR_Y + _BAR_H / 2)}" '
            'font-size="11" fill="currentColor">no data</text>'
        )
    for index, (name, rate, ci_low, ci_high) in enumerate(bars):
        top = index * _ROW + _PAD
        shown = str(name)
        if len(shown) > _MAX_NAME:
            shown = shown[: _MAX_NAME - 1] + "…"
        value = _finite(rate)
        low, high = _finite(ci_low), _finite(ci_high)
        summary = f"{name}: no data"
        if value is not None:
            summary = f"{name}: {percent(value)}"
            if low is not None and high is not None:
                summary += f" (95% CI {percent(min(low, high))} to {percent(max(low, high))})"
        bar_y = top + _BAR_Y
        parts = [
            f'<g class="bar"><title>{_text(summary)}</title>',
            f'<text class="name" x="{_num(_PAD)}" y="{_num(top + _NAME_Y)}" font-size="11" '
            f'fill="currentColor">{_text(shown)}</text>',
            f'<rect class="track" x="{_num(_PAD)}" y="{_num(bar_y)}" width="{_num(track)}" '
            f'height="{_num(_BAR_H)}" fill="currentColor" fill-opacity="0.12"/>',
        ]
        if value is not None:
            filled = track * _clamp(value, 0.0, 1.0)
            parts.append(
                f'<rect class="fill" x="{_num(_PAD)}" y="{_num(bar_y)}" width="{_num(filled)}" '
                f'height="{_num(_BAR_H)}" fill="currentColor" fill-opacity="0.6"/>'
            )
            if low is not None and high is not None:
                x1 = _PAD + track * _clamp(min(low, high), 0.0, 1.0)
                x2 = _PAD + track * _clamp(max(low, high), 0.0, 1.0)
                middle = bar_y + _BAR_H / 2
                parts.append(
                    f'<line class="ci" x1="{_num(x1)}" y1="{_num(middle)}" x2="{_num(x2)}" '
                    f'y2="{_num(middle)}" stroke="currentColor" stroke-width="1.5"/>'
                )
        parts.append(
            f'<text class="value" x="{_num(width - _PAD)}" y="{_num(bar_y + _BAR_H - 1)}" '
            f'text-anchor="end" font-size="11" fill="currentColor">'
            f"{_text(percent(value) if value is not None else 'no data')}</text></g>"
        )
        body.extend(parts)
    return _svg(width, height, label, body, "rate-bars")
