"""Inline SVG charts for the reliability page: plain markup, no scripts, no external assets.

Every function returns one `<svg>` element as a string; every text and label in it is escaped here, so the
template inserts the result as is. Each bar carries a `<title>` (the browser shows it on hover).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
FONT = 11
MAX_VALUE_LABELS = 31  # print each bar's total when there are at most this many bars
_AXIS = "#8a8f98"
_GRID = "#e3e6ea"


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float]


@dataclass(frozen=True)
class HBar:
    label: str
    value: float  # the bar's length, relative to the chart's `scale`
    text: str  # what is printed after the bar


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is >= value (at least 1): a round top for the y axis."""
    if value <= 1:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 < value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _svg(height: int, title: str, body: list[str], width: int = WIDTH) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px;height:auto" role="img" aria-label="{escape(title)}" font-family="sans-serif" '
        f'font-size="{FONT}"><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", fill: str = "#333") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}">{escape(text)}</text>'


def stacked_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    height: int = 220,
    label_every: int = 1,
    limit: float | None = None,
    limit_label: str = "",
    y_label: str = "",
    x_label: str = "",
    value_format: str = "{}",
) -> str:
    """Vertical bars, one per label, each stacked from the series (in order, bottom first), with a legend.

    `y_label` / `x_label` name the axes (what is counted, per what); a bar's total is printed above it when
    there are few enough bars to read (`value_format` shapes it, e.g. "${}"). `limit` draws a dashed
    horizontal line (e.g. the hourly API limit) when it fits under the y-axis top.
    """
    left, right, top, bottom = 52, 8, 24, 34 + (14 if x_label else 0)
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    y_max = nice_max(max(totals, default=0))
    body = _y_axis(left, top, plot_w, plot_h, y_max)
    body += _axis_labels(left, top, plot_w, plot_h, y_label, x_label)
    slot = plot_w / max(len(labels), 1)
    bar_w = max(1.0, slot * 0.7)
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        base: float = top + plot_h
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = value / y_max * plot_h
            base -= h
            tip = f"{label}: {s.name} {_number(value)}"
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{s.color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        if totals[i] > 0 and len(labels) <= MAX_VALUE_LABELS:
            shown = value_format.format(_number(totals[i]))
            body.append(_text(left + i * slot + slot / 2, base - 3, shown, "middle"))
        if i % max(label_every, 1) == 0:
            body.append(_text(left + i * slot + slot / 2, top + plot_h + 14, label, "middle", _AXIS))
    if limit is not None and limit <= y_max:
        y = top + plot_h - limit / y_max * plot_h
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c62828" stroke-dasharray="4 3"/>'
        )
        body.append(_text(left + plot_w, y - 3, limit_label, "end", "#c62828"))
    if not any(totals):
        body.append(_text(left + plot_w / 2, top + plot_h / 2, "no data yet", "middle", _AXIS))
    if len(series) > 1:
        body += _legend(series, left, height - 6)
    return _svg(height, title, body)


def _axis_labels(left: int, top: int, plot_w: int, plot_h: int, y_label: str, x_label: str) -> list[str]:
    parts = []
    if y_label:
        y = top + plot_h / 2
        parts.append(
            f'<text x="12" y="{y:.1f}" text-anchor="middle" fill="{_AXIS}" transform="rotate(-90 12 {y:.1f})">'
            f"{escape(y_label)}</text>"
        )
    if x_label:
        parts.append(_text(left + plot_w / 2, top + plot_h + 30, x_label, "middle", _AXIS))
    return parts


def _y_axis(left: int, top: int, plot_w: int, plot_h: int, y_max: float) -> list[str]:
    parts = []
    for fraction in (0, 0.5, 1):
        y = top + plot_h - fraction * plot_h
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>')
        parts.append(_text(left - 4, y + 4, _number(y_max * fraction), "end", _AXIS))
    return parts


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for s in series:
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{s.color}"/>')
        parts.append(_text(x + 14, y, s.name))
        x += 24 + len(s.name) * 6.5
    return parts


def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    color: str,
    height: int = 200,
    y_label: str = "",
    x_label: str = "",
    value_format: str = "{}",
    label_every: int = 1,
) -> str:
    """Single-series vertical bars (a histogram), each with its value printed above it."""
    return stacked_bars(
        title,
        labels,
        [Series(title, color, values)],
        height=height,
        y_label=y_label,
        x_label=x_label,
        value_format=value_format,
        label_every=label_every,
    )


def hbars(
    title: str, rows: Sequence[HBar], color: str | Mapping[str, str], scale: float | None = None
) -> str:
    """Horizontal bars with the label on the left and `text` after the bar; `scale` is the full length
    (default: the largest value). `color` may map a label to its colour."""
    label_w, text_w, row_h = 150, 120, 26
    height = max(1, len(rows)) * row_h + 8
    plot_w = WIDTH - label_w - text_w
    full = scale if scale else max((r.value for r in rows), default=0) or 1
    body: list[str] = []
    if not rows:
        body.append(_text(WIDTH / 2, 20, "no data yet", "middle", _AXIS))
    for i, row in enumerate(rows):
        y = 4 + i * row_h
        length = max(0.0, min(row.value / full, 1.0)) * plot_w
        fill = color.get(row.label, _AXIS) if isinstance(color, Mapping) else color
        body.append(_text(label_w - 6, y + 16, row.label, "end"))
        body.append(f'<rect x="{label_w}" y="{y + 4}" width="{plot_w}" height="{row_h - 8}" fill="{_GRID}"/>')
        body.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" fill="{fill}">'
            f"<title>{escape(row.label)}: {escape(row.text)}</title></rect>"
        )
        body.append(_text(label_w + plot_w + 6, y + 16, row.text))
    return _svg(height, title, body)


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
