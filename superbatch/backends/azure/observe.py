"""Watching an azure job: counts across its Batch jobs (the job and its retry rounds),
failed tasks with their stderr, logs, and waiting."""

from __future__ import annotations

import re
import time

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from superbatch.backends.azure import stopping
from superbatch.backends.azure.pool import check_pool_health, pool_spend, stop_pool
from superbatch.backends.azure.session import Session, poll_seconds
from superbatch.backends.azure.spec import azure_section
from superbatch.backends.azure.target import log_prefix
from superbatch.backends.base import JobStatus, TaskFailure
from superbatch.backends.reports import LogChunk, TaskLogs
from superbatch.errors import BudgetExceeded, UserError
from superbatch.taskrunner import FAILED_POINT_LINE
from superbatch.util.bars import Progress
from superbatch.util.redact import redact

STDERR_TAIL = 400
_FAILED_POINT = re.compile(
    "^" + re.escape(FAILED_POINT_LINE).replace(r"\{point\}", r"(\d+)").replace(r"\{message\}", ""),
    re.MULTILINE,
)
FAILURES_WITH_STDERR = 10
POOL_CHECK_EVERY = 6  # polls


def status(session: Session, with_failures: bool = True) -> JobStatus:
    progress = session.state.read_progress()
    final = progress.final_status
    if final:  # the Batch jobs were deleted after a complete collect
        st = JobStatus(
            session.job_id,
            final.total,
            succeeded=final.succeeded,
            failed=final.failed,
            job_state=final.job_state,
        )
        st.notes.append(
            "the Batch job was deleted after collect (azure.cleanup.job); this is its final status"
        )
        return st
    try:
        return _live_status(session, progress, with_failures)
    except ResourceNotFoundError:
        raise UserError(
            f"job {session.job_id} no longer exists on the Batch account "
            f"(deleted outside superbatch?); `superbatch submit --new` starts it "
            f"again."
        ) from None


def _live_status(session: Session, progress, with_failures: bool) -> JobStatus:
    total = session.record.task_count
    st = JobStatus(session.job_id, total)
    jobs = session.batch_jobs()
    latest: dict[str, tuple[str, TaskFailure]] = {}
    held = 0
    for number, job_id in enumerate(jobs):
        counts = session.call(
            lambda j=job_id: session.client.get_job_task_counts(j), f"task counts of {job_id}"
        ).task_counts
        if number == 0:
            held = counts.active + counts.running + counts.completed
        else:  # a retry round re-runs tasks of earlier jobs: theirs is the latest word
            round_ = progress.retries[number - 1]
            st.failed -= round_.from_failed
            st.active -= round_.from_unfinished
            st.succeeded -= round_.from_untrusted
            for task_id in round_.task_ids:
                latest.pop(task_id, None)
        st.active += counts.active
        st.running += counts.running
        st.succeeded += counts.succeeded
        st.failed += counts.failed
        if with_failures and counts.failed:
            for failure in _failures(session, job_id):
                latest[failure.task_id] = (job_id, failure)
    recovered = sum(r.from_missing for r in progress.retries)
    if progress.submit_state == "submitted" and held + recovered < total:
        # Task counts may lag behind; the listing is authoritative.
        held = len(
            session.call(
                lambda: list(session.client.list_tasks(jobs[0], select=["id"])),
                f"list tasks of {jobs[0]}",
            )
        )
        st.missing = max(0, total - held - recovered)
        if st.missing:
            st.notes.append(
                f"{st.missing} of the job's {total} tasks are missing on the "
                f"service: `superbatch submit` adds them"
            )
    if progress.job_state == "terminated":
        st.job_state = "terminated"
    elif st.completed >= total and not st.missing:
        st.job_state = "completed"
    else:
        job = session.call(lambda: session.client.get_job(jobs[-1]), "get job")
        if (
            job.state in ("completed", "terminating")
            and st.running == 0
            and progress.submit_state == "submitted"
        ):
            st.job_state = "terminated"  # ended before its tasks did (e.g. terminated)
            reason = job.execution_info.termination_reason if job.execution_info else None
            if reason and reason != "AllTasksComplete":
                st.notes.append(f"the Batch job ended early: {reason}")
    if session.target.mode == "code" and st.completed < total and st.running == 0:
        st.blocked = _preparation_failure(session, jobs[-1])
    budget = azure_section(session.record.spec).budget
    st.budget_usd = budget.max_usd if budget else None
    if session.target.price_dedicated is not None:
        st.spend_usd = pool_spend(session)
    if with_failures:
        for job_id, failure in sorted(latest.values(), key=lambda jf: jf[1].task_id):
            if len(st.failures) < FAILURES_WITH_STDERR:
                stderr = task_file(session, job_id, failure.task_id, "stderr.txt") or ""
                failure.stderr_tail = _tail(stderr)
                failure.point = failed_point(stderr)
            st.failures.append(failure)
    return st


