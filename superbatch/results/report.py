"""``superbatch report``: one self-contained HTML page about a job, to look at.

The page holds the job's timeline (tasks per node over time), a histogram of task durations,
the failed tasks with their points and stderr tails, retries, the estimated and the spent cost
(where the backend has prices), and a preview of the result: the first points with their
outputs, or a heat map when the grid has two axes and the outputs are numbers. Everything is
inline (CSS and SVG, no script, no fonts or images from elsewhere): it opens offline, and a
job of 10^5 tasks stays a few MB (svgcharts.py bounds each chart).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from superbatch.backends.base import JobStatus
from superbatch.backends.reports import CostEstimate, TaskRun
from superbatch.jobs.record import JobRecord
from superbatch.results import svgcharts

PREVIEW_ROWS = 20
SHOWN_FAILURES = 50
HEAT_MAP_POINTS = 250_000  # a larger grid is previewed as a table


@dataclass
class Preview:
    """The first points with their outputs, or a 2-D result's heat map."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    heat_map: str | None = None  # SVG
    note: str | None = None


@dataclass
class ReportData:
    record: JobRecord
    status: JobStatus
    runs: list[TaskRun]
    estimate: CostEstimate | None
    preview: Preview
    made_at: float


def gather(ctx, state) -> ReportData:
    """Everything the page shows, from the job's backend (outputs fetched for the preview)."""
    from superbatch.jobs import lifecycle

    backend = ctx.backend_for(state)
    status = lifecycle.status(ctx, state)
    runs = backend.task_runs()
    return ReportData(
        backend.record,
        status,
        runs,
        _estimate(backend, runs),
        _preview(backend, status),
        time.time(),
    )


def _estimate(backend, runs: list[TaskRun]) -> CostEstimate | None:
    """The job's cost by the backend's prices, from the tasks' measured durations (or the
    spec's estimated_time before any task finished)."""
    from superbatch.errors import SuperbatchError
    from superbatch.plan.chunks import plan_from_record
    from superbatch.spec.load import Spec

    record = backend.record
    done = [r.duration for r in runs if r.result == "success" and r.duration is not None]
    per_point = sum(done) / len(done) / record.points_per_task if done else None
    given = record.spec.tasks.estimated_time
    source = "the tasks' measured run times"
    if per_point is None and given:
        per_point, source = given.total_seconds(), "tasks.estimated_time"
    try:
        spec = Spec.from_model(record.spec, Path(record.spec_path))
        return backend.estimate(spec, plan_from_record(record), per_point, source)
    except (SuperbatchError, OSError):
        return None


def _preview(backend, status: JobStatus) -> Preview:
    from superbatch.contract.codec import get_codec
    from superbatch.errors import SuperbatchError
    from superbatch.plan.chunks import plan_from_record
    from superbatch.util.bars import SILENT

    record = backend.record
    try:
        plan = plan_from_record(record)
    except SuperbatchError as exc:
        return Preview(note=f"no preview: {exc.message}")
    codec = get_codec(record.format)
    allow = tuple(record.spec.collect.allow_pickle)
    axes = list((record.spec.parameters or {}).keys())
    if len(axes) == 2 and record.point_count <= HEAT_MAP_POINTS and status.succeeded:
        heat = _heat_map(backend, record, codec, allow)
        if heat is not None:
            return Preview(heat_map=heat)
    count = min(PREVIEW_ROWS, record.point_count)
    try:
        backend.fetch_outputs(range(count), SILENT)
    except SuperbatchError as exc:
        return Preview(note=f"no preview: {exc.message}")
    points = list(plan.grid.points(0, count))
    columns = list(dict.fromkeys(k for p in points for k in p))
    rows = []
    for index, point in enumerate(points):
        data = backend.read_output(index)
        try:
            value = "(missing)" if data is None else codec.loads(data, allow)
        except Exception as exc:  # noqa: BLE001 - shown, not raised: collect says more
            value = f"(cannot be decoded: {type(exc).__name__})"
        rows.append([index, *(point.get(c, "") for c in columns), value])
    return Preview(["point", *columns, "output"], rows)


def _heat_map(backend, record: JobRecord, codec, allow) -> str | None:
    """The heat map of a 2-axis grid of numbers; None if the outputs are not numbers."""
    import numpy as np

    from superbatch.results.ndgrid import MISSING, build_grid
    from superbatch.util.bars import SILENT

    backend.fetch_outputs(range(record.point_count), SILENT)

    def outputs():
        for index in range(record.point_count):
            data = backend.read_output(index)
            yield index, (MISSING if data is None else codec.loads(data, allow))

    try:
        grid = build_grid(record.spec, outputs())
    except Exception:  # noqa: BLE001 - not a grid of numbers: the table preview instead
        return None
    array = grid.arrays.get("values")
    if array is None or array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        return None
    rows, cols = grid.axes
    return svgcharts.heat_map(
        array,
        (rows.name, next(iter(rows.coords.values()))),
        (cols.name, next(iter(cols.coords.values()))),
    )


