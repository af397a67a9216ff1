"""``jobs`` (every submission a state directory knows) and ``prune`` (remove old finished ones)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from superbatch.cli.app import Output, cli, set_hint_context
from superbatch.cli.options import json_option, state_dir_option


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"


def _root_and_spec(spec_path: str | None, state_dir: str | None) -> tuple[Path, Path | None]:
    from superbatch.jobs.state import state_root
    from superbatch.spec.load import load_spec

    if spec_path is None:
        return state_root(Path.cwd(), state_dir), None
    set_hint_context(spec_path, ["--state-dir", state_dir] if state_dir else [])
    spec = load_spec(spec_path)
    return state_root(spec.directory, state_dir), spec.path


@cli.command()
@click.argument("spec_path", metavar="[JOB.yaml]", required=False, type=click.Path(dir_okay=False))
@state_dir_option
@click.option(
    "--refresh",
    is_flag=True,
    help="Ask each job's service for its state (default: the last state seen).",
)
@json_option
def jobs(spec_path, state_dir, refresh, as_json) -> None:
    """Every submission known to the state directory, newest first (of JOB.yaml, if given).

    Without JOB.yaml the state directory is --state-dir, SUPERBATCH_STATE_DIR or
    ./.superbatch.
    """
    from superbatch.jobs.history import submissions

    out = Output(as_json)
    root, spec = _root_and_spec(spec_path, state_dir)
    found = submissions(root, spec, refresh)
    if not found:
        out.line(f"no jobs in {root}")
    else:
        out.line(
            f"{'JOB':<44} {'BACKEND':<8} {'SUBMITTED':<16} {'STATE':<11} {'TASKS':>11}  RESULT"
        )
    for job in found:
        tasks = (
            "-"
            if job.total is None
            else f"{job.succeeded}/{job.total}" + (f" ({job.failed} failed)" if job.failed else "")
        )
        out.line(
            f"{job.job_id:<44} {job.backend or '-':<8} {_when(job.submitted):<16} "
            f"{job.state:<11} {tasks:>11}  {job.result_file or ''}".rstrip()
        )
        if job.problem:
            out.line(f"    {job.problem}")
    out.json({"ok": True, "state_dir": str(root), "jobs": [j.to_json() for j in found]})


@cli.command()
@click.argument("spec_path", metavar="[JOB.yaml]", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE",
    help="Finished more than AGE ago: 90m, 12h, 7d ...",
)
@state_dir_option
@click.option("--yes", "-y", is_flag=True, help="Delete (without it: only say what would go).")
@json_option
def prune(spec_path, older_than, state_dir, yes, as_json) -> None:
    """Remove finished jobs older than AGE: their cloud resources and their local state.

    Without --yes nothing is deleted: the jobs that would go are listed. Unfinished jobs are
    never pruned.
    """
    from superbatch.errors import UserError
    from superbatch.jobs.history import prunable
    from superbatch.jobs.history import prune as prune_job
    from superbatch.spec.durations import parse_duration

    out = Output(as_json)
    try:
        age = parse_duration(older_than).total_seconds()
    except ValueError as exc:
        raise UserError(f"--older-than {older_than!r}: {exc}.") from None
    root, spec = _root_and_spec(spec_path, state_dir)
    old, kept = prunable(root, age, spec)
    deleted: dict[str, list[str]] = {}
    for job in old:
        if yes:
            deleted[job.job_id] = prune_job(root, job)
            for item in deleted[job.job_id]:
                out.line(f"deleted {item}")
        else:
            out.line(
                f"would delete job {job.job_id} (finished {_when(job.finished)}; "
                f"{job.backend} backend)"
            )
    if kept:
        out.note(
            f"kept {len(kept)} unfinished job{'s' if len(kept) != 1 else ''} older than "
            f"{older_than}: {', '.join(j.job_id for j in kept[:5])}"
        )
    if old and not yes:
        out.note("nothing was deleted: run again with --yes to delete these jobs")
    if not old:
        out.line(f"no finished job in {root} is older than {older_than}")
    out.json(
        {
            "ok": True,
            "deleted": deleted if yes else {},
            "would_delete": [] if yes else [j.job_id for j in old],
            "kept_unfinished": [j.job_id for j in kept],
        }
    )