def _preparation_failure(session: Session, job_id: str) -> str | None:
    """Why the job's tasks cannot run: its preparation task (the worker's environment) failed
    on every node of the pool; None while some node can still take them."""
    statuses = session.call(
        lambda: list(session.client.list_job_preparation_and_release_task_status(job_id)),
        f"preparation status of {job_id}",
    )
    failed = [
        s
        for s in statuses
        if s.job_preparation_task_execution_info
        and s.job_preparation_task_execution_info.result == "failure"
    ]
    if not failed:
        return None
    pool = session.call(
        lambda: session.client.get_pool(session.target.pool_id),
        f"get pool {session.target.pool_id}",
    )
    nodes = (pool.current_dedicated_nodes or 0) + (pool.current_low_priority_nodes or 0)
    if len(failed) < nodes:
        return None
    first = failed[0]
    info = first.job_preparation_task_execution_info
    tail = _node_file_tail(session, first.node_id, f"{info.task_root_directory}/stderr.txt")
    code = info.failure_info.code if info.failure_info else f"exit code {info.exit_code}"
    return (
        f"installing the worker's environment (the job's preparation task) failed on every "
        f"node ({code}){': ' + tail if tail else ''}. `superbatch logs --setup` shows its "
        f"whole output on each node. Fix worker.requirements or worker.setup and submit again"
    )


def node_file(session: Session, node_id: str, path: str) -> str | None:
    """A file on one of the pool's nodes (None: it, or the node, is gone)."""
    try:
        data = session.call(
            lambda: b"".join(
                session.client.download_node_file(session.target.pool_id, node_id, path)
            ),
            f"read {path} on {node_id}",
        )
    except (ResourceNotFoundError, HttpResponseError):
        return None
    return data.decode(errors="replace")


def _node_file_tail(session: Session, node_id: str, path: str) -> str | None:
    text = node_file(session, node_id, path)
    if text is None:
        return None
    text = text.strip()
    return text if len(text) <= STDERR_TAIL else "..." + text[-STDERR_TAIL:]


def _failures(session: Session, job_id: str) -> list[TaskFailure]:
    tasks = session.call(
        lambda: list(
            session.client.list_tasks(
                job_id, filter="state eq 'completed'", select=["id", "executionInfo"]
            )
        ),
        f"list tasks of {job_id}",
    )
    out = []
    for task in tasks:
        info = task.execution_info
        if info is None or info.result == "success":
            continue
        fi = info.failure_info
        out.append(
            TaskFailure(
                task.id,
                info.exit_code,
                fi.code if fi else "NonZeroExitCode",
                redact(fi.message) if fi and fi.message else None,
            )
        )
    return out


def _tail(stderr: str) -> str | None:
    text = stderr.strip()
    if not text:
        return None
    return text if len(text) <= STDERR_TAIL else "..." + text[-STDERR_TAIL:]


def failed_point(stderr: str) -> int | None:
    """The point the task runner (or the shell loop) names as failed on the task's stderr:
    its last such line, as the worker's own output comes before it (None: no such line)."""
    found = _FAILED_POINT.findall(stderr)
    return int(found[-1]) if found else None


