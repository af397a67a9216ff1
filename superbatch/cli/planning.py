"""validate and plan: check a spec and show its tasks (and, on a paid backend, the estimate); nothing is created."""

from __future__ import annotations

import json

import click

from superbatch.cli.app import Output, cli
from superbatch.cli.options import (
    SPEC,
    backend_option,
    json_option,
    load_context,
    sample_option,
)
from superbatch.cli.shown import SHOWN_POINTS, describe_tasks, plural

# -- checking and planning -----------------------------------------------------------------


@cli.command()
@SPEC
@backend_option
@json_option
def validate(spec_path: str, backend: str | None, as_json: bool) -> None:
    """Parse and check the spec (nothing is created); print the task count."""
    from superbatch.results.checks import check_everything

    out = Output(as_json)
    ctx = load_context(spec_path, backend, None)
    plan = check_everything(ctx, None)
    out.line(
        f"{spec_path}: valid: {describe_tasks(plan.point_count, plan.task_count, plan.points_per_task)}, "
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
@sample_option
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
    from superbatch.cli.costs import estimate_lines, per_point
    from superbatch.contract.codec import to_jsonable
    from superbatch.jobs.context import worker_command
    from superbatch.results.checks import check_everything

    out = Output(as_json)
    ctx = load_context(spec_path, backend, None)
    job = check_everything(ctx, None)
    shown = job.task_count if limit == 0 else min(limit, job.task_count)
    tasks = []
    for task, points in job.points_with_tasks():
        if task.number >= shown:
            break
        tasks.append({"id": task.id, "points": list(task.point_indices), "inputs": points})
    command = worker_command(ctx.spec, ctx.backend)
    model = ctx.spec.model
    out.line(
        f"job {ctx.spec.name}: {describe_tasks(job.point_count, job.task_count, job.points_per_task)} "
        f"on the {ctx.backend_name} backend"
    )
    if model.worker.function:
        out.line(f"function: {model.worker.function}")
    else:
        out.line(f"command: {command}")
    out.line(f"globals: {json.dumps(to_jsonable(model.globals))}")
    for listed in tasks:
        inputs = listed["inputs"]
        if len(inputs) == 1:
            text = json.dumps(to_jsonable(inputs[0]))
        else:
            text = ", ".join(json.dumps(to_jsonable(p)) for p in inputs[:SHOWN_POINTS])
            more = len(inputs) - SHOWN_POINTS
            text = f"{len(inputs)} points: {text}" + (f", ... and {more} more" if more > 0 else "")
        out.line(f"  {listed['id']}  {text}")
    if shown < job.task_count:
        out.line(f"  ... and {plural(job.task_count - shown, 'more task')} (--limit 0 shows all)")
    out.line(
        f"collect: reduce {model.collect.reduce}"
        + (f" -> {model.collect.output}" if model.collect.output else "")
    )
    seconds, source = per_point(ctx, job, sample)
    est = ctx.backend.estimate(ctx.spec, job, seconds, source)
    for line in estimate_lines(est, ctx.backend.budget_key) if est else []:
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
