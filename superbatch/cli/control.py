"""status, logs, retry, cancel and delete: look at a job and steer it."""

from __future__ import annotations

import json
import sys

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
from superbatch.cli.shown import SHOWN_POINTS, plural
from superbatch.errors import EXIT_TASKS_FAILED, UserError

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
        if failure.points and failure.point is not None and len(failure.points) == 1:
            out.line(f"    failed point {failure.point}: {json.dumps(failure.points[0])}")
        elif failure.points:
            shown = ", ".join(json.dumps(p) for p in failure.points[:SHOWN_POINTS])
            more = len(failure.points) - SHOWN_POINTS
            out.line(f"    points: {shown}" + (f", ... and {more} more" if more > 0 else ""))
        if failure.stderr_tail:
            for text in failure.stderr_tail.splitlines()[-5:]:
                out.line(f"    | {text}")
    if len(status.failures) > 20:
        out.line(
            f"  ... and {plural(len(status.failures) - 20, 'more failed task')} (--json lists all)"
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
    from superbatch.cli.watching import watch as follow
    from superbatch.jobs import lifecycle

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    remember_rerun("status", state.job_id, ("--watch",) if watch else ())
    if watch:
        follow(ctx.backend_for(state), out, interval)
    st = lifecycle.status(ctx, state)
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
@click.option(
    "--setup",
    is_flag=True,
    help="The set-up of the worker's environment instead (code mode: requirements and "
    "worker.setup), per node: its stdout, stderr and exit code.",
)
@click.option("--node", default=None, help="With --setup: only this node.")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Stream the task's output as it is written, until the task ends.",
)
@json_option
def logs(
    spec_path, task_id, backend, state_dir, job_id, stream, setup, node, follow, as_json
) -> None:
    """A task's stdout and stderr (default: the first failed task, else the first task)."""
    from superbatch.jobs.state import check_job_id
    from superbatch.plan.chunks import Chunking

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    remember_rerun("logs", state.job_id, (task_id,) if task_id else ())
    be = ctx.backend_for(state)
    if setup or node:
        _setup_logs(out, be, node, stream, bool(task_id))
        return
    chunking = Chunking(be.record.point_count, be.record.points_per_task)
    if task_id is None:
        st = be.status()
        task_id = st.failures[0].task_id if st.failures else chunking.task_id(0)
    check_job_id(task_id, "TASK")
    if chunking.task_index(task_id) is None:
        first, last = chunking.task_id(0), chunking.task_id(chunking.task_count - 1)
        tasks = f"its tasks are {first} to {last}" if last != first else f"its task is {first}"
        raise UserError(
            f"job {state.job_id} has no task {task_id!r}: {tasks}; `superbatch status` lists them."
        )
    if follow:
        if as_json:
            raise UserError("--follow streams text; it cannot be combined with --json.")
        _follow(be, task_id, stream)
        return
    got = be.logs(task_id)
    for name, text in (("stdout", got.stdout), ("stderr", got.stderr)):
        if stream in ("both", name):
            if stream == "both":
                out.line(f"--- {task_id} {name} ---")
            out.line(text.rstrip("\n"))
    out.json({"ok": True, "task_id": task_id, "stdout": got.stdout, "stderr": got.stderr})


FOLLOW_POLL_SECONDS = 1.0


def _follow(be, task_id: str, stream: str) -> None:
    """The task's stdout to stdout and its stderr to stderr, as they grow, until it ends."""
    import time

    names = [n for n in ("stdout", "stderr") if stream in ("both", n)]
    offsets = dict.fromkeys(names, 0)
    while True:
        running = False
        for name in names:
            chunk = be.read_log(task_id, f"{name}.txt", offsets[name])
            if chunk.restarted:
                click.echo(f"--- {task_id} {name}: the task started again ---", err=True)
                offsets[name] = 0
            target = sys.stdout if name == "stdout" else sys.stderr
            target.buffer.write(chunk.data)
            target.flush()
            offsets[name] += len(chunk.data)
            running = running or chunk.running
        if not running:
            return
        time.sleep(FOLLOW_POLL_SECONDS)


def _setup_logs(out: Output, be, node: str | None, stream: str, task_given: bool) -> None:
    if task_given:
        raise UserError("give a task id or --setup, not both.")
    found = be.setup_logs(node)
    if not found:
        where = f" on node {node}" if node else ""
        raise UserError(
            f"job {be.state.job_id} has no set-up logs{where}: only code mode (azure without "
            f"worker.image) sets the worker's environment up on its nodes, once a node "
            f"has started the job."
        )
    for log in found:
        code = "running" if log.state == "running" else f"exit code {log.exit_code}"
        out.line(f"=== set-up on {log.node}: {code}" + (f" ({log.failure})" if log.failure else ""))
        for name, text in (("stdout", log.stdout), ("stderr", log.stderr)):
            if stream in ("both", name):
                out.line(f"--- {name} ---")
                out.line("(the node's files are gone)" if text is None else text.rstrip("\n"))
    out.json({"ok": True, "setup": [log.to_json() for log in found]})


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
    from superbatch.jobs import lifecycle

    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    remember_rerun("retry", state.job_id, tuple(task_ids))
    requeued = lifecycle.retry(ctx, state, list(task_ids) or None)
    for note in ctx.notes:
        out.note(f"note: {note}")
    out.line(f"job {state.job_id}: requeued {plural(len(requeued), 'task')}")
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
    from superbatch.jobs.codestore import remove_unused

    removed += remove_unused(ctx.state_root)
    for item in removed:
        out.line(f"deleted {item}")
    out.json({"ok": True, "job_id": state.job_id, "deleted": removed})


def can_prompt() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()
