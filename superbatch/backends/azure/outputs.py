"""Fetching outputs, trusting only what the tasks themselves wrote.

Whoever can read a task's definition holds its write SAS, so a blob in the job's container is
not trusted because of where it is. A task uploads its output under a name it draws at
random (``definitions.py``), so a SAS holder can only write beside it: before an output is
downloaded and decoded, the Batch service (which no SAS can write to) must say that its task
succeeded, the task's output directory must hold exactly one blob, and that blob must have
been written no later than the service recorded that task's end. A local copy that passed
these checks is final and is never replaced by a remote blob.
"""

from __future__ import annotations

import tarfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from superbatch.backends import tasktars
from superbatch.backends.azure.fetch import Fetched
from superbatch.backends.azure.session import Session
from superbatch.backends.azure.storage import BlobInfo
from superbatch.backends.azure.target import task_of_output
from superbatch.backends.tasktars import TaskOutputs, members
from superbatch.errors import TasksFailed
from superbatch.jobs.state import atomic_write_bytes
from superbatch.plan.chunks import Chunking, TaskPlan
from superbatch.util.bars import Progress

# Blob times have whole seconds, and two services' clocks never agree to the millisecond.
CLOCK_TOLERANCE = timedelta(seconds=2)


@dataclass(frozen=True)
class TaskEnd:
    succeeded: bool
    end_time: datetime | None


def task_ends(session: Session) -> dict[str, TaskEnd]:
    """Each task's latest outcome across the submission's Batch jobs (later jobs win)."""
    ends: dict[str, TaskEnd] = {}
    for job_id in session.batch_jobs():
        tasks = session.call(
            lambda j=job_id: list(
                session.client.list_tasks(
                    j, filter="state eq 'completed'", select=["id", "executionInfo"]
                )
            ),
            f"list tasks of {job_id}",
        )
        for task in tasks:
            info = task.execution_info
            if info is not None:
                ends[task.id] = TaskEnd(info.result == "success", info.end_time)
    return ends


def task_tar(session: Session, task_id: str) -> Path:
    """Where a multi-point task's outputs tar is kept, as downloaded (once verified)."""
    return tasktars.task_tar(session.state.outputs_dir, task_id)


def output_blobs(session: Session) -> dict[str, list[BlobInfo]]:
    """The blobs under each task's output directory, by task id."""
    found: dict[str, list[BlobInfo]] = defaultdict(list)
    for blob in session.call(lambda: session.outputs.list("out/"), "list outputs"):
        task_id = task_of_output(blob.name)
        if task_id is not None:
            found[task_id].append(blob)
    return found


def trusted_output(end: TaskEnd | None, blobs: list[BlobInfo]) -> tuple[BlobInfo | None, str]:
    """The task's own output blob, or why its output cannot be read ("" with no blob: the
    task has not succeeded, or uploaded nothing)."""
    if end is None or not end.succeeded or not blobs:
        return None, ""
    if len(blobs) > 1:
        # The task uploads one blob under a name no definition reveals; a second one is
        # someone else's (a leaked SAS), and which is the task's cannot be told.
        others = len(blobs) - 1
        return None, f"{others} blob{'s' if others > 1 else ''} written beside its output"
    blob = blobs[0]
    if end.end_time is None or blob.last_modified is None:
        return None, "the service gave no time to check it against"
    if blob.last_modified > end.end_time + CLOCK_TOLERANCE:
        written, ended = (f"{t:%Y-%m-%d %H:%M:%S}" for t in (blob.last_modified, end.end_time))
        return None, f"written after its task ended: blob written {written}, task ended {ended} UTC"
    return blob, ""


def untrusted_tasks(session: Session) -> set[str]:
    """Succeeded tasks whose outputs are not here and cannot be read as theirs (a retry runs
    them again)."""
    ends = task_ends(session)
    blobs = output_blobs(session)
    record = session.record
    chunks = Chunking(record.point_count, record.points_per_task)

    def here(task_id: str) -> bool:
        if chunks.multi_point:
            return task_tar(session, task_id).exists()
        index = chunks.task_index(task_id)
        if index is None:
            return True  # not a task of the plan: nothing to run again
        task = chunks.task(index)
        return (session.state.outputs_dir / session.names.local_outputs(task.first_point)).exists()

    return {
        t for t, end in ends.items() if trusted_output(end, blobs.get(t, []))[1] and not here(t)
    }


def fetch_outputs(
    session: Session,
    backend,
    point_indices: Iterable[int],
    progress: Progress,
    reader: TaskOutputs | None = None,
) -> list[str]:
    """Download and verify the outputs of these points that are not here yet (``reader``
    keeps the tars it parsed on the way)."""
    record = session.record
    chunks = Chunking(record.point_count, record.points_per_task)
    if chunks.multi_point:
        tasks = {i // chunks.points_per_task for i in point_indices}
        wanted = sorted(t for t in tasks if not task_tar(session, chunks.task_id(t)).exists())
    else:
        wanted = sorted(i for i in point_indices if not backend.output_path(i).exists())
    if not wanted:
        return []
    ends = task_ends(session)
    blobs = output_blobs(session)
    refused: list[str] = []
    by_name: dict[str, TaskPlan] = {}
    for index in wanted:
        task = chunks.task(index)
        blob, why = trusted_output(ends.get(task.id), blobs.get(task.id, []))
        if why:
            refused.append(f"{task.id} ({why})")
        elif blob is not None:
            by_name[blob.name] = task
    if refused:
        raise _untrusted(session, refused)
    session.state.outputs_dir.mkdir(parents=True, exist_ok=True)
    late: list[str] = []
    with progress.bar("downloading outputs", len(by_name)) as bar:

        def store(name: str, fetched: Fetched | None) -> None:
            if fetched is not None:
                task = by_name[name]
                # Checked again on the bytes downloaded: the blob may have been replaced
                # since it was listed (a revoked SAS can still write for a while).
                end = ends[task.id].end_time
                if (
                    end is None
                    or fetched.written is None
                    or fetched.written > end + CLOCK_TOLERANCE
                ):
                    late.append(task.id)
                elif task.multi_point:
                    found = _readable(fetched.data, task, session)
                    atomic_write_bytes(task_tar(session, task.id), fetched.data)
                    if reader is not None:
                        reader.keep(task.number, found)
                else:
                    atomic_write_bytes(backend.output_path(task.first_point), fetched.data)
            bar.advance()

        session.call(
            lambda: session.outputs.download_many(list(by_name), store), "download outputs"
        )
    if late:
        raise _untrusted(session, [f"{t} (replaced while it was being downloaded)" for t in late])
    return []


def _untrusted(session: Session, refused: list[str]) -> TasksFailed:
    return TasksFailed(
        f"job {session.job_id}: the outputs of {len(refused)} tasks cannot be told from what "
        f"someone else wrote, so they were not read: "
        f"{'; '.join(refused[:5])}{' ...' if len(refused) > 5 else ''}. Someone holding a "
        f"task's SAS may have written them; see docs/reliability.md (threat model). The "
        f"verified outputs already here were kept; `superbatch retry` runs those tasks "
        f"again.",
        details={"refused_tasks": len(refused)},
    )


def _readable(data: bytes, task, session: Session) -> dict[str, bytes]:
    try:
        return members(data)
    except tarfile.TarError as exc:
        raise TasksFailed(
            f"job {session.job_id}: the outputs of task {task.id} are not a "
            f"readable tar ({exc}); run the job again with --new."
        ) from None
