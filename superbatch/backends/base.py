"""The one small interface every backend implements, and the status it reports."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from superbatch.progress import Progress
from superbatch.state import JobState

TASK_STATES = ("active", "running", "completed")


@dataclass
class TaskFailure:
    """A task that completed without success."""

    task_id: str
    exit_code: int | None
    code: str | None = None
    message: str | None = None
    stderr_tail: str | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class JobStatus:
    """Counts of tasks by state, and the failed ones."""

    job_id: str
    total: int
    active: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    job_state: str = "active"  # active | completed | terminated
    failures: list[TaskFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed

    @property
    def done(self) -> bool:
        """Nothing more will run: every task completed, or the job was stopped."""
        return self.completed >= self.total or self.job_state == "terminated"

    def to_json(self) -> dict:
        return {
            "job_id": self.job_id, "job_state": self.job_state, "total": self.total,
            "active": self.active, "running": self.running, "completed": self.completed,
            "succeeded": self.succeeded, "failed": self.failed,
            "failures": [f.to_json() for f in self.failures], "notes": self.notes,
        }


@dataclass
class TaskLogs:
    task_id: str
    stdout: str
    stderr: str


class Backend(ABC):
    """Where tasks run and their files live. One instance serves one job."""

    name = ""

    def __init__(self, state: JobState, manifest: dict):
        self.state = state
        self.manifest = manifest

    @abstractmethod
    def submit(self, plan, progress: Progress) -> None:
        """Store the inputs, create what the job needs, and add every task (idempotent)."""

    @abstractmethod
    def status(self, with_failures: bool = True) -> JobStatus:
        """Counts by state, and the failed tasks."""

    @abstractmethod
    def wait(self, timeout: float | None, progress: Progress) -> JobStatus:
        """Block until the job is done (or ``timeout`` seconds pass); return its status."""

    @abstractmethod
    def fetch_outputs(self, point_indices: Iterable[int], progress: Progress) -> None:
        """Make the outputs of these points present in ``state.outputs_dir`` (skip present)."""

    @abstractmethod
    def logs(self, task_id: str) -> TaskLogs:
        """A task's stdout and stderr."""

    @abstractmethod
    def retry(self, task_ids: list[str]) -> list[str]:
        """Re-run these failed tasks; return the ids that were requeued."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop the job: no task starts any more, running ones are terminated."""

    @abstractmethod
    def delete(self, include_pool: bool) -> list[str]:
        """Remove what the job created outside the state directory; describe what went."""

    def preflight(self) -> None:
        """Check credentials and settings before anything is created (raise UserError)."""

    def cleanup_after_collect(self) -> list[str]:
        """Remove what the spec's cleanup settings ask for after a complete collect."""
        return []

    def output_path(self, point_index: int) -> Path:
        from superbatch.contract import file_names

        return self.state.outputs_dir / file_names(self.manifest["format"]).local_outputs(
            point_index)
