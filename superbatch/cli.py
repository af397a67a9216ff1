"""The ``superbatch`` command line.

Exit codes: 0 success; 1 the job ran but some tasks failed or outputs are missing; 2 bad input
(spec, arguments, credentials) with nothing created; 3 infrastructure error after retries.
Heavy modules are imported inside the commands so ``--help`` and ``validate`` start fast.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from superbatch import __version__
from superbatch.errors import EXIT_BAD_INPUT, EXIT_TASKS_FAILED, SuperbatchError


class Output:
    """Human lines to stdout, or with ``--json`` exactly one JSON object."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def line(self, text: str = "") -> None:
        if not self.as_json:
            click.echo(text)

    def note(self, text: str) -> None:
        """Side information: stderr, so stdout stays parseable."""
        click.echo(text, err=True)

    def json(self, data: dict) -> None:
        if self.as_json:
            from superbatch.codec import to_jsonable

            click.echo(json.dumps(to_jsonable(data)))


class SuperbatchGroup(click.Group):
    """Turns SuperbatchError into one paragraph on stderr and the contract's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SuperbatchError as exc:
            as_json = "--json" in sys.argv[1:]
            if as_json:
                from superbatch.codec import to_jsonable

                click.echo(json.dumps(to_jsonable(
                    {"ok": False, "error": exc.message, "exit_code": exc.exit_code,
                     **exc.details})))
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - an SDK error nobody classified
            if not type(exc).__module__.startswith("azure."):
                raise
            from superbatch.redact import redact

            message = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            click.echo(f"error: the Azure service failed: {type(exc).__name__}: {message}. "
                       f"Nothing is lost: run the same command again.", err=True)
            if "--json" in sys.argv[1:]:
                click.echo(json.dumps({"ok": False, "error": message, "exit_code": 3}))
            ctx.exit(3)
        except KeyboardInterrupt:
            click.echo("interrupted: state is consistent; run the same command again to "
                       "finish what is unfinished.", err=True)
            ctx.exit(130)


@click.group(cls=SuperbatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="superbatch")
def cli() -> None:
    """Turn a for-loop into an Azure Batch job (or a local one).

    Split the loop into a worker and a YAML job spec, then `superbatch run job.yaml`.
    """


# -- shared options ----------------------------------------------------------------------

def json_option(f):
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON object on stdout.")(f)


def backend_option(f):
    return click.option("--backend", type=click.Choice(["local", "azure"]), default=None,
                        help="Override the spec's backend.")(f)


def state_dir_option(f):
    return click.option("--state-dir", type=click.Path(file_okay=False), default=None,
                        envvar="SUPERBATCH_STATE_DIR",
                        help="Where job state lives (default: .superbatch/ beside the spec).")(f)


def job_id_option(f):
    return click.option("--job-id", default=None,
                        help="The job (default: the latest submission of the spec).")(f)


def parallel_option(f):
    return click.option("--parallel", type=click.IntRange(min=1), default=None,
                        help="Local backend: tasks at once (default: CPU count).")(f)


def new_option(f):
    return click.option("--new", is_flag=True,
                        help="Start a fresh job instead of resuming the latest.")(f)


def collect_options(f):
    """--timeout, --allow-missing and --output, shared by collect and run."""
    f = click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
                     help="Write the result here (overrides collect.output).")(f)
    f = click.option("--allow-missing", is_flag=True, help="Reduce the outputs that exist.")(f)
    return click.option("--timeout", type=float, default=None,
                        help="Seconds to wait at most.")(f)


SPEC = click.argument("spec_path", metavar="JOB.yaml", type=click.Path(dir_okay=True))


def _context(spec_path: str, backend: str | None, state_dir: str | None,
             parallel: int | None = None):
    from superbatch.jobs import make_context
    from superbatch.spec import load_spec

    return make_context(load_spec(spec_path), backend, state_dir, parallel)


def _describe_tasks(plan) -> str:
    per = "" if plan.points_per_task == 1 else f" ({plan.points_per_task} points per task)"
    return f"{plan.point_count} points in {plan.task_count} tasks{per}"


# -- commands ----------------------------------------------------------------------------

@cli.command()
@SPEC
@backend_option
@json_option
def validate(spec_path: str, backend: str | None, as_json: bool) -> None:
    """Parse and check the spec; print the task count."""
    from superbatch.jobs import build_plan

    out = Output(as_json)
    ctx = _context(spec_path, backend, None)
    plan = build_plan(ctx)
    out.line(f"{spec_path}: valid: {_describe_tasks(plan)}, {ctx.backend} backend")
    out.json({"ok": True, "spec": spec_path, "name": ctx.spec.name, "backend": ctx.backend,
              "points": plan.point_count, "tasks": plan.task_count,
              "points_per_task": plan.points_per_task})


@cli.command()
@SPEC
@backend_option
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Tasks to show (0: all).")
@json_option
def plan(spec_path: str, backend: str | None, limit: int, as_json: bool) -> None:
    """Dry run: show the tasks and their inputs; create nothing."""
    from superbatch.codec import to_jsonable
    from superbatch.jobs import build_plan, worker_command

    out = Output(as_json)
    ctx = _context(spec_path, backend, None)
    job = build_plan(ctx)
    shown = job.task_count if limit == 0 else min(limit, job.task_count)
    tasks = []
    for task, points in job.points_with_tasks():
        if task.index >= shown:
            break
        tasks.append({"id": task.id, "points": list(task.point_indices),
                      "inputs": points})
    command = worker_command(ctx.spec, ctx.backend)
    out.line(f"job {ctx.spec.name}: {_describe_tasks(job)} on the {ctx.backend} backend")
    out.line(f"command: {command}")
    out.line(f"globals: {json.dumps(to_jsonable(ctx.spec.model.globals))}")
    for task in tasks:
        inputs = task["inputs"][0] if len(task["inputs"]) == 1 else task["inputs"]
        out.line(f"  {task['id']}  {json.dumps(to_jsonable(inputs))}")
    if shown < job.task_count:
        out.line(f"  ... and {job.task_count - shown} more tasks (--limit 0 shows all)")
    out.line(f"collect: reduce {ctx.spec.model.collect.reduce}"
             + (f" -> {ctx.spec.model.collect.output}" if ctx.spec.model.collect.output else ""))
    out.json({"ok": True, "name": ctx.spec.name, "backend": ctx.backend, "command": command,
              "points": job.point_count, "tasks": job.task_count,
              "points_per_task": job.points_per_task, "globals": ctx.spec.model.globals,
              "shown": tasks, "reduce": ctx.spec.model.collect.reduce})


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

    out = Output(as_json)
    ctx = _context(spec_path, backend, state_dir, parallel)
    sub, be, _ = jobs.submit(ctx, new=new)
    if ctx.backend == "local":
        be.start(foreground=False, parallel=parallel, progress=ctx.progress)
    verb = "already submitted" if sub.already_submitted else ("resumed" if sub.resumed
                                                              else "submitted")
    out.note(f"{verb}: {sub.points} points in {sub.tasks} tasks on the {ctx.backend} backend")
    out.line(sub.job_id)
    out.json({"ok": True, "job_id": sub.job_id, "backend": ctx.backend, "tasks": sub.tasks,
              "points": sub.points, "resumed": sub.resumed,
              "already_submitted": sub.already_submitted})


def _print_status(out: Output, status) -> None:
    out.line(f"job {status.job_id}: {status.job_state}")
    out.line(f"  tasks {status.total}: {status.active} active, {status.running} running, "
             f"{status.succeeded} succeeded, {status.failed} failed")
    for note in status.notes:
        out.line(f"  note: {note}")
    for failure in status.failures[:20]:
        code = "-" if failure.exit_code is None else failure.exit_code
        reason = f" {failure.code}: {failure.message}" if failure.code else ""
        out.line(f"  failed {failure.task_id} (exit code {code}){reason}")
        if failure.stderr_tail:
            for text in failure.stderr_tail.splitlines()[-5:]:
                out.line(f"    | {text}")
    if len(status.failures) > 20:
        out.line(f"  ... and {len(status.failures) - 20} more failed tasks (--json lists all)")


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@json_option
def status(spec_path, backend, state_dir, job_id, as_json) -> None:
    """Counts by state, and failed tasks with exit codes (exit 1 if any failed)."""
    out = Output(as_json)
    ctx = _context(spec_path, backend, state_dir)
    state = ctx.find_job(job_id)
    st = ctx.backend_for(state).status()
    _print_status(out, st)
    out.json({"ok": st.failed == 0, **st.to_json()})
    if st.failed:
        sys.exit(EXIT_TASKS_FAILED)


def _report_collected(out: Output, collected) -> None:
    from superbatch.results import format_value

    if collected.missing:
        out.note(f"warning: {len(collected.missing)} of {collected.points} outputs are "
                 f"missing; the result reduces the other {collected.points - len(collected.missing)}.")
    if collected.output:
        out.note(f"wrote {collected.output}")
    out.line(format_value(collected.result))
    out.json({"ok": True, "job_id": collected.job_id, "result": collected.result,
              "points": collected.points, "missing": len(collected.missing),
              "output": collected.output})


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@click.option("--wait", is_flag=True, help="Wait for the job to finish first.")
@collect_options
@json_option
def collect(spec_path, backend, state_dir, job_id, wait, timeout, allow_missing, output,
            as_json) -> None:
    """Download every task's output, reduce, print the result as the last line."""
    from superbatch import jobs

    out = Output(as_json)
    ctx = _context(spec_path, backend, state_dir)
    state = ctx.find_job(job_id)
    _report_collected(out, jobs.collect(ctx, state, wait, timeout, allow_missing, output))


