"""The job plan: grid points chunked into tasks with deterministic ids.

This module owns chunking and the multi-point task contract that every backend follows
(docs/backends.md, "Runtime contract"): task ``task-NNNNN`` runs points ``first .. first+n-1``
in point order; with one point per task the point runs in the task's working directory, with
several each point runs in its own directory ``p<point>`` below it; a task's outputs are
published only when all of its points succeeded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from superbatch.errors import UserError
from superbatch.plan.points import Grid, Point
from superbatch.spec.load import Spec

if TYPE_CHECKING:
    from superbatch.jobs.record import JobRecord

AUTO_TASKS_PER_SLOT = 8  # room for load balancing: a slow task holds one slot of eight
AUTO_SERVICE_TASKS = 1000  # on a service, a retried or preempted task then redoes little
TASK_ID_PREFIX = "task-"


class TaskPlan(NamedTuple):  # not a dataclass: made at every start-up, ~0.5 ms less
    """One task: a contiguous run of grid points (task ``number`` of the job, from 0)."""

    number: int
    id: str
    first_point: int
    point_count: int
    multi_point: bool

    @property
    def point_indices(self) -> range:
        return range(self.first_point, self.first_point + self.point_count)

    @property
    def last_point(self) -> int:
        return self.first_point + self.point_count - 1

    def point_dir(self, point: int) -> str:
        """The point's working directory, relative to the task's."""
        return point_dirname(point) if self.multi_point else "."


def point_dirname(point: int) -> str:
    return f"p{point}"


def auto_points_per_task(points: int, target_tasks: int) -> int:
    """Chunk size for ``points_per_task: auto``: about ``target_tasks`` tasks (the backend's
    ``auto_tasks``), never fewer points a task than one."""
    return max(1, math.ceil(points / max(1, min(points, target_tasks))))


class Chunking:
    """Task ids and point ranges for ``point_count`` points, ``points_per_task`` at a time."""

    def __init__(self, point_count: int, points_per_task: int):
        self.points_per_task = points_per_task
        self.point_count = point_count
        self.task_count = math.ceil(point_count / points_per_task)
        self.id_width = max(5, len(str(self.task_count - 1)))

    @property
    def multi_point(self) -> bool:
        return self.points_per_task > 1

    def task_id(self, index: int) -> str:
        return f"{TASK_ID_PREFIX}{index:0{self.id_width}d}"

    def task(self, index: int) -> TaskPlan:
        first = index * self.points_per_task
        count = min(self.points_per_task, self.point_count - first)
        return TaskPlan(index, self.task_id(index), first, count, self.multi_point)

    def tasks(self, start: int = 0) -> Iterator[TaskPlan]:
        for index in range(start, self.task_count):
            yield self.task(index)

    def task_ids(self) -> Iterator[str]:
        return (self.task_id(i) for i in range(self.task_count))

    def task_index(self, task_id: str) -> int | None:
        """The index of ``task_id``, or None when it is not one of this plan's ids."""
        digits = task_id[len(TASK_ID_PREFIX) :]
        if (
            not task_id.startswith(TASK_ID_PREFIX)
            or not digits.isdigit()
            or len(digits) != self.id_width
        ):
            return None
        index = int(digits)
        return index if 0 <= index < self.task_count else None

    def task_of_point(self, point: int) -> TaskPlan:
        return self.task(point // self.points_per_task)


class JobPlan(Chunking):
    """The tasks of a spec with their points, streamed from the grid (never materialised)."""

    def __init__(self, grid: Grid, points_per_task: int):
        super().__init__(len(grid), points_per_task)
        self.grid = grid

    @classmethod
    def build(cls, spec: Spec, auto_tasks: int, grid: Grid | None = None) -> JobPlan:
        """``auto_tasks``: how many tasks ``points_per_task: auto`` aims for (the backend's)."""
        grid = grid or Grid(spec)
        ppt = spec.model.tasks.points_per_task
        if ppt == "auto":
            ppt = auto_points_per_task(len(grid), auto_tasks)
        return cls(grid, ppt)

    def points_with_tasks(self, start_task: int = 0) -> Iterator[tuple[TaskPlan, list[Point]]]:
        """Each task with its points, streamed in order."""
        points = self.grid.points(start_task * self.points_per_task)
        for task in self.tasks(start_task):
            yield task, [next(points) for _ in range(task.point_count)]


def plan_from_record(record: JobRecord) -> JobPlan:
    """The plan of a submitted job, from its record (never from the live spec)."""
    from superbatch.plan.identity import file_sha256

    spec = Spec.from_model(record.spec, Path(record.spec_path))
    if record.points_sha256 and record.spec.points_file:
        path = spec.resolve(record.spec.points_file)
        try:
            current = file_sha256(path)
        except OSError as exc:
            raise UserError(
                f"job {record.job_id} reads its points from {path}, which cannot "
                f"be read now ({exc.strerror})."
            ) from None
        if current != record.points_sha256:
            raise UserError(
                f"{path} changed since job {record.job_id} was submitted, so its "
                f"tasks' points cannot be rebuilt; restore the file, or submit "
                f"the spec as a new job with --new."
            )
    return JobPlan(Grid(spec), record.points_per_task)
