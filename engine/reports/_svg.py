"""Inline SVG charts for the HTML report: bars, a funnel, ranges and grouped columns.

Each function returns a ``<figure>`` with the title as its caption and the chart as SVG.
Plain SVG text, no script and no external resources, so a saved page reads offline and in any
browser. Every chart is ``<svg class="chart" data-chart="ID">`` and every mark carries
``class="bar"`` (or ``range``), ``data-label``/``data-value`` and a ``<title>`` tooltip, which
the tests (and screen readers) read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["PALETTE", "columns", "fmt", "funnel", "hbars", "ranges"]

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b")
WIDTH = 760
_FONT = 'font-family="system-ui, sans-serif" font-size="13"'


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for people: thousands separated, few decimals, ``-`` for None."""
    if value is None:
        return "-"
    if isinstance(value, int) or abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _open(chart_id: str, title: str, height: float) -> list[str]:
    t = escape(title)
    return [
        f"<figure><figcaption>{t}</figcaption>",
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(chart_id)}" '
        f'role="img" aria-label="{t}" width="{WIDTH}" height="{math.ceil(height)}" '
        f'viewBox="0 0 {WIDTH} {math.ceil(height)}" {_FONT}>',
        f"<title>{t}</title>",
    ]


def _mark(kind: str, label: str, value: float, tip: str, **attrs: float | str) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    return (
        f'<rect class="{kind}" data-label="{escape(label)}" data-value="{value:g}" {extra}>'
        f"<title>{escape(tip)}</title></rect>"
    )