@cli.command()
@SPEC
@backend_option
@state_dir_option
@parallel_option
@new_option
@collect_options
@json_option
def run(spec_path, backend, state_dir, parallel, new, timeout, allow_missing, output,
        as_json) -> None:
    """Submit, wait and collect."""
    from superbatch import jobs

    out = Output(as_json)
    ctx = _context(spec_path, backend, state_dir, parallel)
    sub, be, _ = jobs.submit(ctx, new=new)
    out.note(f"job {sub.job_id}: {sub.points} points in {sub.tasks} tasks on the "
             f"{ctx.backend} backend")
    if ctx.backend == "local":
        be.start(foreground=True, parallel=parallel, progress=ctx.progress)
    _report_collected(out, jobs.collect(ctx, ctx.state(sub.job_id), True, timeout,
                                        allow_missing, output))


@cli.command()
@SPEC
@click.argument("task_id", required=False)
@backend_option
@state_dir_option
@job_id_option
@click.option("--stream", type=click.Choice(["both", "stdout", "stderr"]), default="both",
              show_default=True)
@json_option
def logs(spec_path, task_id, backend, state_dir, job_id, stream, as_json) -> None:
    """A task's stdout and stderr (default: the first failed task, else the first task)."""
    out = Output(as_json)
    ctx = _context(spec_path, backend, state_dir)
    state = ctx.find_job(job_id)
    be = ctx.backend_for(state)
    if task_id is None:
        st = be.status()
        task_id = st.failures[0].task_id if st.failures else \
            f"task-{0:0{be.manifest['task_id_width']}d}"
    got = be.logs(task_id)
    for name, text in (("stdout", got.stdout), ("stderr", got.stderr)):
        if stream in ("both", name):
            if stream == "both":
                out.line(f"--- {task_id} {name} ---")
            out.line(text.rstrip("\n"))
    out.json({"ok": True, "task_id": task_id, "stdout": got.stdout, "stderr": got.stderr})


