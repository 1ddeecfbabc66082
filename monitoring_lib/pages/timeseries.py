"""A model's history as one static page, for teams without Grafana.

Drift share and per-column drift over time, quality with its 95% intervals, the policy's
decisions and the retrain/rollback actions on a timeline, and row counts: inline SVG drawn here,
no script, no network, so the page opens the same from a file, ``driftwise ui`` or an object
store. Every name and value from the store is escaped (``pages.html.text``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitoring_lib.pages.html import text

PAGE_NAME = "timeseries.html"
"""The page's file name in a model's reports folder, beside its window reports."""

STATUS_COLOURS = {"red": "#c62828", "amber": "#ef8f00", "green": "#2e7d32"}
DECISION_COLOURS = {"alert": "#ef8f00", "retrain": "#6a1b9a", "rollback": "#c62828"}
SERIES_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e")


@dataclass(frozen=True)
class WindowPoint:
    """One stored window, as the page shows it."""

    label: str
    status: str
    rows: int | None
    drift_share: float | None
    decision: str = "none"
    reasons: Sequence[str] = ()
    label_coverage: float | None = None
    report_href: str | None = None


@dataclass(frozen=True)
class Series:
    """One quality metric per window, with its interval where stored."""

    name: str
    values: Sequence[float | None]
    lower: Sequence[float | None]
    upper: Sequence[float | None]


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    scores: Sequence[float | None]
    drifted: Sequence[bool]


@dataclass(frozen=True)
class Event:
    """A retrain or rollback action at the window ``index``."""

    index: int
    kind: str
    status: str
    text: str


@dataclass(frozen=True)
class ModelHistory:
    model: str
    generated_at: str
    windows: Sequence[WindowPoint]
    columns: Sequence[ColumnDrift] = ()
    quality: Sequence[Series] = ()
    events: Sequence[Event] = ()
    drift_share_threshold: float | None = None
    notes: Sequence[str] = field(default_factory=tuple)


# --- drawing ------------------------------------------------------------------------------------

WIDTH, LEFT, RIGHT, TOP = 960, 136, 16, 12


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


class _Axis:
    """Window index to x, value to y, for one chart."""

    def __init__(self, count: int, low: float, high: float, height: int) -> None:
        self.count, self.height = max(count, 1), height
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        self.low, self.high = low, high

    def x(self, index: int) -> float:
        step = (WIDTH - LEFT - RIGHT) / self.count
        return LEFT + step * (index + 0.5)

    def y(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return TOP + (1 - share) * (self.height - TOP - 24)

    def frame(self, labels: Sequence[str], *, values: bool = True) -> list[str]:
        bottom = self.height - 24
        parts = [
            f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" class="axis"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" class="axis"/>',
        ]
        for value in (self.low, (self.low + self.high) / 2, self.high) if values else ():
            y = self.y(value)
            parts.append(
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" '
                f'text-anchor="end">{value:.3g}</text>'
            )
        every = max(1, math.ceil(len(labels) / 10))
        for index, label in enumerate(labels):
            if index % every == 0:
                parts.append(
                    f'<text x="{self.x(index):.1f}" y="{bottom + 16}" class="tick" '
                    f'text-anchor="middle">{text(label[:10])}</text>'
                )
        return parts


def _svg(height: int, parts: Sequence[str], title: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{text(title)}">{"".join(parts)}</svg>'
    )


def _polyline(axis: _Axis, values: Sequence[float | None], colour: str) -> list[str]:
    """Line segments between consecutive finite values (gaps stay gaps)."""
    parts, run = [], []
    for index, value in enumerate([*values, None]):
        if value is not None and math.isfinite(value):
            run.append(f"{axis.x(index):.1f},{axis.y(value):.1f}")
            continue
        if len(run) > 1:
            parts.append(
                f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        run = []
    return parts


def _band(
    axis: _Axis, lower: Sequence[float | None], upper: Sequence[float | None], colour: str
) -> list[str]:
    parts = []
    for index, (low, high) in enumerate(zip(lower, upper, strict=False)):
        if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
            continue
        x, top, bottom = axis.x(index), axis.y(high), axis.y(low)
        parts.append(
            f'<rect x="{x - 3:.1f}" y="{top:.1f}" width="6" '
            f'height="{max(bottom - top, 1):.1f}" fill="{colour}" opacity="0.18"/>'
        )
    return parts


def drift_share_chart(history: ModelHistory) -> str:
    windows = history.windows
    shares = [w.drift_share for w in windows]
    threshold = history.drift_share_threshold
    high = max([*_finite(shares), threshold or 0.0, 0.5])
    axis = _Axis(len(windows), 0.0, min(1.0, high * 1.1), 220)
    parts = axis.frame([w.label for w in windows])
    if threshold is not None:
        y = axis.y(threshold)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'class="threshold"><title>rule threshold {threshold:g}</title></line>'
        )
    parts += _polyline(axis, shares, "#37474f")
    for index, window in enumerate(windows):
        if window.drift_share is None or not math.isfinite(window.drift_share):
            continue
        colour = STATUS_COLOURS.get(window.status, "#888")
        parts.append(
            f'<circle cx="{axis.x(index):.1f}" cy="{axis.y(window.drift_share):.1f}" r="4" '
            f'fill="{colour}" class="point"><title>{text(window.label)}: drift share '
            f"{window.drift_share:.3f}, status {text(window.status)}</title></circle>"
        )
    return _svg(220, parts, "drift share over time")


def column_heatmap(history: ModelHistory) -> str:
    columns, count = history.columns, len(history.windows)
    if not columns:
        return "<p>No per-column drift stored.</p>"
    row, top = 18, 4
    height = top + row * len(columns) + 28
    axis = _Axis(count, 0, 1, height)
    step = (WIDTH - LEFT - RIGHT) / max(count, 1)
    parts = []
    for line, column in enumerate(columns):
        y = top + line * row
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 13}" class="tick" text-anchor="end">'
            f"{text(column.column[:24])}</text>"
        )
        for index, (score, drifted) in enumerate(zip(column.scores, column.drifted, strict=False)):
            if score is None or not math.isfinite(score):
                continue
            fill = "#c62828" if drifted else "#cfd8dc"
            shown = f"{score:.4g}"
            parts.append(
                f'<rect x="{LEFT + index * step + 0.5:.1f}" y="{y}" width="{max(step - 1, 1):.1f}" '
                f'height="{row - 2}" fill="{fill}" class="cell"><title>'
                f"{text(column.column)} {text(history.windows[index].label)}: score {shown}"
                f"{' (drift)' if drifted else ''}</title></rect>"
            )
    bottom = top + row * len(columns) + 16
    every = max(1, math.ceil(count / 10))
    for index, window in enumerate(history.windows):
        if index % every == 0:
            parts.append(
                f'<text x="{axis.x(index):.1f}" y="{bottom}" class="tick" '
                f'text-anchor="middle">{text(window.label[:10])}</text>'
            )
    return _svg(height, parts, "per-column drift")


def quality_chart(history: ModelHistory, series: Series, colour: str) -> str:
    values = [*_finite(series.values), *_finite(series.lower), *_finite(series.upper)]
    if not values:
        return ""
    axis = _Axis(len(history.windows), min(values), max(values), 180)
    parts = axis.frame([w.label for w in history.windows])
    parts += _band(axis, series.lower, series.upper, colour)
    parts += _polyline(axis, series.values, colour)
    for index, value in enumerate(series.values):
        if value is None or not math.isfinite(value):
            continue
        low, high = series.lower[index], series.upper[index]
        interval = f" (95% {low:.3f} to {high:.3f})" if low is not None and high is not None else ""
        parts.append(
            f'<circle cx="{axis.x(index):.1f}" cy="{axis.y(value):.1f}" r="3" fill="{colour}">'
            f"<title>{text(history.windows[index].label)}: {text(series.name)} {value:.4f}"
            f"{interval}</title></circle>"
        )
    return f"<h3>{text(series.name)}</h3>" + _svg(180, parts, series.name)


def timeline(history: ModelHistory) -> str:
    windows = history.windows
    axis = _Axis(len(windows), 0, 1, 96)
    parts = axis.frame([w.label for w in windows], values=False)
    for index, window in enumerate(windows):
        colour = DECISION_COLOURS.get(window.decision)
        if colour is None:
            continue
        why = "; ".join(window.reasons)
        parts.append(
            f'<rect x="{axis.x(index) - 5:.1f}" y="14" width="10" height="18" fill="{colour}" '
            f'class="decision"><title>{text(window.label)}: {text(window.decision)}'
            f"{' - ' + text(why) if why else ''}</title></rect>"
        )
    for event in history.events:
        colour = "#2e7d32" if event.status in ("promoted", "rolled_back") else "#546e7a"
        parts.append(
            f'<circle cx="{axis.x(event.index):.1f}" cy="52" r="7" fill="{colour}" class="event">'
            f"<title>{text(event.kind)} {text(event.status)}: {text(event.text)}</title></circle>"
        )
    parts.append(f'<text x="{LEFT - 6}" y="28" class="tick" text-anchor="end">decision</text>')
    parts.append(f'<text x="{LEFT - 6}" y="56" class="tick" text-anchor="end">action</text>')
    return _svg(96, parts, "decisions and actions")


def rows_chart(history: ModelHistory) -> str:
    windows = history.windows
    rows = [float(w.rows) if w.rows is not None else None for w in windows]
    axis = _Axis(len(windows), 0.0, max([*_finite(rows), 1.0]), 160)
    parts = axis.frame([w.label for w in windows])
    step = (WIDTH - LEFT - RIGHT) / max(len(windows), 1)
    for index, value in enumerate(rows):
        if value is None:
            continue
        top = axis.y(value)
        parts.append(
            f'<rect x="{axis.x(index) - step * 0.35:.1f}" y="{top:.1f}" '
            f'width="{step * 0.7:.1f}" height="{max(axis.y(0) - top, 0):.1f}" fill="#78909c">'
            f"<title>{text(windows[index].label)}: {int(value)} rows</title></rect>"
        )
    return _svg(160, parts, "row counts")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; } h3 { font-size: 14px; }
.axis { stroke: #999; } .tick { font-size: 11px; fill: #555; }
.threshold { stroke: #c62828; stroke-dasharray: 4 3; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 8px; text-align: left; }
tr:nth-child(even) { background: #f4f4f4; } .red { color: #c62828; font-weight: bold; }
.amber { color: #ef8f00; font-weight: bold; } .green { color: #2e7d32; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
"""


