"""Server-rendered SVG: a bar chart and a timeline of holding intervals. No script, no
style attribute (the Content-Security-Policy allows neither inline): colours come from
classes in console.css."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from markupsafe import Markup, escape


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str) -> Markup:
    """Horizontal bars, one per label; negative values run left of the axis."""
    row, label_width, width = 26, 180, 640
    height = row * len(labels) + 30
    lo, hi = min([0.0, *values]), max([0.0, *values])
    span = (hi - lo) or 1.0
    plot = width - label_width - 60

    def x(value: float) -> float:
        return label_width + (value - lo) / span * plot

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" y2="{height - 20}"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 8 + i * row
        left, right = sorted((x(0), x(value)))
        kind = "bar" if value >= 0 else "bar negative"
        parts.append(
            f'<text class="label" x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="{kind}" x="{left:.1f}" y="{y}" width="{max(right - left, 1):.1f}" '
            f'height="{row - 8}"/>'
            f'<text class="value" x="{right + 4:.1f}" y="{y + 15}">{value:g}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def intervals_timeline(
    rows: Sequence[tuple[str, str, datetime, datetime | None]],
    churn_at: datetime,
    lookback_days: int,
    labels: dict[str, str],
) -> Markup:
    """One lane per (role, staff) holding: `[from, to)` bars from the first holding to a
    little past the churn, the lookback window shaded and the churn marked."""
    if not rows:
        return Markup("")
    lane, label_width, width = 26, 220, 760
    start = min(r[2] for r in rows)
    lookback_start = churn_at - timedelta(days=lookback_days)
    start = min(start, lookback_start)
    end = churn_at + max((churn_at - start) * 0.05, timedelta(days=3))
    span = (end - start).total_seconds() or 1.0
    plot = width - label_width - 20
    height = lane * len(rows) + 40

    def x(moment: datetime) -> float:
        return label_width + (min(moment, end) - start).total_seconds() / span * plot

    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(labels["title"])}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(labels['title'])}</title>",
        f'<rect class="lookback" x="{x(lookback_start):.1f}" y="0" '
        f'width="{x(churn_at) - x(lookback_start):.1f}" height="{height - 20}"/>',
    ]
    for i, (role, staff_id, begin, finish) in enumerate(rows):
        y = 6 + i * lane
        left, right = x(begin), x(finish or end)
        parts.append(
            f'<text class="label" x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(role)} · {escape(staff_id)}</text>"
            f'<rect class="interval{" open" if finish is None else ""}" x="{left:.1f}" '
            f'y="{y}" width="{max(right - left, 2):.1f}" height="{lane - 8}"/>'
        )
    cx = x(churn_at)
    parts.append(
        f'<line class="churn" x1="{cx:.1f}" y1="0" x2="{cx:.1f}" y2="{height - 20}"/>'
        f'<text class="label" x="{cx:.1f}" y="{height - 6}" text-anchor="middle">'
        f"{escape(labels['churn'])} {churn_at.date().isoformat()}</text>"
        f'<text class="label" x="{label_width}" y="{height - 6}">'
        f"{start.date().isoformat()}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))
