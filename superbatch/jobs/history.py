"""Past jobs: every submission a state directory knows, and pruning the finished ones.

Listing needs no service: a job's state is the last status a command saw (kept in its
progress), or, for backends whose status is read on this machine, the status now.
``--refresh`` asks every job's backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from superbatch.backends.registry import backend_class
from superbatch.errors import SuperbatchError
from superbatch.jobs.codestore import remove_unused
from superbatch.jobs.record import JobRecord, StatusSnapshot
from superbatch.jobs.state import JobState, list_jobs
from superbatch.util import clock


@dataclass
class JobSummary:
    job_id: str
    spec: str | None
    backend: str | None
    submitted: float | None
    state: str  # submitting | active | completed | terminated | damaged
    done: bool = False
    total: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    as_of: float | None = None
    finished: float | None = None
    result_file: str | None = None
    problem: str | None = None
    record: JobRecord | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "record"}
        return data


def summarize(
    root: Path, job_id: str, record: JobRecord | None, problem: str | None, refresh: bool
) -> JobSummary:
    if record is None:
        return JobSummary(job_id, None, None, None, "damaged", problem=problem)
    state = JobState(root, job_id)
    progress = state.read_progress()
    summary = JobSummary(
        job_id,
        record.spec_path,
        record.backend,
        record.created,
        progress.submit_state if progress.submit_state != "submitted" else progress.job_state,
        finished=progress.finished_at,
        result_file=progress.result_file,
        record=record,
    )
    snapshot = progress.last_status
    backend = backend_class(record.backend)
    if progress.submit_state == "submitted" and (refresh or backend.status_is_local):
        try:
            st = backend(state, record).status(with_failures=False)
            snapshot = StatusSnapshot.of(st)
        except SuperbatchError as exc:
            summary.problem = exc.message
    if snapshot is not None:
        summary.state = snapshot.job_state
        summary.done = snapshot.done
        summary.total, summary.succeeded, summary.failed = (
            snapshot.total,
            snapshot.succeeded,
            snapshot.failed,
        )
        summary.as_of = snapshot.at
    return summary


def submissions(
    root: Path, spec_path: Path | None = None, refresh: bool = False
) -> list[JobSummary]:
    """The jobs under ``root`` (of one spec, if given), newest submission first."""
    out = []
    for entry in reversed(list_jobs(root)):
        if spec_path is not None and (
            entry.record is None or entry.record.spec_path != str(spec_path)
        ):
            continue
        out.append(summarize(root, entry.job_id, entry.record, entry.problem, refresh))
    return out


def prunable(
    root: Path, older_than: float, spec_path: Path | None, refresh: bool = True
) -> tuple[list[JobSummary], list[JobSummary]]:
    """(finished jobs older than ``older_than`` seconds, unfinished ones that are kept)."""
    cutoff = clock.now() - older_than
    old: list[JobSummary] = []
    kept: list[JobSummary] = []
    for job in submissions(root, spec_path, refresh=refresh):
        if job.record is None:
            continue
        when = job.finished or job.submitted or 0
        if when > cutoff:
            continue
        (old if job.done else kept).append(job)
    return old, kept


def prune(root: Path, job: JobSummary) -> list[str]:
    """Delete what the job created (the backend's resources) and its local state."""
    state = JobState(root, job.job_id)
    assert job.record is not None, "prunable() returns recorded jobs only"
    removed = backend_class(job.record.backend)(state, job.record).delete(include_pool=False)
    state.remove()
    return removed + [f"local state {state.dir}", *remove_unused(root)]
