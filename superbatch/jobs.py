"""The operations behind the commands, shared by every backend.

validate/plan -> submit (a new job, or the same job resumed or reused) -> wait -> collect;
plus finding a job. "The same job" means the same identity (identity.py): the spec, the
points file and the worker's files; "latest" means the highest submission number.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from superbatch import clock
from superbatch.backends.base import Backend, JobStatus
from superbatch.backends.registry import backend_class
from superbatch.codec import get_codec
from superbatch.errors import TasksFailed, TimedOut, UserError
from superbatch.identity import Identity, changed_parts, describe_change, job_identity
from superbatch.plan import Chunking, JobPlan, plan_from_record
from superbatch.progress import Progress
from superbatch.record import JobRecord, StatusSnapshot
from superbatch.reduce import make_reducer
from superbatch.results import write_result
from superbatch.spec import Spec
from superbatch.state import (
    JobEntry,
    JobState,
    atomic_write_bytes,
    file_lock,
    list_jobs,
    new_job_id,
    next_sequence,
    note_result_written,
    spec_lock_path,
    state_root,
)

SHOWN_FAILURES = 20


def worker_command(spec: Spec, backend: type[Backend]) -> str:
    """The worker command with ``{worker_dir}`` resolved for the backend."""
    return spec.model.worker.command.replace("{worker_dir}", backend.worker_dir(spec))


@dataclass
class Context:
    """What every command needs: the spec, the backend and where state lives."""

    spec: Spec
    backend_name: str
    state_root: Path
    parallel: int | None = None
    progress: Progress = field(default_factory=Progress)
    notes: list[str] = field(default_factory=list)  # side information for the user

    @property
    def backend(self) -> type[Backend]:
        return backend_class(self.backend_name)

    def state(self, job_id: str) -> JobState:
        return JobState(self.state_root, job_id)

    def submissions(self) -> list[JobEntry]:
        """This spec's jobs on this backend, oldest first (damaged ones reported once)."""
        found = []
        for entry in list_jobs(self.state_root):
            if entry.record is None:
                note = f"skipped {self.state_root / entry.job_id}: {entry.problem}"
                if note not in self.notes:
                    self.notes.append(note)
            elif (
                entry.record.spec_path == str(self.spec.path)
                and entry.record.backend == self.backend_name
            ):
                found.append(entry)
        return found

    def find_job(self, job_id: str | None, for_results: bool = False) -> JobState:
        """The job named by ``--job-id``; else the latest submission of this spec (with
        ``for_results``, the latest whose computation is the spec's as it is now)."""
        if job_id:
            state = self.state(job_id)
            if not state.exists():
                raise UserError(
                    f"no job {job_id!r} in {self.state_root}; `superbatch status "
                    f"{self.spec.path}` without --job-id shows the latest one."
                )
            return state
        entries = self.submissions()
        if not entries:
            raise UserError(
                f"{self.spec.path} has not been submitted to the {self.backend_name} "
                f"backend yet (no state in {self.state_root}); run `superbatch "
                f"submit {self.spec.path}` or `superbatch run` first."
            )
        if not for_results:
            return self.state(entries[-1].job_id)
        identity = self.identity()
        for entry in reversed(entries):
            if entry.record.identity == identity.digest:
                return self.state(entry.job_id)
            state = self.state(entry.job_id)
            if identity.digest in state.read_progress().retried_as:
                self.notes.append(
                    f"job {entry.job_id} ran some tasks before and some after "
                    f"its spec or worker changed (they were retried)"
                )
                return state
        latest = entries[-1].record
        what = describe_change(self.state(latest.job_id), latest, identity)
        raise UserError(
            f"{what} changed since job {latest.job_id} was submitted from "
            f"{self.spec.path}, so that job's results are for another computation. Run "
            f"`superbatch run {self.spec.path}` to compute the current one, or "
            f"pass --job-id {latest.job_id} to collect that job as it was."
        )

    def identity(self) -> Identity:
        return job_identity(self.spec, self.state_root)

    def backend_for(self, state: JobState, record: JobRecord | None = None) -> Backend:
        record = record or state.read_record()
        return backend_class(record.backend)(state, record)


