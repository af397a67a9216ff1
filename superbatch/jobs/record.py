"""The job record: what was submitted, typed and frozen, written once at submit.

``record.json`` holds everything a backend needs to run, observe, retry and clean up the job
(the spec as it was, the chunking, the resolved command, the backend's target), so nothing
downstream reads the live spec. What changes while the job lives (submitted, cancelled,
retried, collected) is the :class:`JobProgress` in ``progress.json``.
"""

# (no `from __future__ import annotations`: pydantic would compile every annotation)

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from superbatch.spec.base import empty_dict, empty_list
from superbatch.spec.models import JobSpec
from superbatch.util import clock
from superbatch.util.modelbuild import build

if TYPE_CHECKING:
    from superbatch.backends.base import JobStatus

RECORD_VERSION: Literal[2] = 2


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use


class JobRecord(Frozen):
    """One submission of a spec (never contains a secret)."""

    version: Literal[2] = RECORD_VERSION
    job_id: str
    sequence: int = Field(description="Order of submission within the state directory.")
    token: str = Field(description="Random id of this submission (also on the Batch job).")
    backend: str
    spec_path: str
    spec: JobSpec
    identity: str = Field(description="Digest of everything that decides the results.")
    identity_parts: dict[str, str] = Field(default_factory=empty_dict)
    points_sha256: str | None = Field(None, description="Content of the points file, if any.")
    created: float = Field(description="Wall-clock time of the submission (informational).")
    point_count: int
    task_count: int
    points_per_task: int
    command: str = Field(description="The worker command with {worker_dir} resolved.")
    code: str | None = Field(
        None,
        description="Digest of the worker's files as submitted, when the backend runs them "
        "from a snapshot in the state directory (codestore.py); None: it ships them itself.",
    )
    parallel: int | None = None
    target: dict[str, Any] = Field(
        default_factory=empty_dict, description="Backend facts fixed at submit (no secrets)."
    )

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def format(self) -> str:
        return self.spec.worker.format

    @property
    def max_retries(self) -> int:
        return self.spec.tasks.max_retries

    @property
    def max_wall_time_s(self) -> float | None:
        wall = self.spec.tasks.max_wall_time
        return wall.total_seconds() if wall else None


class RetryRound(Frozen):
    """Tasks sent to run (again) in another Batch job: ``from_failed`` had failed,
    ``from_unfinished`` never ended (their job was cancelled), ``from_missing`` were never
    in the job (lost before the reconciliation existed, or deleted outside superbatch),
    ``from_untrusted`` succeeded but their outputs could not be read as theirs.
    ``outputs_cleared`` once the tasks' earlier outputs are deleted (before any is added);
    ``submitted`` once every task is in."""

    job: str
    task_ids: list[str]
    from_failed: int = 0
    from_unfinished: int = 0
    from_missing: int = 0
    from_untrusted: int = 0
    outputs_cleared: bool = False
    submitted: bool = False


class FinalStatus(Frozen):
    total: int
    succeeded: int
    failed: int
    job_state: str


class StatusSnapshot(Frozen):
    """The last status a command saw (so that listing jobs needs no service)."""

    total: int
    active: int
    running: int
    succeeded: int
    failed: int
    missing: int = 0
    job_state: str
    done: bool
    at: float

    @classmethod
    def of(cls, st: "JobStatus") -> "StatusSnapshot":
        """The snapshot of ``st``, taken now."""
        build(cls)
        return cls(
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


class JobProgress(Frozen):
    """What happened to a submission since it was recorded."""

    submit_state: Literal["submitting", "submitted"] = "submitting"
    job_state: Literal["active", "terminated"] = "active"
    retries: list[RetryRound] = Field(default_factory=empty_list)
    final_status: FinalStatus | None = None
    retried_as: list[str] = Field(
        default_factory=empty_list,
        description="Identities of the spec when tasks were retried after it changed (older "
        "superbatch ran retries with the changes; a retry now runs what was submitted).",
    )
    finished_at: float | None = None
    collected_at: float | None = None
    result_file: str | None = None
    created: list[str] = Field(
        default_factory=empty_list,
        description="What the job created that outlives it (e.g. a pool).",
    )
    last_status: StatusSnapshot | None = None
    notes: list[str] = Field(default_factory=empty_list)
