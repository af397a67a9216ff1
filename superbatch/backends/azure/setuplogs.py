"""Code mode's set-up on each node (the job preparation task: requirements and setup), for
``superbatch logs --setup``: its state, exit code, stdout and stderr, from the node's files
while the node exists."""

from __future__ import annotations

from superbatch.backends.azure.observe import node_file
from superbatch.backends.azure.session import Session
from superbatch.backends.reports import SetupLog
from superbatch.util.redact import redact


def setup_logs(session: Session, node: str | None) -> list[SetupLog]:
    logs: dict[str, SetupLog] = {}
    for job_id in session.batch_jobs():
        statuses = session.call(
            lambda j=job_id: list(session.client.list_job_preparation_and_release_task_status(j)),
            f"preparation status of {job_id}",
        )
        for status in statuses:
            info = status.job_preparation_task_execution_info
            if info is None or (node and status.node_id != node):
                continue
            failure = info.failure_info
            logs[status.node_id] = SetupLog(
                status.node_id,
                str(info.state.value if hasattr(info.state, "value") else info.state),
                info.exit_code,
                _node_file(session, status.node_id, f"{info.task_root_directory}/stdout.txt"),
                _node_file(session, status.node_id, f"{info.task_root_directory}/stderr.txt"),
                redact(f"{failure.code}: {failure.message}") if failure else None,
            )
    return [logs[n] for n in sorted(logs)]


def _node_file(session: Session, node_id: str, path: str) -> str | None:
    text = node_file(session, node_id, path)
    return None if text is None else redact(text)
