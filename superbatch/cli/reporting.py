"""report: one self-contained HTML page about a job (superbatch/results/report.py)."""

from __future__ import annotations

from pathlib import Path

import click

from superbatch.cli.app import Output, cli
from superbatch.cli.options import (
    SPEC,
    backend_option,
    job_id_option,
    json_option,
    load_context,
    remember_rerun,
    state_dir_option,
)


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the page (default: JOB-ID.html in the current directory).",
)
@json_option
def report(spec_path, backend, state_dir, job_id, output, as_json) -> None:
    """Write one HTML page about the job: timeline, durations, failures, cost, result."""
    from superbatch.results.report import write_report

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    remember_rerun("report", state.job_id)
    for note in ctx.notes:
        out.note(f"note: {note}")
    path = write_report(ctx, state, Path(output or f"{state.job_id}.html"))
    out.line(str(path))
    out.json({"ok": True, "job_id": state.job_id, "report": str(path)})
