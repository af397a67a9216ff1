"""The report's charts as inline SVG (no script, no network): the tasks' timeline per node, a
histogram of task durations, and a heat map of a 2-D result.

Sizes stay bounded whatever the job's size: past ``DETAILED_RUNS`` tasks the timeline shows
each node's occupancy over time (how many of its tasks ran, per time bin) instead of one bar
per task, and a heat map larger than ``MAX_CELLS`` a side is shown at a stride.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from html import escape

from superbatch.backends.reports import TaskRun

DETAILED_RUNS = 2000
OCCUPANCY_BINS = 160
MAX_CELLS = 120
WIDTH = 900
LANE = 14
LEFT = 120
COLORS = {"success": "#2e7d32", "failure": "#c62828", "running": "#1565c0", "active": "#9e9e9e"}
# viridis at five stops, interpolated linearly
RAMP = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]


def seconds(value: float) -> str:
    """A duration as people read it: 0.42 s, 12.3 s, 4 min 5 s, 2 h 3 min."""
    if value < 10:
        return f"{value:.2g} s" if value < 1 else f"{value:.1f} s"
    if value < 600:
        return f"{value:.0f} s" if value < 60 else f"{int(value // 60)} min {int(value % 60)} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{int(value // 3600)} h {int(value % 3600 // 60)} min"


def timeline(runs: Sequence[TaskRun], now: float) -> str:
    """Tasks per node over time: a bar per task (its lane: the first free one on its node),
    or each node's occupancy when there are many tasks."""
    started = [r for r in runs if r.start is not None]
    if not started:
        return "<p>No task has started yet.</p>"
    t0 = min(r.start for r in started if r.start is not None)
    t1 = max((r.end if r.end is not None else now) for r in started)
    span = max(t1 - t0, 1e-6)
    scale = (WIDTH - LEFT - 10) / span
    by_node: dict[str, list[TaskRun]] = defaultdict(list)
    for run in started:
        by_node[run.node].append(run)
    parts: list[str] = []
    y = 4
    detailed = len(started) <= DETAILED_RUNS
    for node in sorted(by_node):
        node_runs = sorted(by_node[node], key=lambda r: r.start or 0.0)
        if detailed:
            lanes = _lanes(node_runs, now)
            height = LANE * max(lanes.values(), default=0) + LANE
            parts.append(_label(node, y + height / 2))
            for run in node_runs:
                start = run.start or 0.0  # every run here has started
                end = run.end if run.end is not None else now
                x = LEFT + (start - t0) * scale
                w = max((end - start) * scale, 1.0)
                tip = f"{run.task_id}: {run.result}, {seconds(end - start)}"
                if run.exit_code is not None:
                    tip += f", exit {run.exit_code}"
                if run.retries:
                    tip += f", {run.retries} retries"
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + LANE * lanes[run.task_id]}" width="{w:.1f}" '
                    f'height="{LANE - 2}" fill="{COLORS.get(run.result, "#777")}">'
                    f"<title>{escape(tip)}</title></rect>"
                )
        else:
            height = LANE * 2
            parts.append(_label(node, y + height / 2))
            parts.extend(_occupancy(node_runs, t0, span, scale, y, height, now))
        y += height + 4
    axis = (
        f'<text x="{LEFT}" y="{y + 12}" class="tick">0</text>'
        f'<text x="{WIDTH - 10}" y="{y + 12}" class="tick" text-anchor="end">'
        f"{escape(seconds(span))}</text>"
    )
    return (
        f'<svg class="chart" width="{WIDTH}" height="{y + 18}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}{axis}</svg>'
    )


def _lanes(runs: list[TaskRun], now: float) -> dict[str, int]:
    """Each run's lane on its node: the first lane free when it starts."""
    ends: list[float] = []
    lanes = {}
    for run in runs:
        lane = next((i for i, end in enumerate(ends) if end <= (run.start or 0.0)), len(ends))
        if lane == len(ends):
            ends.append(0.0)
        ends[lane] = run.end if run.end is not None else now
        lanes[run.task_id] = lane
    return lanes


def _occupancy(runs, t0, span, scale, y, height, now) -> list[str]:
    """Per time bin, how busy the node was (task-seconds over the busiest bin's)."""
    width = span / OCCUPANCY_BINS
    busy = [0.0] * OCCUPANCY_BINS
    for run in runs:
        start, end = run.start - t0, (run.end if run.end is not None else now) - t0
        first, last = int(start / width), min(int(end / width), OCCUPANCY_BINS - 1)
        for b in range(min(first, OCCUPANCY_BINS - 1), last + 1):
            lo, hi = max(start, b * width), min(end, (b + 1) * width)
            busy[b] += max(0.0, hi - lo)
    top = max(busy) or 1.0
    out = []
    for b, value in enumerate(busy):
        if value > 0:
            out.append(
                f'<rect x="{LEFT + b * width * scale:.1f}" y="{y}" width="{width * scale + 0.5:.1f}" '
                f'height="{height - 2}" fill="#1565c0" fill-opacity="{0.15 + 0.85 * value / top:.2f}"/>'
            )
    return out


