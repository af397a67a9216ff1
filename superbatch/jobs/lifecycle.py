"""The life of a job, shared by every backend: submit (a new job, or the same job resumed or
reused, one submit per spec at a time), status, retry. "The same job" means the same
identity (identity.py): the spec, the points file and the worker's files.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from superbatch.backends.base import Backend, JobStatus
from superbatch.errors import UserError
from superbatch.jobs import codestore
from superbatch.jobs.context import Context, build_plan, worker_command
from superbatch.jobs.record import JobRecord
from superbatch.jobs.state import (
    JobState,
    RecordedJob,
    new_job_id,
    next_sequence,
    spec_lock_path,
)
from superbatch.plan.chunks import Chunking, JobPlan, plan_from_record
from superbatch.plan.identity import Identity, describe_change
from superbatch.util import clock
from superbatch.util.files import file_lock

SHOWN_FAILURES = 20


def status(ctx: Context, state: JobState) -> JobStatus:
    """The job's status, with the points (parameters) of the first failed tasks."""
    backend = ctx.backend_for(state)
    st = backend.status()
    state.remember_status(st)
    if st.failures:
        try:
            plan = plan_from_record(backend.record)
        except UserError:
            return st  # the points file changed: the ids and codes still tell
        for failure in st.failures[:SHOWN_FAILURES]:
            index = plan.task_index(failure.task_id)
            if index is None:
                continue
            task = plan.task(index)
            first, end = task.first_point, task.first_point + task.point_count
            if failure.point is not None and first <= failure.point < end:
                first, end = failure.point, failure.point + 1  # the point that failed
            failure.points = list(plan.grid.points(first, end))
    return st


# -- submit ------------------------------------------------------------------------------


@dataclass
class Submission:
    job_id: str
    tasks: int
    points: int
    resumed: bool = False
    reused: bool = False
    submitted_at: float | None = None
    finished_at: float | None = None
    notes: list[str] = field(default_factory=list)


def submit(
    ctx: Context, new: bool = False, then_start: bool | None = None
) -> tuple[Submission, Backend]:
    """Submit the spec, or resume/reuse the job that computes the same (idempotent).

    One submit per spec at a time: a second caller waits, then joins the first's job.
    ``then_start``: ``start(foreground=then_start)`` follows in this process, so a new job's
    backend may prepare for it while it is submitted (``prepare_to_run``).
    """
    plan = build_plan(ctx)
    identity = ctx.identity()
    # Credentials are tried (read-only) before anything, even the state directory, exists.
    job_id = _free_job_id(ctx)
    target = ctx.backend.connect(ctx.spec, job_id, ctx.parallel)
    if new or _latest_matching(ctx, identity) is None:
        preflight(ctx, plan)
    waited = []
    lock = spec_lock_path(ctx.state_root, ctx.spec.path)
    with file_lock(lock, "submit", wait=lambda: waited.append(True)):
        if waited:
            ctx.notes.append(f"waited for another submit of {ctx.spec.path} to finish")
        if not new:
            found = _same_job_or_copy(ctx, identity)
            if found is not None:
                return _resume(ctx, found, plan)
        if ctx.state(job_id).dir.exists():  # taken meanwhile by another process
            job_id = _free_job_id(ctx)
            target = ctx.backend.connect(ctx.spec, job_id, ctx.parallel)
        return _new_job(ctx, plan, identity, job_id, target, then_start)


def _free_job_id(ctx: Context) -> str:
    job_id = new_job_id(ctx.spec.name)
    while ctx.state(job_id).dir.exists():
        job_id = new_job_id(ctx.spec.name)
    return job_id


def preflight(ctx: Context, plan: JobPlan) -> None:
    """Before a new job: the backend's checks, and its estimate against the spec's budget.
    Problems are exit 2, with nothing created."""
    problems = [c for c in ctx.backend.preflight(ctx.spec, plan) if c.status == "problem"]
    if problems:
        raise UserError(
            "the pre-flight checks found problems (`superbatch doctor` shows them "
            "all): " + "; ".join(f"{c.name}: {c.detail}" for c in problems) + "."
        )
    given = ctx.spec.model.tasks.estimated_time
    est = ctx.backend.estimate(
        ctx.spec,
        plan,
        given.total_seconds() if given else None,
        "tasks.estimated_time" if given else "unknown",
    )
    if est is None:
        return
    if est.cost_usd is not None and est.duration_s is not None:
        ctx.notes.append(
            f"estimate: about ${est.cost_usd:.2f} at list prices over about "
            f"{est.duration_s / 3600:.2f} h (`superbatch plan` details it)"
        )
    if est.budget_usd is None:
        return
    key = ctx.backend.budget_key
    where = ctx.spec.where(*key[:-1])  # the budget's section: its line
    if est.budget_problem:
        raise UserError(f"{where}: {est.budget_problem}; nothing was created.")
    if est.cost_usd is None:
        ctx.notes.append(
            "the budget is enforced while the job runs, but the job's cost "
            "cannot be estimated beforehand (`superbatch plan` says why)"
        )
    elif est.cost_usd > est.budget_usd:
        raise UserError(
            f"{where}: the job's estimate, about "
            f"${est.cost_usd:.2f}, exceeds its budget of ${est.budget_usd:.2f} "
            f"({'.'.join(key)}); nothing was created. Raise the budget, or "
            f"use fewer or cheaper nodes (`superbatch plan` shows the figures)."
        )


