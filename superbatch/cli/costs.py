"""What a job would cost and whether it can start: the estimate's lines, and ``doctor``."""

from __future__ import annotations

import sys

from superbatch.cli.app import Output, cli
from superbatch.cli.options import SPEC, backend_option, json_option, load_context, sample_option
from superbatch.errors import EXIT_BAD_INPUT

MARKS = {"ok": "ok", "problem": "PROBLEM", "not checked": "not checked"}


def _hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def estimate_lines(est, budget_key: tuple[str, ...]) -> list[str]:
    """The estimate, for people (``--json`` carries ``est.to_json()``); ``budget_key`` is
    the spec key of its budget (the backend's ``budget_key``)."""
    lines = [f"estimate: {est.resources}"]
    per = (
        "time per point unknown"
        if est.per_point_s is None
        else f"{est.per_point_s:.3g} s per point ({est.per_point_source})"
    )
    lines.append(f"  {est.tasks:,} tasks, {est.points:,} points; {per}")
    if est.duration_s is not None:
        hours = ", ".join(f"{v:.3g} node-hours {k}" for k, v in est.node_hours.items() if v)
        lines.append(
            f"  about {_hours(est.duration_s)} (h:mm) with node start-up"
            + (f"; {hours}" if hours else "")
        )
    prices = ", ".join(f"{k} ${v:.4g}/h" for k, v in est.price_per_hour.items() if v is not None)
    if est.cost_usd is not None:
        lines.append(
            f"  about ${est.cost_usd:.2f} at list prices ({prices}; {est.price_source}); "
            f"storage, egress and taxes not included"
        )
    else:
        why = (est.price_source or "no price").removeprefix("unknown: ")
        lines.append(f"  cost unknown ({why})")
    if est.budget_usd is not None:
        lines.append(f"  budget: ${est.budget_usd:.2f} ({'.'.join(budget_key)})")
        if est.budget_problem:
            lines.append(f"  note: {est.budget_problem}; until then `submit` refuses the job")
    lines += [f"  note: {n}" for n in est.notes]
    return lines


def per_point(ctx, plan, sample: int | None) -> tuple[float | None, str]:
    """The time per point: measured with --sample N, else tasks.estimated_time, else unknown."""
    if sample:
        from superbatch.plan.sampling import sample as run_sample

        return run_sample(ctx.spec, plan, sample)
    given = ctx.spec.model.tasks.estimated_time
    if given is not None:
        return given.total_seconds(), "tasks.estimated_time"
    return None, "unknown"


@cli.command()
@SPEC
@backend_option
@sample_option
@json_option
def doctor(spec_path, backend, sample, as_json) -> None:
    """Check, before anything is created, what would make the job fail on its backend:
    credentials, the container, the image, the pool, quotas; and what it would cost.

    Each check is ok, a PROBLEM (with the fix: exit 2), or not checked (and why).
    """
    from superbatch.results.checks import check_everything

    out = Output(as_json)
    ctx = load_context(spec_path, backend, None)
    plan = check_everything(ctx, None)
    checks = ctx.backend.preflight(ctx.spec, plan, thorough=True)
    for check in checks:
        out.line(f"{MARKS[check.status]:<12} {check.name}: {check.detail}")
    if not checks:
        out.line(
            f"ok           the {ctx.backend_name} backend needs nothing more: the spec is valid"
        )
    seconds, source = per_point(ctx, plan, sample)
    est = ctx.backend.estimate(ctx.spec, plan, seconds, source)
    if est is not None:
        for line in estimate_lines(est, ctx.backend.budget_key):
            out.line(line)
    problems = [c for c in checks if c.status == "problem"]
    out.json(
        {
            "ok": not problems,
            "checks": [c.to_json() for c in checks],
            "estimate": est.to_json() if est else None,
        }
    )
    if problems:
        out.note(
            f"error: {len(problems)} problem{'s' if len(problems) != 1 else ''} to fix "
            f"before submitting"
        )
        sys.exit(EXIT_BAD_INPUT)