def hbars(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, float, str]],
    *,
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars: ``(label, value, text shown after the bar)`` per item."""
    label_w, row_h, top = 190, 26, 8
    out = _open(chart_id, title, top * 2 + row_h * max(1, len(items)))
    top_value = max([v for _, v, _ in items] + [0]) or 1.0
    span = WIDTH - label_w - 290
    for k, (label, value, text) in enumerate(items):
        y = top + k * row_h
        w = max(0.0, value) / top_value * span
        out.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>')
        out.append(
            _mark(
                "bar",
                label,
                value,
                f"{label}: {text}",
                x=label_w,
                y=y + 4,
                width=f"{w:.1f}",
                height=row_h - 8,
                fill=color,
                rx=3,
            )
        )
        out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 17}">{escape(text)}</text>')
    if not items:
        out.append(f'<text x="{label_w}" y="{top + 17}" fill="#64748b">no data</text>')
    out.append("</svg></figure>")
    return "".join(out)


def funnel(chart_id: str, title: str, stages: Sequence[tuple[str, int]]) -> str:
    """A centred funnel: one bar per stage, its width the leads that reached it, with the
    conversion from the stage before between the bars."""
    row_h, gap, top = 30, 18, 8
    out = _open(chart_id, title, top * 2 + (row_h + gap) * max(1, len(stages)))
    first = stages[0][1] if stages and stages[0][1] else 1
    centre, span = WIDTH / 2 + 60, WIDTH - 260
    for k, (label, count) in enumerate(stages):
        y = top + k * (row_h + gap)
        w = max(2.0, count / first * span)
        color = PALETTE[k % len(PALETTE)]
        if k:
            prev = stages[k - 1][1]
            conv = f"{count / prev:.0%} of {stages[k - 1][0]}" if prev else "-"
            out.append(
                f'<text x="{centre}" y="{y - 4}" text-anchor="middle" fill="#475569" '
                f'font-size="11">&#8595; {escape(conv)}</text>'
            )
        out.append(f'<text x="8" y="{y + 20}">{escape(label)}</text>')
        out.append(
            _mark(
                "bar",
                label,
                count,
                f"{label}: {count:,} leads",
                x=f"{centre - w / 2:.1f}",
                y=y,
                width=f"{w:.1f}",
                height=row_h,
                fill=color,
                rx=3,
            )
        )
        out.append(
            f'<text x="{centre}" y="{y + 20}" text-anchor="middle" fill="#fff" '
            f'font-weight="600">{count:,}</text>'
        )
    out.append("</svg></figure>")
    return "".join(out)


def ranges(
    chart_id: str, title: str, items: Sequence[tuple[str, float | None, float | None]]
) -> str:
    """Per item a bar to the median and a whisker on to the 90th percentile (in days)."""
    label_w, row_h, top, axis = 190, 28, 8, 22
    out = _open(chart_id, title, top * 2 + row_h * max(1, len(items)) + axis)
    top_value = max([p or 0 for _, _, p in items] + [0]) or 1.0
    span = WIDTH - label_w - 170
    for k, (label, median, p90) in enumerate(items):
        y = top + k * row_h
        out.append(f'<text x="{label_w - 8}" y="{y + 18}" text-anchor="end">{escape(label)}</text>')
        if median is None or p90 is None:
            out.append(f'<text x="{label_w}" y="{y + 18}" fill="#64748b">no visits</text>')
            continue
        wm, wp = median / top_value * span, p90 / top_value * span
        out.append(
            f'<line class="whisker" x1="{label_w + wm:.1f}" x2="{label_w + wp:.1f}" '
            f'y1="{y + 14}" y2="{y + 14}" stroke="{PALETTE[1]}" stroke-width="3"/>'
            f'<line x1="{label_w + wp:.1f}" x2="{label_w + wp:.1f}" y1="{y + 7}" y2="{y + 21}" '
            f'stroke="{PALETTE[1]}" stroke-width="3"/>'
        )
        out.append(
            _mark(
                "bar",
                label,
                median,
                f"{label}: median {fmt(median)} d, p90 {fmt(p90)} d",
                x=label_w,
                y=y + 6,
                width=f"{wm:.1f}",
                height=16,
                fill=PALETTE[0],
                rx=3,
            )
        )
        out.append(
            f'<text x="{label_w + wp + 8:.1f}" y="{y + 18}">{fmt(median)} d / {fmt(p90)} d</text>'
        )
    y = top + row_h * max(1, len(items)) + 14
    out.append(
        f'<rect x="{label_w}" y="{y - 9}" width="12" height="10" fill="{PALETTE[0]}"/>'
        f'<text x="{label_w + 16}" y="{y}">median</text>'
        f'<rect x="{label_w + 80}" y="{y - 6}" width="12" height="3" fill="{PALETTE[1]}"/>'
        f'<text x="{label_w + 96}" y="{y}">to 90th percentile (days)</text>'
    )
    out.append("</svg></figure>")
    return "".join(out)


def columns(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
) -> str:
    """Grouped vertical columns: one group per category, one column per series, a legend."""
    height, left, bottom, top = 260, 70, 40, 26
    out = _open(chart_id, title, height)
    plot_h = height - bottom - top
    top_value = max([v for _, vs in series for v in vs] + [0]) or 1.0
    group_w = (WIDTH - left - 10) / max(1, len(categories))
    col_w = min(36.0, group_w * 0.8 / max(1, len(series)))
    for tick in range(5):
        v = top_value * tick / 4
        y = top + plot_h - plot_h * tick / 4
        out.append(
            f'<line x1="{left}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#475569" '
            f'font-size="11">{fmt(v, 1)}</text>'
        )
    for g, category in enumerate(categories):
        x0 = left + g * group_w + (group_w - col_w * len(series)) / 2
        for s, (name, values) in enumerate(series):
            v = max(0.0, values[g])
            h = v / top_value * plot_h
            out.append(
                _mark(
                    "bar",
                    f"{name} {category}",
                    v,
                    f"{name}, {category}: {fmt(v, 2)}",
                    x=f"{x0 + s * col_w:.1f}",
                    y=f"{top + plot_h - h:.1f}",
                    width=f"{col_w - 2:.1f}",
                    height=f"{h:.1f}",
                    fill=PALETTE[s % len(PALETTE)],
                    data_series=name,
                )
            )
        out.append(
            f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle" font-size="11">{escape(category)}</text>'
        )
    for s, (name, _) in enumerate(series):
        x = left + s * 140
        out.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>'
            f'<text x="{x + 16}" y="16">{escape(name)}</text>'
        )
    out.append("</svg></figure>")
    return "".join(out)
