"""submit, run and collect: start a job (or reuse the one that computes the same) and gather its result."""

from __future__ import annotations

import click

from superbatch.cli.app import Output, cli
from superbatch.cli.options import (
    SPEC,
    backend_option,
    collect_options,
    job_id_option,
    json_option,
    load_context,
    new_option,
    parallel_option,
    remember_rerun,
    state_dir_option,
)
from superbatch.cli.shown import describe_tasks, when

# -- submitting and running ------------------------------------------------------------


def _announce(out: Output, ctx, sub) -> None:
    for note in ctx.notes + sub.notes:
        out.note(f"note: {note}")
    what = describe_tasks(sub.points, sub.tasks, max(1, -(-sub.points // sub.tasks)))
    if sub.reused:
        done = f", finished at {when(sub.finished_at)}" if sub.finished_at else "; not finished"
        out.note(
            f"reusing job {sub.job_id} (submitted {when(sub.submitted_at)}{done}): "
            f"{what}; --new runs it again"
        )
    elif sub.resumed:
        out.note(f"resumed job {sub.job_id}: {what} on the {ctx.backend_name} backend")
    else:
        out.note(f"submitted job {sub.job_id}: {what} on the {ctx.backend_name} backend")


@cli.command()
@SPEC
@backend_option
@state_dir_option
@parallel_option
@new_option
@json_option
def submit(spec_path, backend, state_dir, parallel, new, as_json) -> None:
    """Create everything and add the tasks; print the job id."""
    from superbatch.jobs import lifecycle
    from superbatch.results.checks import check_everything
    from superbatch.util.bars import Progress

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, parallel)
    check_everything(ctx, None)
    remember_rerun("submit", None)
    sub, be = lifecycle.submit(ctx, new=new, then_start=False)
    remember_rerun("submit", sub.job_id)
    be.start(foreground=False, progress=Progress(enabled=False))
    _announce(out, ctx, sub)
    out.line(sub.job_id)
    out.json(
        {
            "ok": True,
            "job_id": sub.job_id,
            "backend": ctx.backend_name,
            "tasks": sub.tasks,
            "points": sub.points,
            "resumed": sub.resumed,
            "reused": sub.reused,
            "already_submitted": sub.reused,
            "finished_at": sub.finished_at,
            "notes": ctx.notes + sub.notes,
        }
    )


def _report_collected(out: Output, collected) -> None:
    from superbatch.results.output import format_value

    for note in collected.notes:
        out.note(f"note: {note}")
    if collected.missing:
        out.note(
            f"warning: {len(collected.missing)} of {collected.points} outputs are "
            f"missing; the result reduces the other "
            f"{collected.points - len(collected.missing)}."
        )
    if collected.output:
        out.note(f"wrote {collected.output}")
    for item in collected.cleaned:
        out.note(f"cleaned up {item}")
    if not out.as_json:
        out.result(format_value(collected.result))
    out.json(
        {
            "ok": True,
            "job_id": collected.job_id,
            "result": collected.result,
            "points": collected.points,
            "missing": len(collected.missing),
            "output": collected.output,
        }
    )


def _checked_context(spec_path, backend, state_dir, reduce_with, output, *, running: bool, **where):
    """The context of a command that ends in a result: the spec with --reduce applied,
    checked against the result file it writes (for a job to run, or one that ran)."""
    from superbatch.results.checks import check_everything

    ctx = load_context(spec_path, backend, state_dir, **where)
    if reduce_with:
        ctx.spec = ctx.spec.with_reducer(reduce_with)
    check_everything(ctx, output, running=running)
    return ctx


def _collect(ctx, out, state, wait, timeout, allow_missing, output):
    from superbatch.results import collect as collecting

    _report_collected(out, collecting.collect(ctx, state, wait, timeout, allow_missing, output))


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@click.option("--wait", is_flag=True, help="Wait for the job to finish first.")
@collect_options
@json_option
def collect(
    spec_path,
    backend,
    state_dir,
    job_id,
    wait,
    timeout,
    allow_missing,
    reduce_with,
    output,
    quiet,
    as_json,
) -> None:
    """Download every task's output, reduce, print the result as the last line."""
    out = Output(as_json, quiet)
    ctx = _checked_context(
        spec_path, backend, state_dir, reduce_with, output, running=False, job_id=job_id
    )
    state = ctx.find_job(job_id, for_results=True)
    for note in ctx.notes:
        out.note(f"note: {note}")
    remember_rerun("collect", state.job_id, ("--wait",) if wait else ())
    _collect(ctx, out, state, wait, timeout, allow_missing, output)


@cli.command()
@SPEC
@backend_option
@state_dir_option
@parallel_option
@new_option
@collect_options
@json_option
def run(
    spec_path,
    backend,
    state_dir,
    parallel,
    new,
    timeout,
    allow_missing,
    reduce_with,
    output,
    quiet,
    as_json,
) -> None:
    """Submit, wait and collect (reusing a finished job that computes the same)."""
    from superbatch.jobs import lifecycle

    out = Output(as_json, quiet)
    ctx = _checked_context(
        spec_path, backend, state_dir, reduce_with, output, running=True, parallel=parallel
    )
    remember_rerun("run", None)
    # With a timeout the job runs in the background, so that it goes on after we stop.
    here = timeout is None
    sub, be = lifecycle.submit(ctx, new=new, then_start=here)
    remember_rerun("collect", sub.job_id, ("--wait",))
    _announce(out, ctx, sub)
    be.start(foreground=here, progress=ctx.progress)
    _collect(ctx, out, ctx.state(sub.job_id), True, timeout, allow_missing, output)
