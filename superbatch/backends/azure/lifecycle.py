"""An azure job after submit: retry rounds, cleanup and deletion (cancel and sealing:
``stopping.py``).

A completed Batch job cannot take tasks again, so a retry adds the tasks to a new Batch job on
the same pool, ``<job-id>-r<N>`` (a retry round), whose outputs land beside the others. A
round first deletes what its tasks' output directories hold, so that a task's own output is
again the only blob there (``outputs.py``).
"""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from superbatch.backends.azure import observe, outputs
from superbatch.backends.azure.session import Session, error_code
from superbatch.backends.azure.spec import azure_section
from superbatch.backends.azure.submit import Submitter, reconcile
from superbatch.backends.azure.target import retry_job_id, task_of_output
from superbatch.backends.base import JobStatus, pick_retries
from superbatch.jobs.record import FinalStatus, JobProgress, RetryRound
from superbatch.plan.chunks import JobPlan, plan_from_record
from superbatch.util.bars import Progress


def grant_writes(session: Session, tasks: int) -> None:
    """Let the tasks write the job's container until the SAS expiry (again, after a seal)."""
    if session.policy_id:
        expiry = session.sas_expiry(tasks)
        session.call(
            lambda: session.outputs.grant_task_writes(session.policy_id, expiry),
            "set the job container's access policy",
        )


def points_of(plan: JobPlan):
    def get(task):
        return list(plan.grid.points(task.first_point, task.first_point + task.point_count))

    return get


def clear_outputs(session: Session, round_: RetryRound) -> None:
    """Delete the round's tasks' earlier outputs (and what was written beside them), once,
    before any of its tasks is added: a task of the round may have uploaded already."""
    if round_.outputs_cleared:
        return
    task_ids = set(round_.task_ids)
    names = [
        b.name
        for b in session.call(lambda: session.outputs.list("out/"), "list outputs")
        if task_of_output(b.name) in task_ids
    ]
    session.call(lambda: session.outputs.delete_names(names), "delete the tasks' outputs")
    _mark_round(session, round_.job, "outputs_cleared")


def _mark_round(session: Session, job: str, flag: str) -> None:
    """Set ``flag`` on the retry round whose Batch job is ``job``."""

    def mark(progress: JobProgress) -> JobProgress:
        rounds = [
            r.model_copy(update={flag: True}) if r.job == job else r for r in progress.retries
        ]
        return progress.model_copy(update={"retries": rounds})

    session.state.update_progress(mark)


def add_round(session: Session, plan: JobPlan, round_: RetryRound) -> None:
    """Put every task of a retry round into its Batch job, then let the job end."""
    clear_outputs(session, round_)
    # The round's ids were checked against the plan when it was made (jobs/lifecycle.py).
    tasks = [plan.task(i) for i in map(plan.task_index, round_.task_ids) if i is not None]
    expiry = session.sas_expiry(len(tasks))
    grant_writes(session, len(tasks))
    sub = Submitter(session, round_.job, Progress(enabled=False))
    sub.ensure_job()
    ctx = sub.context(expiry, plan.multi_point)
    sub.add(((t, points_of(plan)(t)) for t in tasks), len(tasks), ctx, expiry, skip_recorded=False)
    reconcile(sub, tasks, points_of(plan), ctx, expiry)
    sub.finish_job()
    _mark_round(session, round_.job, "submitted")


def finish_rounds(session: Session) -> None:
    """Complete retry rounds an interrupted command left half-added."""
    pending = [r for r in session.state.read_progress().retries if not r.submitted]
    if pending:
        plan = plan_from_record(session.record)
        for round_ in pending:
            add_round(session, plan, round_)