def make_context(
    spec: Spec,
    backend: str | None,
    state_dir: str | None,
    parallel: int | None = None,
    progress: Progress | None = None,
) -> Context:
    name = backend or spec.model.backend
    backend_class(name).check_spec(spec)
    return Context(
        spec, name, state_root(spec.directory, state_dir), parallel, progress or Progress()
    )


def build_plan(ctx: Context) -> JobPlan:
    """The spec's tasks, checked against what the backend's service accepts."""
    backend = ctx.backend
    plan = JobPlan.build(ctx.spec, backend.slots(ctx.spec, ctx.parallel))
    backend.check_plan(ctx.spec, plan)
    return plan


def remember(state: JobState, st: JobStatus) -> None:
    """Keep the status just seen, for `superbatch jobs` (no service needed to list)."""
    snapshot = StatusSnapshot(
        total=st.total,
        active=st.active,
        running=st.running,
        succeeded=st.succeeded,
        failed=st.failed,
        missing=st.missing,
        job_state=st.job_state,
        done=st.done,
        at=clock.now(),
    )
    state.update_progress(last_status=snapshot)


def status(ctx: Context, state: JobState) -> JobStatus:
    """The job's status, with the points (parameters) of the first failed tasks."""
    backend = ctx.backend_for(state)
    st = backend.status()
    remember(state, st)
    if st.failures:
        try:
            plan = plan_from_record(backend.record)
        except UserError:
            return st  # the points file changed: the ids and codes still tell
        for failure in st.failures[:SHOWN_FAILURES]:
            index = plan.task_index(failure.task_id)
            if index is not None:
                task = plan.task(index)
                failure.points = list(
                    plan.grid.points(task.first_point, task.first_point + task.point_count)
                )
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