def _latest_matching(ctx: Context, identity: Identity) -> RecordedJob | None:
    return next(
        (e for e in reversed(ctx.submissions()) if e.record.identity == identity.digest), None
    ) or ctx.copy_computing(identity.digest)


def _same_job(ctx: Context, identity: Identity) -> RecordedJob | None:
    entries = ctx.submissions()
    if not entries:
        return None
    latest = entries[-1]
    if latest.record.identity != identity.digest:
        state = ctx.state(latest.job_id)
        if not _finished(ctx, state):
            what = describe_change(state, latest.record, identity)
            raise UserError(
                f"{what} changed since job {latest.job_id} was submitted from "
                f"{ctx.spec.path}, and that job is not finished. Run `superbatch submit --new` to submit the "
                f"changed spec as a new job (or `superbatch cancel` the old one first)."
            )
    for entry in reversed(entries):
        if entry.record.identity == identity.digest:
            return entry
    return None


def _same_job_or_copy(ctx: Context, identity: Identity) -> RecordedJob | None:
    """This spec's job for ``identity``, else one submitted from a copy of the spec."""
    found = _same_job(ctx, identity)
    if found is None:
        found = ctx.copy_computing(identity.digest)
        if found is not None:
            ctx.using_copy(found)
    return found


def _finished(ctx: Context, state: JobState) -> bool:
    if state.read_progress().submit_state != "submitted":
        return False
    try:
        return ctx.backend_for(state).status(with_failures=False).done
    except Exception:  # noqa: BLE001 - an unreachable job counts as not finished
        return False


def _resume(ctx: Context, entry: RecordedJob, plan: JobPlan) -> tuple[Submission, Backend]:
    state = ctx.state(entry.job_id)
    record = entry.record
    backend = ctx.backend_for(state, record)
    progress = state.read_progress()
    sub = Submission(
        record.job_id, record.task_count, record.point_count, submitted_at=record.created
    )
    if progress.submit_state != "submitted":
        # Resume with the submission's own chunking (auto may pick another size now).
        sub.notes += backend.submit(JobPlan(plan.grid, record.points_per_task), ctx.progress)
        state.update_progress(submit_state="submitted")
        sub.resumed = True
    elif backend.status(with_failures=False).missing:
        # Submitted, yet the service lacks tasks (lost, or deleted outside superbatch).
        sub.notes += backend.submit(JobPlan(plan.grid, record.points_per_task), ctx.progress)
        sub.resumed = True
    else:
        sub.reused = True
        sub.finished_at = progress.finished_at
    return sub, backend


def _new_job(
    ctx: Context,
    plan: JobPlan,
    identity: Identity,
    job_id: str,
    target: dict,
    then_start: bool | None,
) -> tuple[Submission, Backend]:
    spec = ctx.spec
    state = ctx.state(job_id)
    with codestore.holding(ctx.state_root):  # until the record names the kept code
        kept = ctx.backend.keep_code(spec, ctx.state_root, identity)
        record = JobRecord(
            job_id=job_id,
            sequence=next_sequence(ctx.state_root),
            token=secrets.token_hex(16),
            backend=ctx.backend_name,
            spec_path=str(spec.path),
            spec=spec.model,
            identity=identity.digest,
            identity_parts=identity.parts,
            points_sha256=identity.points_sha256,
            created=clock.now(),
            point_count=plan.point_count,
            task_count=plan.task_count,
            points_per_task=plan.points_per_task,
            command=worker_command(spec, ctx.backend, kept),
            code=kept.digest if kept else None,
            parallel=ctx.parallel,
            target=target,
        )
        state.write_record(record)
    state.write_worker_files(identity.files)
    state.update_progress(submit_state="submitting")
    backend = ctx.backend_for(state, record)
    if then_start is not None:
        backend.prepare_to_run(then_start, ctx.progress)
    notes = backend.submit(plan, ctx.progress)
    state.update_progress(submit_state="submitted")
    return Submission(
        job_id, plan.task_count, plan.point_count, notes=notes, submitted_at=record.created
    ), backend


# -- retry -------------------------------------------------------------------------------


def retry(ctx: Context, state: JobState, task_ids: list[str] | None) -> list[str]:
    """Run failed tasks (or, after a cancel, unfinished ones) again."""
    if task_ids:
        chunks = Chunking(state.read_record().point_count, state.read_record().points_per_task)
        unknown = [t for t in task_ids if chunks.task_index(t) is None]
        if unknown:
            raise UserError(
                f"not tasks of job {state.job_id}: {', '.join(unknown[:10])} "
                f"(ids look like {chunks.task_id(0)}); `superbatch status` lists "
                f"the failed ones."
            )
    record = state.read_record()
    current = ctx.identity()
    requeued = ctx.backend_for(state, record).retry(task_ids or None)
    if requeued:
        if current.digest != record.identity:
            what = describe_change(state, record, current)
            ctx.notes.append(
                f"{what} changed since job {state.job_id} was submitted: the retried "
                f"tasks run what was submitted with the job (its spec and worker files); to "
                f"run the changed ones, submit again (`superbatch run` or `submit` notice "
                f"the change)"
            )
        state.update_progress(finished_at=None, final_status=None)
    return requeued