def task_file(session: Session, job_id: str, task_id: str, name: str) -> str | None:
    """From the node while it exists, else the copy the task uploaded to the job's container."""
    try:
        data = session.call(
            lambda: b"".join(session.client.download_task_file(job_id, task_id, name)),
            f"read {name} of task {task_id}",
        )
        return data.decode(errors="replace")
    except (ResourceNotFoundError, HttpResponseError):
        pass
    data = session.outputs.download(f"{log_prefix(job_id, task_id)}/{name}")
    return None if data is None else data.decode(errors="replace")


def logs(session: Session, task_id: str) -> TaskLogs:
    job_id = session.job_id
    for round_ in session.state.read_progress().retries:
        if task_id in round_.task_ids:
            job_id = round_.job
    stdout = task_file(session, job_id, task_id, "stdout.txt")
    stderr = task_file(session, job_id, task_id, "stderr.txt")
    if stdout is None and stderr is None:
        raise UserError(
            f"no logs for task {task_id!r} of job {session.job_id} (not run yet, "
            f"or not one of its tasks); `superbatch status` lists the failed ones."
        )
    return TaskLogs(task_id, stdout or "", stderr or "")


def enforce_budget(session: Session, st: JobStatus) -> None:
    """Past ``azure.budget.max_usd``: stop the job, shrink the pool it created, exit 5."""
    budget = azure_section(session.record.spec).budget
    if budget is None or session.target.price_dedicated is None:
        return
    spend = pool_spend(session)
    if spend is None or spend <= budget.max_usd:
        return
    stopping.cancel(session)
    done = stop_pool(session)
    raise BudgetExceeded(
        f"job {session.job_id} spent about ${spend:.2f} (list prices), past its budget of "
        f"${budget.max_usd:.2f} (azure.budget.max_usd): the job was stopped"
        f"{'; ' + '; '.join(done) if done else ''}. `superbatch collect --allow-missing` "
        f"reduces what finished; `superbatch retry` runs the rest after raising the budget.",
        details={"spend_usd": round(spend, 4), "budget_usd": budget.max_usd},
    )


def wait(session: Session, timeout: float | None, progress: Progress) -> JobStatus:
    deadline = None if timeout is None else time.monotonic() + timeout
    st = status(session, with_failures=False)
    polls = 0
    with progress.bar("waiting for tasks", st.total, st.completed) as bar:
        while not st.done:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if polls % POOL_CHECK_EVERY == 0:
                check_pool_health(session)
                enforce_budget(session, st)
            polls += 1
            pause = poll_seconds()
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(pause)
            st = status(session, with_failures=False)
            bar.update(st.completed)
    return status(session)


def read_log(session: Session, task_id: str, name: str, offset: int) -> LogChunk:
    """The task's file from ``offset`` on, by range, from its node (the Batch file API); once
    the node's copy is gone, from the copy the task uploaded to the job's container."""
    job_id = session.job_id
    for round_ in session.state.read_progress().retries:
        if task_id in round_.task_ids:
            job_id = round_.job
    task = session.call(
        lambda: session.client.get_task(job_id, task_id, select=["state"]), f"get task {task_id}"
    )
    running = task.state != "completed"  # read before the bytes: then none are missed
    try:
        size = session.call(
            lambda: session.client.get_task_file_properties(job_id, task_id, name),
            f"properties of {name} of task {task_id}",
        ).content_length
    except (ResourceNotFoundError, HttpResponseError):
        if running:
            return LogChunk(b"", True)  # not started yet
        data = session.outputs.download(f"{log_prefix(job_id, task_id)}/{name}") or b""
        return LogChunk(data[offset:] if len(data) >= offset else data, False, len(data) < offset)
    if size is None or size == offset:
        return LogChunk(b"", running)
    start = 0 if size < offset else offset  # a retry began the file again
    data = session.call(
        lambda: b"".join(
            session.client.download_task_file(
                job_id, task_id, name, ocp_range=f"bytes={start}-{size - 1}"
            )
        ),
        f"read {name} of task {task_id}",
    )
    return LogChunk(data, running, size < offset)