def submit(ctx: Context, new: bool = False) -> tuple[Submission, Backend]:
    """Submit the spec, or resume/reuse the job that computes the same (idempotent).

    One submit per spec at a time: a second caller waits, then joins the first's job.
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
            found = _same_job(ctx, identity)
            if found is not None:
                return _resume(ctx, found, plan)
        if ctx.state(job_id).dir.exists():  # taken meanwhile by another process
            job_id = _free_job_id(ctx)
            target = ctx.backend.connect(ctx.spec, job_id, ctx.parallel)
        return _new_job(ctx, plan, identity, job_id, target)


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
    if est.cost_usd is not None:
        ctx.notes.append(
            f"estimate: about ${est.cost_usd:.2f} at list prices over about "
            f"{est.duration_s / 3600:.2f} h (`superbatch plan` details it)"
        )
    if est.budget_usd is None:
        return
    if est.cost_usd is None:
        ctx.notes.append(
            "the budget is enforced while the job runs, but the job's cost "
            "cannot be estimated beforehand (`superbatch plan` says why)"
        )
    elif est.cost_usd > est.budget_usd:
        raise UserError(
            f"{ctx.spec.where('azure', 'budget')}: the job's estimate, about "
            f"${est.cost_usd:.2f}, exceeds its budget of ${est.budget_usd:.2f} "
            f"(azure.budget.max_usd); nothing was created. Raise the budget, or "
            f"use fewer or cheaper nodes (`superbatch plan` shows the figures)."
        )


def _latest_matching(ctx: Context, identity: Identity) -> JobEntry | None:
    return next(
        (e for e in reversed(ctx.submissions()) if e.record.identity == identity.digest), None
    )


def _same_job(ctx: Context, identity: Identity) -> JobEntry | None:
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


def _finished(ctx: Context, state: JobState) -> bool:
    if state.read_progress().submit_state != "submitted":
        return False
    try:
        return ctx.backend_for(state).status(with_failures=False).done
    except Exception:  # noqa: BLE001 - an unreachable job counts as not finished
        return False


def _resume(ctx: Context, entry: JobEntry, plan: JobPlan) -> tuple[Submission, Backend]:
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
    ctx: Context, plan: JobPlan, identity: Identity, job_id: str, target: dict
) -> tuple[Submission, Backend]:
    spec = ctx.spec
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
        command=worker_command(spec, ctx.backend),
        parallel=ctx.parallel,
        target=target,
    )
    state = ctx.state(job_id)
    state.write_record(record)
    state.write_worker_files(identity.files)
    state.update_progress(submit_state="submitting")
    backend = ctx.backend_for(state, record)
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
        changed = current.digest != record.identity
        if changed:
            what = " and ".join(changed_parts(record.identity_parts, current.parts))
            ctx.notes.append(
                f"{what} changed since job {state.job_id} was submitted: the "
                f"retried tasks run with the changes"
            )
        state.update_progress(
            lambda p: p.model_copy(
                update={
                    "finished_at": None,
                    "final_status": None,
                    "retried_as": sorted({*p.retried_as, current.digest})
                    if changed
                    else p.retried_as,
                }
            )
        )
    return requeued


# -- collect -----------------------------------------------------------------------------


@dataclass
class Collected:
    job_id: str
    result: Any
    points: int
    missing: list[int]
    output: str | None
    status: JobStatus
    notes: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)


def collect(
    ctx: Context,
    state: JobState,
    wait: bool,
    timeout: float | None = None,
    allow_missing: bool = False,
    output: str | None = None,
) -> Collected:
    """Fetch every point's output, reduce them in point order, write the result file."""
    record = state.read_record()
    backend = ctx.backend_for(state, record)
    status = backend.wait(timeout, ctx.progress) if wait else backend.status()
    remember(state, status)
    if wait and not status.done:
        raise TimedOut(
            f"job {state.job_id} is not finished after {timeout:g} s "
            f"({status.completed} of {status.total} tasks completed); nothing is "
            f"wrong: `superbatch collect --wait` waits again.",
            details={"status": status.to_json()},
        )
    notes: list[str] = []
    if status.done:
        notes += backend.seal()
        if state.read_progress().finished_at is None:
            state.update_progress(finished_at=clock.now())
    points = record.point_count
    notes += backend.fetch_outputs(range(points), ctx.progress)
    missing = [i for i in range(points) if not backend.output_path(i).exists()]
    if missing and not allow_missing:
        raise TasksFailed(
            _missing_message(state.job_id, status, missing, points),
            details={"status": status.to_json(), "missing_points": missing[:1000]},
        )
    reduction = make_reducer(
        ctx.spec.model.collect.reduce, [ctx.spec.directory, ctx.spec.worker_directory]
    )
    target = output or ctx.spec.model.collect.output
    path = None if not target else (Path(target) if output else ctx.spec.resolve(target))
    if path is not None and reduction.kind != "none":
        note_result_written(ctx.state_root, path)
    result, written = _reduce(
        reduction, backend, record, missing, path, tuple(ctx.spec.model.collect.allow_pickle)
    )
    cleaned = backend.cleanup_after_collect() if not missing and status.done else []
    state.update_progress(collected_at=clock.now(), result_file=written)
    return Collected(state.job_id, result, points, missing, written, status, notes, cleaned)


class _Cursor:
    """Remembers which point is being decoded or reduced, for error messages."""

    point: int | None = None


MISSING = object()