def _label(text: str, y: float) -> str:
    short = text if len(text) <= 18 else text[:8] + "..." + text[-7:]
    return (
        f'<text x="{LEFT - 6}" y="{y + 4:.0f}" text-anchor="end" class="node">'
        f"<title>{escape(text)}</title>{escape(short)}</text>"
    )


def histogram(durations: Sequence[float], bins: int = 30) -> str:
    """Task durations in equal-width bins, the count of each on hover."""
    if not durations:
        return "<p>No task has finished yet.</p>"
    lo, hi = min(durations), max(durations)
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for d in durations:
        counts[min(int((d - lo) / width), bins - 1)] += 1
    top = max(counts)
    plot_w, plot_h = WIDTH - LEFT - 10, 160
    bar_w = plot_w / bins
    bars = []
    for i, count in enumerate(counts):
        h = plot_h * count / top
        a, b = lo + i * width, lo + (i + 1) * width
        bars.append(
            f'<rect x="{LEFT + i * bar_w:.1f}" y="{10 + plot_h - h:.1f}" width="{bar_w - 1:.1f}" '
            f'height="{h:.1f}" fill="#546e7a"><title>{count} tasks of '
            f"{escape(seconds(a))} to {escape(seconds(b))}</title></rect>"
        )
    return (
        f'<svg class="chart" width="{WIDTH}" height="{plot_h + 32}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(bars)}'
        f'<text x="{LEFT - 6}" y="16" text-anchor="end" class="tick">{top}</text>'
        f'<text x="{LEFT}" y="{plot_h + 26}" class="tick">{escape(seconds(lo))}</text>'
        f'<text x="{WIDTH - 10}" y="{plot_h + 26}" class="tick" text-anchor="end">'
        f"{escape(seconds(hi))}</text></svg>"
    )


def heat_map(values, rows: tuple[str, list], cols: tuple[str, list]) -> str:
    """A 2-D array of numbers (``values[i][j]``, NaN: missing) as coloured cells."""
    n_rows, n_cols = len(values), len(values[0]) if len(values) else 0
    row_step, col_step = max(1, -(-n_rows // MAX_CELLS)), max(1, -(-n_cols // MAX_CELLS))
    shown = [[values[i][j] for j in range(0, n_cols, col_step)] for i in range(0, n_rows, row_step)]
    finite = [float(v) for row in shown for v in row if _finite(v)]
    if not finite:
        return "<p>The result has no finite values to show.</p>"
    lo, hi = min(finite), max(finite)
    cell = max(3, min(24, (WIDTH - LEFT - 10) // max(1, len(shown[0]))))
    cells = []
    for i, row in enumerate(shown):
        for j, value in enumerate(row):
            fill = (
                _ramp((float(value) - lo) / (hi - lo) if hi > lo else 0.5)
                if _finite(value)
                else "#fff"
            )
            tip = (
                f"{rows[0]}={rows[1][i * row_step]!r}, {cols[0]}={cols[1][j * col_step]!r}: "
                f"{value:.6g}"
                if _finite(value)
                else "missing"
            )
            cells.append(
                f'<rect x="{LEFT + j * cell}" y="{i * cell}" width="{cell}" height="{cell}" '
                f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
    height = len(shown) * cell
    stride = ""
    if row_step > 1 or col_step > 1:
        stride = f" (every {row_step} x {col_step} cells)"
    first_last = (
        f'<text x="{LEFT - 6}" y="{cell - 2}" text-anchor="end" class="tick">'
        f"{escape(rows[0])}={escape(_short(rows[1][0]))}</text>"
        f'<text x="{LEFT - 6}" y="{height - 2}" text-anchor="end" class="tick">'
        f"{escape(_short(rows[1][(len(shown) - 1) * row_step]))}</text>"
    )
    legend = (
        f'<text x="{LEFT}" y="{height + 14}" class="tick">{escape(cols[0])} from '
        f"{escape(_short(cols[1][0]))} to {escape(_short(cols[1][(len(shown[0]) - 1) * col_step]))}"
        f" &#8594;{stride}; values from {lo:.6g} (dark) to {hi:.6g} (light)</text>"
    )
    return (
        f'<svg class="chart" width="{WIDTH}" height="{height + 20}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(cells)}{first_last}{legend}</svg>'
    )


def _short(value, limit: int = 12) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "~"


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _ramp(x: float) -> str:
    x = min(max(x, 0.0), 1.0) * (len(RAMP) - 1)
    i = min(int(x), len(RAMP) - 2)
    f = x - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(RAMP[i], RAMP[i + 1]))
    return f"#{r:02x}{g:02x}{b:02x}"