def retry(session: Session, task_ids: list[str] | None) -> list[str]:
    finish_rounds(session)
    st = observe.status(session)
    failed = {f.task_id for f in st.failures}
    unfinished: set[str] = set()
    if st.job_state == "terminated":
        unfinished = _unfinished(session) - failed
    untrusted: set[str] = set()
    if not session.state.read_progress().final_status:  # else every output is here
        untrusted = outputs.untrusted_tasks(session) - failed - unfinished
    chosen = pick_retries(session.job_id, task_ids, failed | unfinished | untrusted)
    if not chosen:
        return []
    plan = plan_from_record(session.record)
    progress = session.state.read_progress()
    round_ = RetryRound(
        job=retry_job_id(session.job_id, len(progress.retries) + 1),
        task_ids=chosen,
        from_failed=len(set(chosen) & failed),
        from_unfinished=len(set(chosen) & unfinished),
        from_untrusted=len(set(chosen) & untrusted),
    )
    session.state.update_progress(
        lambda p: p.model_copy(
            update={
                "retries": [*p.retries, round_],
                "job_state": "active",
                "finished_at": None,
                "final_status": None,
            }
        )
    )
    add_round(session, plan, round_)
    return chosen


def add_missing(session: Session, task_ids: list[str]) -> None:
    """Tasks the job's Batch job lacks but can no longer take (it completed): a new round."""
    finish_rounds(session)
    progress = session.state.read_progress()
    round_ = RetryRound(
        job=retry_job_id(session.job_id, len(progress.retries) + 1),
        task_ids=task_ids,
        from_missing=len(task_ids),
    )
    session.state.update_progress(
        lambda p: p.model_copy(
            update={"retries": [*p.retries, round_], "finished_at": None, "final_status": None}
        )
    )
    add_round(session, plan_from_record(session.record), round_)


def _unfinished(session: Session) -> set[str]:
    """Tasks whose latest Batch job did not complete them (they never ran or never ended)."""
    latest: dict[str, str] = {}
    for job_id in session.batch_jobs():
        for task in session.call(
            lambda j=job_id: list(session.client.list_tasks(j, select=["id", "state"])),
            f"list tasks of {job_id}",
        ):
            latest[task.id] = task.state
    plan_ids = set(plan_from_record(session.record).task_ids())
    return {t for t in plan_ids if latest.get(t) != "completed"}


def delete_batch_jobs(session: Session) -> list[str]:
    """Delete the job's Batch jobs (the job and its retry rounds); gone ones, and ones the
    service is already deleting (409 ``JobBeingDeleted``), are skipped."""
    removed = []
    for job_id in session.batch_jobs():
        try:
            session.call(lambda j=job_id: session.client.begin_delete_job(j), f"delete {job_id}")
            removed.append(f"batch job {job_id}")
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            if error_code(exc) != "JobBeingDeleted":
                raise session.refused(exc, f"deleting job {job_id}") from None
    return removed


def delete_blobs(session: Session) -> list[str]:
    """The job's inputs folder in the shared container, and the job's own container."""
    removed = []
    prefix = f"{session.job_id}/"
    count = session.call(lambda: session.inputs.delete_prefix(prefix), "delete inputs")
    removed.append(f"{count} blobs under {session.target.container}/{prefix}")
    if session.call(session.outputs.delete, "delete the job's container"):
        removed.append(f"container {session.target.job_container}")
    return removed


def delete(session: Session, include_pool: bool) -> list[str]:
    removed = delete_batch_jobs(session)
    removed += delete_blobs(session)
    if include_pool or azure_section(session.record.spec).pool.delete_when_done:
        pool_id = session.target.pool_id
        try:
            session.call(lambda: session.client.begin_delete_pool(pool_id), f"delete {pool_id}")
            removed.append(f"pool {pool_id}")
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            if error_code(exc) != "PoolBeingDeleted":
                raise session.refused(exc, f"deleting pool {pool_id}") from None
    return removed


def cleanup_after_collect(session: Session, status: JobStatus) -> list[str]:
    """What ``azure.cleanup`` asks for once every output is safely on this machine."""
    cleanup = azure_section(session.record.spec).cleanup
    removed = []
    if cleanup.job:
        final = FinalStatus(
            total=status.total,
            succeeded=status.succeeded,
            failed=status.failed,
            job_state=status.job_state,
        )
        session.state.update_progress(final_status=final)
        removed += delete_batch_jobs(session)
    if cleanup.container:
        removed += delete_blobs(session)
    return removed