def _outputs(
    backend: Backend,
    record: JobRecord,
    missing: list[int],
    cursor: _Cursor,
    keep_missing: bool,
    allow: tuple[str, ...],
) -> Iterator[tuple[int, Any]]:
    """(point, decoded output) in point order; MISSING for absent ones if ``keep_missing``."""
    from superbatch.safepickle import UntrustedPickle

    codec = get_codec(record.format)
    absent = set(missing)
    for index in range(record.point_count):
        cursor.point = index
        if index in absent:
            if keep_missing:
                yield index, MISSING
            continue
        path = backend.output_path(index)
        try:
            value = codec.loads(path.read_bytes(), allow)
        except UntrustedPickle as exc:
            raise TasksFailed(
                f"the output of point {index} ({path}) references {exc}, which superbatch "
                f"does not unpickle: a pickle can run code on this machine. If your worker "
                f"returns such objects and you trust everyone who can write the job's "
                f'storage, list it in collect.allow_pickle (e.g. ["{exc.module}.*"]); '
                f"see docs/worker.md."
            ) from None
        except Exception as exc:  # noqa: BLE001 - any decode failure is a corrupt file
            raise TasksFailed(
                f"the output of point {index} ({path}) cannot be decoded as "
                f"{codec.name} ({type(exc).__name__}: {exc}). Check what "
                f"the worker writes; if the file was damaged after it was "
                f"collected, delete it and collect again (a cloud backend "
                f"fetches it again)."
            ) from None
        yield index, value


def _reduce(
    reduction,
    backend: Backend,
    record: JobRecord,
    missing: list[int],
    path: Path | None,
    allow: tuple[str, ...],
) -> tuple[Any, str | None]:
    """Apply the reduction; write the result file. Returns (result, the file written)."""
    from superbatch import gridresult, tables

    cursor = _Cursor()
    kind = reduction.kind
    try:
        if kind == "none":
            return str(backend.state.outputs_dir), None
        if kind == "values":
            result = reduction(
                v for _, v in _outputs(backend, record, missing, cursor, False, allow)
            )
        elif kind == "points":
            plan = plan_from_record(record)
            pairs = list(_outputs(backend, record, missing, cursor, False, allow))
            points = list(plan.grid.points())
            result = reduction.function([points[i] for i, _ in pairs], [v for _, v in pairs])
        elif kind == "table":
            plan = plan_from_record(record)
            chunks = Chunking(record.point_count, record.points_per_task)
            outputs = _outputs(backend, record, missing, cursor, True, allow)
            items = (
                (
                    i,
                    chunks.task_of_point(i).id,
                    params,
                    tables.MISSING if value is MISSING else value,
                )
                for params, (i, value) in zip(plan.grid.points(), outputs)
            )
            return tables.write_table(items, path), str(path)
        else:  # grid
            outputs = _outputs(backend, record, missing, cursor, False, allow)
            grid = gridresult.build_grid(record.spec, outputs)
            if path is None:
                return grid.json(), None
            atomic_write_bytes(path, gridresult.grid_bytes(grid, path.suffix.lower()))
            return grid.summary() | {"output": str(path)}, str(path)
    except (TasksFailed, UserError):
        raise
    except Exception as exc:  # noqa: BLE001 - the reducer met values it cannot combine
        where = f" at point {cursor.point}" if cursor.point is not None else ""
        raise UserError(
            f"collect.reduce {reduction.name!r} failed{where}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            f". The outputs are kept: change collect.reduce (e.g. to list) and "
            f"run `superbatch collect` again."
        ) from None
    if path is not None:
        write_result(result, path)
    return result, str(path) if path else None


def _missing_message(job_id: str, status: JobStatus, missing: list[int], points: int) -> str:
    shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
    parts = [f"job {job_id}: {len(missing)} of {points} outputs are missing (points {shown})."]
    if status.blocked:
        parts.append(f"Its tasks cannot run: {status.blocked}.")
    elif status.cancelled:
        parts.append(
            "The job was cancelled; `superbatch retry` runs its unfinished and failed tasks."
        )
    elif not status.done:
        parts.append(
            f"The job is not finished ({status.completed} of {status.total} tasks "
            f"completed): use `collect --wait`."
        )
    if status.failures:
        ids = ", ".join(f.task_id for f in status.failures[:5])
        parts.append(
            f"{status.failed} task{'s' if status.failed != 1 else ''} failed "
            f"({ids}{' ...' if status.failed > 5 else ''}): see `superbatch status` "
            f"and `superbatch logs`, then `superbatch retry`."
        )
    parts.append("`collect --allow-missing` reduces the outputs that exist.")
    return " ".join(parts)
