"""Where and when each task of an azure job ran (for ``report``): across the job's Batch jobs,
a later retry round's run of a task replacing the earlier one."""

from __future__ import annotations

from superbatch.backends.azure.session import Session
from superbatch.backends.reports import TaskRun

FIELDS = ["id", "state", "executionInfo", "nodeInfo"]


def task_runs(session: Session) -> list[TaskRun]:
    runs: dict[str, TaskRun] = {}
    for job_id in session.batch_jobs():
        tasks = session.call(
            lambda j=job_id: list(session.client.list_tasks(j, select=FIELDS)),
            f"list tasks of {job_id}",
        )
        for task in tasks:
            run = _run(task)
            if run is not None:
                runs[task.id] = run
    return sorted(runs.values(), key=lambda r: r.task_id)


def _run(task) -> TaskRun | None:
    info = task.execution_info
    if info is None or info.start_time is None:
        return None
    node = task.node_info.node_id if task.node_info and task.node_info.node_id else "?"
    if task.state == "completed":  # str enums: equal to their value
        result = "success" if info.result == "success" else "failure"
    else:
        result = "running"
    return TaskRun(
        task.id,
        node,
        info.start_time.timestamp(),
        info.end_time.timestamp() if info.end_time and result != "running" else None,
        result,
        info.exit_code,
        info.retry_count or 0,
    )
