"""The commands: thin wrappers that parse options, call :mod:`superbatch.jobs`, print.

Heavy modules are imported inside the commands so ``--help`` and ``validate`` start fast.
"""

from __future__ import annotations

import json
import sys

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
from superbatch.errors import EXIT_TASKS_FAILED, UserError

SHOWN_POINTS = 3


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _describe_tasks(points: int, tasks: int, per_task: int) -> str:
    per = "" if per_task == 1 else f" ({per_task} points per task)"
    return f"{_plural(points, 'point')} in {_plural(tasks, 'task')}{per}"


def _time(seconds: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "?"


# -- checking and planning -----------------------------------------------------------------


@cli.command()
@SPEC
@backend_option
@json_option
def validate(spec_path: str, backend: str | None, as_json: bool) -> None:
    """Parse and check the spec (nothing is created); print the task count."""
    from superbatch.checks import check_everything

    out = Output(as_json)
    ctx = load_context(spec_path, backend, None)
    plan = check_everything(ctx, None)
    out.line(
        f"{spec_path}: valid: {_describe_tasks(plan.point_count, plan.task_count, plan.points_per_task)}, "
        f"{ctx.backend_name} backend"
    )
    out.json(
        {
            "ok": True,
            "spec": spec_path,
            "name": ctx.spec.name,
            "backend": ctx.backend_name,
            "points": plan.point_count,
            "tasks": plan.task_count,
            "points_per_task": plan.points_per_task,
        }
    )


@cli.command()
@SPEC
@backend_option
@click.option(
    "--sample",
    type=click.IntRange(min=1, max=1000),
    default=None,
    metavar="N",
    help="Time N points (spread over the grid) here, for the cost estimate.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Tasks to show (0: all).",
)
@json_option
def plan(
    spec_path: str, backend: str | None, sample: int | None, limit: int, as_json: bool
) -> None:
    """Dry run: show the tasks and their inputs, and (on a paid backend) what the job would
    take and cost; create nothing."""
    from superbatch.checks import check_everything
    from superbatch.cli.costs import estimate_lines, per_point
    from superbatch.codec import to_jsonable
    from superbatch.jobs import worker_command

    out = Output(as_json)
    ctx = load_context(spec_path, backend, None)
    job = check_everything(ctx, None)
    shown = job.task_count if limit == 0 else min(limit, job.task_count)
    tasks = []
    for task, points in job.points_with_tasks():
        if task.index >= shown:
            break
        tasks.append({"id": task.id, "points": list(task.point_indices), "inputs": points})
    command = worker_command(ctx.spec, ctx.backend)
    model = ctx.spec.model
    out.line(
        f"job {ctx.spec.name}: {_describe_tasks(job.point_count, job.task_count, job.points_per_task)} "
        f"on the {ctx.backend_name} backend"
    )
    out.line(f"command: {command}")
    out.line(f"globals: {json.dumps(to_jsonable(model.globals))}")
    for task in tasks:
        inputs = task["inputs"]
        if len(inputs) == 1:
            text = json.dumps(to_jsonable(inputs[0]))
        else:
            text = ", ".join(json.dumps(to_jsonable(p)) for p in inputs[:SHOWN_POINTS])
            more = len(inputs) - SHOWN_POINTS
            text = f"{len(inputs)} points: {text}" + (f", ... and {more} more" if more > 0 else "")
        out.line(f"  {task['id']}  {text}")
    if shown < job.task_count:
        out.line(f"  ... and {_plural(job.task_count - shown, 'more task')} (--limit 0 shows all)")
    out.line(
        f"collect: reduce {model.collect.reduce}"
        + (f" -> {model.collect.output}" if model.collect.output else "")
    )
    seconds, source = per_point(ctx, job, sample)
    est = ctx.backend.estimate(ctx.spec, job, seconds, source)
    for line in estimate_lines(est) if est else []:
        out.line(line)
    out.json(
        {
            "ok": True,
            "estimate": est.to_json() if est else None,
            "name": ctx.spec.name,
            "backend": ctx.backend_name,
            "command": command,
            "points": job.point_count,
            "tasks": job.task_count,
            "points_per_task": job.points_per_task,
            "globals": model.globals,
            "shown": tasks,
            "reduce": model.collect.reduce,
        }
    )


# -- submitting and running ------------------------------------------------------------


def _announce(out: Output, ctx, sub) -> None:
    for note in ctx.notes + sub.notes:
        out.note(f"note: {note}")
    what = _describe_tasks(sub.points, sub.tasks, max(1, -(-sub.points // sub.tasks)))
    if sub.reused:
        done = f", finished at {_time(sub.finished_at)}" if sub.finished_at else " (still running)"
        out.note(
            f"reusing job {sub.job_id} (submitted {_time(sub.submitted_at)}{done}): "
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
    from superbatch import jobs
    from superbatch.checks import check_everything
    from superbatch.progress import Progress

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, parallel)
    check_everything(ctx, None)
    remember_rerun("submit", None)
    sub, be = jobs.submit(ctx, new=new)
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
    from superbatch.results import format_value

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


def _collect(ctx, out, state, wait, timeout, allow_missing, output):
    from superbatch import jobs

    _report_collected(out, jobs.collect(ctx, state, wait, timeout, allow_missing, output))


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@click.option("--wait", is_flag=True, help="Wait for the job to finish first.")
@collect_options
@json_option
def collect(
    spec_path, backend, state_dir, job_id, wait, timeout, allow_missing, output, quiet, as_json
) -> None:
    """Download every task's output, reduce, print the result as the last line."""
    from superbatch.checks import check_everything

    out = Output(as_json, quiet)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    check_everything(ctx, output, running=False)
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
    spec_path, backend, state_dir, parallel, new, timeout, allow_missing, output, quiet, as_json
) -> None:
    """Submit, wait and collect (reusing a finished job that computes the same)."""
    from superbatch import jobs
    from superbatch.checks import check_everything

    out = Output(as_json, quiet)
    ctx = load_context(spec_path, backend, state_dir, parallel)
    check_everything(ctx, output)
    remember_rerun("run", None)
    sub, be = jobs.submit(ctx, new=new)
    remember_rerun("collect", sub.job_id, ("--wait",))
    _announce(out, ctx, sub)
    # With a timeout the job runs in the background, so that it goes on after we stop.
    be.start(foreground=timeout is None, progress=ctx.progress)
    _collect(ctx, out, ctx.state(sub.job_id), True, timeout, allow_missing, output)


# -- watching ------------------------------------------------------------------------------


def _print_status(out: Output, status) -> None:
    out.line(f"job {status.job_id}: {status.job_state}")
    missing = f", {status.missing} missing" if status.missing else ""
    out.line(
        f"  tasks {status.total}: {status.active} active, {status.running} running, "
        f"{status.succeeded} succeeded, {status.failed} failed{missing}"
    )
    if status.blocked:
        out.line(f"  blocked: {status.blocked}")
    if status.spend_usd is not None:
        budget = f" of a ${status.budget_usd:.2f} budget" if status.budget_usd else ""
        out.line(
            f"  spend so far: about ${status.spend_usd:.2f}{budget} (the pool's nodes "
            f"since the job started, at list prices)"
        )
    for note in status.notes:
        out.line(f"  note: {note}")
    for failure in status.failures[:20]:
        code = "-" if failure.exit_code is None else failure.exit_code
        reason = f" {failure.code}: {failure.message}" if failure.code else ""
        out.line(f"  failed {failure.task_id} (exit code {code}){reason}")
        if failure.points:
            shown = ", ".join(json.dumps(p) for p in failure.points[:SHOWN_POINTS])
            more = len(failure.points) - SHOWN_POINTS
            out.line(f"    points: {shown}" + (f", ... and {more} more" if more > 0 else ""))
        if failure.stderr_tail:
            for text in failure.stderr_tail.splitlines()[-5:]:
                out.line(f"    | {text}")
    if len(status.failures) > 20:
        out.line(
            f"  ... and {_plural(len(status.failures) - 20, 'more failed task')} (--json lists all)"
        )


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@click.option(
    "--watch",
    "-w",
    is_flag=True,
    help="Follow the counts until the job is done (a live line on a terminal, a "
    "line per change otherwise).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between looks with --watch.",
)
@json_option
def status(spec_path, backend, state_dir, job_id, watch, interval, as_json) -> None:
    """Counts by state, and failed tasks with exit codes (exit 1 if any failed)."""
    from superbatch import jobs
    from superbatch.cli.watching import watch as follow

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    remember_rerun("status", state.job_id, ("--watch",) if watch else ())
    if watch:
        follow(ctx.backend_for(state), out, interval)
    st = jobs.status(ctx, state)
    for note in ctx.notes:
        out.note(f"note: {note}")
    _print_status(out, st)
    ok = st.failed == 0 and st.missing == 0 and not st.blocked
    out.json({"ok": ok, **st.to_json()})
    if not ok:
        sys.exit(EXIT_TASKS_FAILED)


@cli.command()
@SPEC
@click.argument("task_id", required=False)
@backend_option
@state_dir_option
@job_id_option
@click.option(
    "--stream", type=click.Choice(["both", "stdout", "stderr"]), default="both", show_default=True
)
@json_option
def logs(spec_path, task_id, backend, state_dir, job_id, stream, as_json) -> None:
    """A task's stdout and stderr (default: the first failed task, else the first task)."""
    from superbatch.plan import Chunking
    from superbatch.state import check_job_id

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    remember_rerun("logs", state.job_id, (task_id,) if task_id else ())
    be = ctx.backend_for(state)
    if task_id is None:
        st = be.status()
        task_id = (
            st.failures[0].task_id
            if st.failures
            else Chunking(be.record.point_count, be.record.points_per_task).task_id(0)
        )
    check_job_id(task_id, "TASK")
    got = be.logs(task_id)
    for name, text in (("stdout", got.stdout), ("stderr", got.stderr)):
        if stream in ("both", name):
            if stream == "both":
                out.line(f"--- {task_id} {name} ---")
            out.line(text.rstrip("\n"))
    out.json({"ok": True, "task_id": task_id, "stdout": got.stdout, "stderr": got.stderr})


# -- control -------------------------------------------------------------------------------


@cli.command()
@SPEC
@click.argument("task_ids", nargs=-1)
@backend_option
@state_dir_option
@job_id_option
@json_option
def retry(spec_path, task_ids, backend, state_dir, job_id, as_json) -> None:
    """Run the failed tasks again (or the given TASK_IDS); after a cancel, the unfinished ones too."""
    from superbatch import jobs

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    remember_rerun("retry", state.job_id, tuple(task_ids))
    requeued = jobs.retry(ctx, state, list(task_ids) or None)
    for note in ctx.notes:
        out.note(f"note: {note}")
    out.line(f"job {state.job_id}: requeued {_plural(len(requeued), 'task')}")
    if requeued:
        out.note(f"`superbatch collect {spec_path} --wait` waits for them and collects")
    out.json({"ok": True, "job_id": state.job_id, "requeued": requeued})


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@json_option
def cancel(spec_path, backend, state_dir, job_id, as_json) -> None:
    """Stop the job: running tasks are ended (as failed), no more start; `retry` resumes."""
    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    ctx.backend_for(state).cancel()
    out.line(f"job {state.job_id}: cancelled")
    out.note(f"`superbatch retry {spec_path}` runs its unfinished and failed tasks again")
    out.json({"ok": True, "job_id": state.job_id, "job_state": "terminated"})


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@click.option(
    "--pool",
    "include_pool",
    is_flag=True,
    help="Also delete the pool (default: only when azure.pool.delete_when_done).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete(spec_path, backend, state_dir, job_id, include_pool, yes, as_json) -> None:
    """Remove what the job created (its cloud resources and its local state)."""
    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    if not yes:
        if not can_prompt():
            raise UserError(
                f"refusing to delete job {state.job_id} without --yes (no terminal to confirm on)."
            )
        if not click.confirm(f"Delete job {state.job_id} and everything it created?", err=True):
            raise UserError(f"job {state.job_id} was not deleted (declined).")
    removed = ctx.backend_for(state).delete(include_pool)
    state.remove()
    removed.append(f"local state {state.dir}")
    for item in removed:
        out.line(f"deleted {item}")
    out.json({"ok": True, "job_id": state.job_id, "deleted": removed})


def can_prompt() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()


# -- tools ---------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Job name (default: the directory's name).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@json_option
def init(directory, name, force, as_json) -> None:
    """Scaffold a job spec, a worker and a Dockerfile in DIRECTORY."""
    from superbatch.scaffold import scaffold

    out = Output(as_json)
    written = scaffold(directory, name, force)
    for path in written:
        out.line(f"created {path}")
    out.line(f"next: superbatch run {written[0]}")
    out.json({"ok": True, "created": [str(p) for p in written]})


@cli.command()
def schema() -> None:
    """Print the job spec's JSON Schema (for editors and CI checks)."""
    from superbatch.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command(
    "emulator",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Serve a loopback Azure Batch emulator (see docs/emulator.md; --help for options)."""
    from superbatch.emulator.cli import emulator_command

    args = ["--help" if a == "-h" else a for a in ctx.args]
    emulator_command.main(args=args, prog_name="superbatch emulator", standalone_mode=False)