def _window_table(history: ModelHistory, last: int = 60) -> str:
    rows = []
    for window in list(history.windows)[-last:][::-1]:
        share = "—" if window.drift_share is None else f"{window.drift_share:.3f}"
        report = f'<a href="{text(window.report_href)}">report</a>' if window.report_href else ""
        status = window.status if window.status in STATUS_COLOURS else ""
        rows.append(
            f'<tr><td>{text(window.label)}</td><td class="{status}">{text(window.status)}</td>'
            f"<td>{window.rows if window.rows is not None else '—'}</td><td>{share}</td>"
            f"<td>{text(window.decision)}</td><td>{text('; '.join(window.reasons))}</td>"
            f"<td>{report}</td></tr>"
        )
    head = (
        "<tr><th>window</th><th>status</th><th>rows</th><th>drift share</th>"
        "<th>decision</th><th>why</th><th></th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def history_page(history: ModelHistory) -> str:
    """The whole page; every value escaped, no script."""
    windows = history.windows
    if not windows:
        body = "<p>No stored windows yet.</p>"
    else:
        quality = (
            "".join(
                quality_chart(history, s, SERIES_COLOURS[i % len(SERIES_COLOURS)])
                for i, s in enumerate(history.quality)
            )
            or "<p>No quality stored (no labels yet).</p>"
        )
        legend = "".join(
            f'<span style="color:{c}">&#9632; {name}</span>'
            for name, c in (*STATUS_COLOURS.items(), *DECISION_COLOURS.items())
        )
        body = (
            f'<p class="legend">{legend}</p>'
            f"<h2>Drift share</h2>{drift_share_chart(history)}"
            f"<h2>Per-column drift (red: drifted)</h2>{column_heatmap(history)}"
            f"<h2>Quality (band: 95% interval)</h2>{quality}"
            f"<h2>Decisions and actions</h2>{timeline(history)}"
            f"<h2>Rows per window</h2>{rows_chart(history)}"
            f"<h2>Windows</h2>{_window_table(history)}"
        )
    notes = "".join(f"<p><small>{text(note)}</small></p>" for note in history.notes)
    span = f"{windows[0].label} to {windows[-1].label}" if windows else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{text(history.model)}: driftwise history</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{text(history.model)}: {len(windows)} windows {text(span)}</h1>
<p><small>Generated {text(history.generated_at)} from the metric store.</small></p>
{body}
{notes}
</body>
</html>
"""