# -- the page ------------------------------------------------------------------------------

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212121;max-width:960px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}pre{margin:0;white-space:pre-wrap;max-width:420px;font-size:12px}
.tick,.node{font-size:11px;fill:#555}.chart{display:block;margin:8px 0}
.ok{color:#2e7d32}.bad{color:#c62828}dl{display:grid;grid-template-columns:max-content auto;
gap:2px 16px}dt{color:#555}
"""


def render(data: ReportData) -> str:
    """The page as one HTML string."""
    record, st = data.record, data.status
    title = f"superbatch report: {record.job_id}"
    durations = [r.duration for r in data.runs if r.result == "success" and r.duration is not None]
    sections = [
        f"<h1>{escape(title)}</h1>",
        _summary(data),
        "<h2>Timeline</h2>",
        "<p>Tasks per node over time (green: succeeded, red: failed, blue: running).</p>",
        svgcharts.timeline(data.runs, data.made_at),
        "<h2>Task durations</h2>",
        svgcharts.histogram(durations),
        f"<h2>Failures ({st.failed})</h2>",
        _failures(st),
        "<h2>Retries</h2>",
        _retries(data.runs),
        "<h2>Cost</h2>",
        _cost(data),
        "<h2>Result preview</h2>",
        _preview_html(data.preview),
    ]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


def _summary(data: ReportData) -> str:
    record, st = data.record, data.status
    state = "finished" if st.done else st.job_state
    items = [
        ("spec", record.spec_path),
        ("backend", record.backend),
        ("submitted", time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(record.created))),
        ("points", f"{record.point_count:,} in {record.task_count:,} tasks"),
        ("state", state),
        (
            "tasks",
            f"{st.succeeded:,} succeeded, {st.failed:,} failed, {st.running:,} running, "
            f"{st.active:,} waiting" + (f", {st.missing:,} missing" if st.missing else ""),
        ),
        ("report made", time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(data.made_at))),
    ]
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items) + "</dl>"


def _failures(st: JobStatus) -> str:
    if not st.failures:
        return '<p class="ok">No task failed.</p>'
    rows = []
    for failure in st.failures[:SHOWN_FAILURES]:
        points = "<br>".join(escape(_params(p)) for p in (failure.points or [])[:5])
        why = ": ".join(x for x in (failure.code, failure.message) if x)
        rows.append(
            f"<tr><td>{escape(failure.task_id)}</td><td>{escape(str(failure.exit_code))}</td>"
            f"<td>{escape(why)}</td><td>{points}</td>"
            f"<td><pre>{escape(failure.stderr_tail or '')}</pre></td></tr>"
        )
    more = len(st.failures) - SHOWN_FAILURES
    tail = f"<p>... and {more} more (`superbatch status` lists them).</p>" if more > 0 else ""
    return (
        '<table class="failures"><tr><th>task</th><th>exit</th><th>why</th><th>points</th>'
        f"<th>stderr (tail)</th></tr>{''.join(rows)}</table>{tail}"
    )


def _params(point: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items())


def _retries(runs: list[TaskRun]) -> str:
    retried = sorted((r for r in runs if r.retries), key=lambda r: -r.retries)
    if not retried:
        return "<p>No task was retried.</p>"
    shown = ", ".join(f"{escape(r.task_id)} ({r.retries})" for r in retried[:20])
    more = " ..." if len(retried) > 20 else ""
    return f"<p>{len(retried)} task{'s' if len(retried) != 1 else ''} retried (times): {shown}{more}</p>"


def _cost(data: ReportData) -> str:
    est, spent = data.estimate, data.status.spend_usd
    if est is None and spent is None:
        return "<p>Nothing to pay: this backend runs on this machine (or has no prices).</p>"
    parts = []
    if est is not None:
        cost = "unknown" if est.cost_usd is None else f"${est.cost_usd:,.2f}"
        parts.append(
            f"<p>Estimated: {cost} for {escape(est.resources)} "
            f"(per point from {escape(est.per_point_source)}; {escape(est.price_source)})</p>"
        )
    if spent is not None:
        parts.append(f"<p>Spent so far: ${spent:,.2f}</p>")
    if data.status.budget_usd is not None:
        parts.append(f"<p>Budget: ${data.status.budget_usd:,.2f}</p>")
    return "".join(parts)


def _preview_html(preview: Preview) -> str:
    if preview.heat_map:
        return preview.heat_map
    if preview.note:
        return f"<p>{escape(preview.note)}</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in preview.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_short(v))}</td>" for v in row) + "</tr>"
        for row in preview.rows
    )
    return f'<table class="preview"><tr>{head}</tr>{body}</table>'


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_report(ctx, state, path: Path) -> Path:
    """Gather, render and write the page atomically; the path written."""
    from superbatch.util.files import atomic_write_bytes

    atomic_write_bytes(path, render(gather(ctx, state)).encode())
    return path
