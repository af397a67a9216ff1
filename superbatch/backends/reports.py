"""What a backend reports besides a job's status (base.py): the estimate and pre-flight
checks before a job, and a job's logs, set-up logs and task runs. Apart from base.py so that
the commands that need none of them (validate, collect, status) do not build their classes
(a dataclass costs its module's import most of a millisecond)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TaskRun:
    """Where and when a task ran and how it ended (its latest attempt), for ``report``."""

    task_id: str
    node: str  # the compute node that ran it ("local" on this machine)
    start: float | None  # seconds since the epoch; None: it has not started
    end: float | None  # None: not ended
    result: str  # success | failure | running | active
    exit_code: int | None = None
    retries: int = 0

    @property
    def duration(self) -> float | None:
        return None if self.start is None or self.end is None else max(0.0, self.end - self.start)


@dataclass
class SetupLog:
    """The worker environment's set-up on one node (code mode's requirements and setup)."""

    node: str
    state: str  # running | completed
    exit_code: int | None
    stdout: str | None  # None: the node's files are gone
    stderr: str | None
    failure: str | None = None  # the service's reason, when it has one

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class LogChunk:
    """New bytes of a task's stdout or stderr, from an offset (``logs --follow``)."""

    data: bytes
    running: bool  # the task may still write more: it has not started, or it runs
    restarted: bool = False  # the file began again (a retry): ``data`` is from its start


@dataclass
class CostEstimate:
    """What a job would take and cost before it starts; None where a figure is unknown."""

    resources: str  # e.g. "2 x standard_d2s_v3 dedicated, 1 task slot each, code mode"
    tasks: int
    points: int
    per_point_s: float | None
    per_point_source: str  # where the time per point comes from
    duration_s: float | None  # wall time, node start-up included
    node_hours: dict[str, float] = field(default_factory=dict)
    price_per_hour: dict[str, float | None] = field(default_factory=dict)
    cost_usd: float | None = None
    price_source: str = ""
    budget_usd: float | None = None  # the spec's cap, if it has one
    budget_problem: str | None = None  # why the cap could not be enforced (no job starts)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Check:
    """One pre-flight check: ``ok``, ``problem`` (with the fix) or ``not checked`` (why)."""

    name: str
    status: str  # ok | problem | not checked
    detail: str = ""

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TaskLogs:
    task_id: str
    stdout: str
    stderr: str
