"""The interface every backend implements, and the status it reports.

A backend answers two kinds of questions. Before a job exists, about a spec (class methods):
can it run this spec, what does ``{worker_dir}`` mean (and where a new job's worker files are
kept), how many tasks run at once, would the
service accept these tasks, and do the credentials work (a read-only call). For a job (an
instance built from the job's frozen record): submit, start, status, wait, outputs, logs,
retry, cancel, delete. Backends return data (notes, lists); the commands print it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from superbatch.jobs.state import JobState
from superbatch.util.bars import Progress

if TYPE_CHECKING:
    from superbatch.backends.reports import (
        Check,
        CostEstimate,
        LogChunk,
        SetupLog,
        TaskLogs,
        TaskRun,
    )
    from superbatch.backends.tasktars import TaskOutputs
    from superbatch.jobs.codestore import KeptCode
    from superbatch.jobs.record import JobRecord
    from superbatch.plan.chunks import JobPlan
    from superbatch.plan.identity import Identity
    from superbatch.spec.load import Spec


@dataclass
class TaskFailure:
    """A task that completed without success."""

    task_id: str
    exit_code: int | None
    code: str | None = None
    message: str | None = None
    stderr_tail: str | None = None
    points: list[dict] | None = None
    point: int | None = None  # the index of the point that failed, when the backend knows it

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class JobStatus:
    """Counts of tasks by state, and the failed ones.

    ``missing`` counts tasks of the plan that the service does not hold (never added, or
    deleted outside superbatch): a job with missing tasks is never done.
    """

    job_id: str
    total: int
    active: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    missing: int = 0
    job_state: str = "active"  # active | completed | terminated
    blocked: str | None = None  # why nothing more can run (e.g. the environment's install)
    spend_usd: float | None = None  # what the job's resources have cost so far, where known
    budget_usd: float | None = None
    failures: list[TaskFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed

    @property
    def done(self) -> bool:
        """Nothing more will run: every task completed, or the job was stopped."""
        if self.missing:
            return False
        return self.completed >= self.total or (
            (self.job_state == "terminated" or self.blocked is not None) and self.running == 0
        )

    @property
    def cancelled(self) -> bool:
        return self.job_state == "terminated" and self.completed < self.total

    def to_json(self) -> dict:
        return {
            "job_id": self.job_id,
            "job_state": self.job_state,
            "total": self.total,
            "active": self.active,
            "running": self.running,
            "completed": self.completed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "missing": self.missing,
            "done": self.done,
            "failures": [f.to_json() for f in self.failures],
            "notes": self.notes,
            "blocked": self.blocked,
            "spend_usd": self.spend_usd,
            "budget_usd": self.budget_usd,
        }


class Backend(ABC):
    """Where tasks run and their files live. One instance serves one job."""

    name: ClassVar[str] = ""
    # Whether status() reads this machine only (no service): listing jobs may then ask it.
    status_is_local: ClassVar[bool] = False
    # The spec key of the budget its estimates carry (``CostEstimate.budget_usd``), e.g.
    # ("azure", "budget", "max_usd"); empty for a backend without one.
    budget_key: ClassVar[tuple[str, ...]] = ()

    # -- questions about a spec, before any job exists ------------------------------------

    @classmethod
    def check_spec(cls, spec: Spec) -> None:
        """Raise SpecError (file, line, field) for what this backend cannot run."""

    @classmethod
    @abstractmethod
    def worker_dir(cls, spec: Spec) -> str:
        """What ``{worker_dir}`` in the worker command stands for on this backend."""

    @classmethod
    def keep_code(cls, spec: Spec, state_root: Path, identity: Identity) -> KeptCode | None:
        """For a new job: keep the worker's files as they are now where its tasks will run
        them (an edit during the job changes nothing); ``{worker_dir}`` becomes the kept
        copy. None: the backend ships the files itself (an archive, an image)."""
        return None

    @classmethod
    @abstractmethod
    def slots(cls, spec: Spec, parallel: int | None) -> int:
        """How many tasks can run at once."""

    @classmethod
    def auto_tasks(cls, spec: Spec, parallel: int | None) -> int:
        """How many tasks ``points_per_task: auto`` aims for: 8 a slot, and at least 1,000 on
        a service, where a task costs little next to the node time a retried or preempted
        long task would redo."""
        from superbatch.plan.chunks import AUTO_SERVICE_TASKS, AUTO_TASKS_PER_SLOT

        return max(AUTO_TASKS_PER_SLOT * cls.slots(spec, parallel), AUTO_SERVICE_TASKS)

    @classmethod
    def check_plan(cls, spec: Spec, plan: JobPlan) -> None:
        """Raise SpecError if the service would refuse these tasks (e.g. their size)."""

    @classmethod
    def estimate(
        cls, spec: Spec, plan: JobPlan, per_point_s: float | None, source: str
    ) -> CostEstimate | None:
        """What the job would take and cost (None: nothing to pay, e.g. this machine)."""
        return None

    @classmethod
    def preflight(cls, spec: Spec, plan: JobPlan, thorough: bool = False) -> list[Check]:
        """Checks of the service's side (credentials, quotas, images...), read-only but for
        a probe written and deleted when ``thorough`` (``doctor``)."""
        return []

    @classmethod
    def connect(cls, spec: Spec, job_id: str | None, parallel: int | None) -> dict[str, Any]:
        """Check credentials and settings with read-only calls; nothing is created.

        Returns the facts the record of job ``job_id`` keeps about where it runs (never a
        secret).
        """
        return {}

    # -- one job ---------------------------------------------------------------------------

    def __init__(self, state: JobState, record: JobRecord):
        self.state = state
        self.record = record
        self._task_outputs: TaskOutputs | None = None

    @abstractmethod
    def submit(self, plan: JobPlan, progress: Progress) -> list[str]:
        """Store the inputs, create what the job needs and add every task (idempotent,
        resumable). Returns notes for the user."""

    def prepare_to_run(self, foreground: bool, progress: Progress) -> None:
        """Called before ``submit`` when ``start(foreground)`` will follow in this process:
        a backend may start what running needs while ``submit`` stores the inputs (and end
        it if ``submit`` fails). Nothing by default."""

    def start(self, foreground: bool, progress: Progress) -> None:
        """Make the job's pending tasks run (here and now when ``foreground``)."""

    @abstractmethod
    def status(self, with_failures: bool = True) -> JobStatus:
        """Counts by state, and the failed tasks."""

    @abstractmethod
    def wait(self, timeout: float | None, progress: Progress) -> JobStatus:
        """Block until the job is done (or ``timeout`` seconds pass); return its status."""

    @abstractmethod
    def fetch_outputs(self, point_indices: Iterable[int], progress: Progress) -> list[str]:
        """Make the verified outputs of these points present in ``state.outputs_dir``.

        A local copy that was verified is final: it is never replaced by a remote one.
        Returns notes (e.g. outputs refused because they were not the task's own).
        """

    def seal(self) -> list[str]:
        """The job is over: take back the tasks' access to its storage (where there is any).

        Returns notes."""
        return []

    @abstractmethod
    def logs(self, task_id: str) -> TaskLogs:
        """A task's stdout and stderr."""

    @abstractmethod
    def read_log(self, task_id: str, name: str, offset: int) -> LogChunk:
        """The bytes of the task's ``name`` (stdout.txt or stderr.txt) from ``offset`` on, as
        far as they are written now, and whether the task may still write more."""

    def setup_logs(self, node: str | None) -> list[SetupLog]:
        """The set-up of the worker's environment on each node (or on ``node``): its output
        and exit code. Backends without a set-up step have none."""
        return []

    @abstractmethod
    def task_runs(self) -> list[TaskRun]:
        """Every task that started or ended: its node, start, end and result."""

    @abstractmethod
    def retry(self, task_ids: list[str] | None) -> list[str]:
        """Run tasks again: the failed ones and, after a cancel, the unfinished ones (None),
        or exactly ``task_ids`` (UserError naming any that is neither). Returns the ids
        requeued."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop the job: no task starts any more, running ones end as failed."""

    @abstractmethod
    def delete(self, include_pool: bool) -> list[str]:
        """Remove what the job created outside the state directory; describe what went."""

    def cleanup_after_collect(self) -> list[str]:
        """Remove what the spec's cleanup settings ask for after a complete collect."""
        return []

    def output_path(self, point_index: int) -> Path:
        """A one-point task's output file (also where ``reduce: none`` puts each point's)."""
        return self.state.outputs_dir / self._names.local_outputs(point_index)

    # A multi-point task's outputs stay in its one tar, ``outputs/<task-id>.tar``, on every
    # backend (a file per point would cost more to create than the whole task's run).
    @property
    def task_outputs(self) -> TaskOutputs | None:
        """The reader of the job's task tars (None: a task per point)."""
        if self._task_outputs is None and self.record.points_per_task > 1:
            from superbatch.backends.tasktars import TaskOutputs
            from superbatch.plan.chunks import Chunking

            chunks = Chunking(self.record.point_count, self.record.points_per_task)
            self._task_outputs = TaskOutputs(self.state.outputs_dir, chunks, self._names.outputs)
        return self._task_outputs

    def read_output(self, point_index: int) -> bytes | None:
        """The point's fetched output (None: not here); read in point order."""
        if self.task_outputs is not None:
            data = self.task_outputs.read(point_index)
            if data is not None:
                return data
        # also a local job's task of several points run before its outputs were one tar
        try:
            return self.output_path(point_index).read_bytes()
        except FileNotFoundError:
            return None

    def has_output(self, point_index: int) -> bool:
        if self.task_outputs is not None and self.task_outputs.read(point_index) is not None:
            return True
        return self.output_path(point_index).exists()

    def output_where(self, point_index: int) -> str:
        """Where the point's output is, for messages."""
        if self.task_outputs is not None:
            return self.task_outputs.where(point_index)
        return str(self.output_path(point_index))

    def output_files(self) -> None:
        """Make every fetched output its own file at ``output_path`` (``reduce: none``)."""
        if self.task_outputs is not None:
            self.task_outputs.write_files(self.output_path)

    @property
    def _names(self):
        from superbatch.contract.names import file_names

        return file_names(self.record.format)


def pick_retries(job_id: str, asked: list[str] | None, retryable: set[str]) -> list[str]:
    """The tasks a retry runs: every retryable one, or those asked for (all retryable)."""
    if asked is None:
        return sorted(retryable)
    unknown = sorted(set(asked) - retryable)
    if unknown:
        from superbatch.errors import UserError

        raise UserError(
            f"not failed (or, after a cancel, unfinished) tasks of job {job_id}: "
            f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}; "
            f"`superbatch status` lists the failed ones."
        )
    return sorted(set(asked))