@cli.command()
@SPEC
@click.argument("task_ids", nargs=-1)
@backend_option
@state_dir_option
@job_id_option
@parallel_option
@json_option
def retry(spec_path, task_ids, backend, state_dir, job_id, parallel, as_json) -> None:
    """Re-run the failed tasks (or the given failed TASK_IDS)."""
    out = Output(as_json)
    ctx = _context(spec_path, backend, state_dir, parallel)
    state = ctx.find_job(job_id)
    be = ctx.backend_for(state)
    failed = [f.task_id for f in be.status().failures]
    if task_ids:
        unknown = sorted(set(task_ids) - set(failed))
        if unknown:
            raise SuperbatchError(f"not failed tasks of job {state.job_id}: "
                                  f"{', '.join(unknown)}; `superbatch status` lists the "
                                  f"failed ones.")
        failed = list(task_ids)
    requeued = be.retry(failed)
    if ctx.backend == "local" and requeued:
        be.start(foreground=False, parallel=parallel, progress=ctx.progress)
    out.line(f"job {state.job_id}: requeued {len(requeued)} failed tasks")
    out.json({"ok": True, "job_id": state.job_id, "requeued": requeued})


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@json_option
def cancel(spec_path, backend, state_dir, job_id, as_json) -> None:
    """Stop the job: running tasks are terminated, no more start."""
    out = Output(as_json)
    ctx = _context(spec_path, backend, state_dir)
    state = ctx.find_job(job_id)
    ctx.backend_for(state).cancel()
    out.line(f"job {state.job_id}: cancelled")
    out.json({"ok": True, "job_id": state.job_id, "job_state": "terminated"})


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@click.option("--pool", "include_pool", is_flag=True,
              help="Also delete the pool (default: only when azure.pool.delete_when_done).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete(spec_path, backend, state_dir, job_id, include_pool, yes, as_json) -> None:
    """Remove what the job created (job, its blobs, local state)."""
    out = Output(as_json)
    ctx = _context(spec_path, backend, state_dir)
    state = ctx.find_job(job_id)
    if not yes:
        if not sys.stdin.isatty():
            raise SuperbatchError(f"refusing to delete job {state.job_id} without --yes "
                                  f"(no terminal to confirm on).")
        click.confirm(f"Delete job {state.job_id} and everything it created?", abort=True,
                      err=True)
    be = ctx.backend_for(state)
    removed = be.delete(include_pool or ctx.spec.model.azure.pool.delete_when_done)
    state.remove()
    removed.append(f"local state {state.dir}")
    for item in removed:
        out.line(f"deleted {item}")
    out.json({"ok": True, "job_id": state.job_id, "deleted": removed})


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


@cli.command("emulator", context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True}, add_help_option=False)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Serve a loopback Azure Batch emulator (see docs/emulator.md; --help for options)."""
    from superbatch.emulator.cli import emulator_command

    emulator_command.main(args=ctx.args, prog_name="superbatch emulator",
                          standalone_mode=True)


def main() -> None:
    """Console entry point."""
    try:
        cli.main(prog_name="superbatch")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else
                                                           EXIT_BAD_INPUT)
        sys.exit(code)


if __name__ == "__main__":
    main()
