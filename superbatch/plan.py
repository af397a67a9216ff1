"""The job plan: grid points chunked into tasks with deterministic ids."""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

from superbatch.grid import Grid, Point
from superbatch.spec import Spec

AUTO_MAX_TASKS = 1000
AUTO_TASKS_PER_SLOT = 8


@dataclass(frozen=True)
class TaskPlan:
    """One task: a contiguous run of grid points."""

    index: int
    id: str
    first_point: int
    point_count: int

    @property
    def point_indices(self) -> range:
        return range(self.first_point, self.first_point + self.point_count)


def auto_points_per_task(points: int, slots: int) -> int:
    """Chunk size for ``points_per_task: auto``.

    Enough tasks to keep every slot busy with room for load balancing (8 per slot), and no
    more than 1,000 tasks, since each task costs scheduling overhead on the service.
    """
    target_tasks = max(1, min(points, max(AUTO_TASKS_PER_SLOT * slots, AUTO_MAX_TASKS)))
    return max(1, math.ceil(points / target_tasks))


def default_slots(spec: Spec, backend: str) -> int:
    """How many tasks can run at once: local CPUs, or the pool's nodes x slots."""
    if backend == "local":
        return os.cpu_count() or 1
    pool = spec.model.azure.pool
    nodes = pool.dedicated_nodes + pool.low_priority_nodes or 1
    return nodes * pool.task_slots_per_node


class JobPlan:
    """The tasks of a spec. Built from the grid without materialising it."""

    def __init__(self, spec: Spec, grid: Grid, points_per_task: int):
        self.spec = spec
        self.grid = grid
        self.points_per_task = points_per_task
        self.point_count = len(grid)
        self.task_count = math.ceil(self.point_count / points_per_task)
        self.id_width = max(5, len(str(self.task_count - 1)))

    @classmethod
    def build(cls, spec: Spec, backend: str, slots: int | None = None) -> "JobPlan":
        grid = Grid(spec)
        ppt = spec.model.tasks.points_per_task
        if ppt == "auto":
            ppt = auto_points_per_task(len(grid), slots or default_slots(spec, backend))
        return cls(spec, grid, ppt)

    def task_id(self, index: int) -> str:
        return f"task-{index:0{self.id_width}d}"

    def task(self, index: int) -> TaskPlan:
        first = index * self.points_per_task
        count = min(self.points_per_task, self.point_count - first)
        return TaskPlan(index, self.task_id(index), first, count)

    def tasks(self, start: int = 0) -> Iterator[TaskPlan]:
        for index in range(start, self.task_count):
            yield self.task(index)

    def task_index(self, task_id: str) -> int | None:
        """The index of ``task_id``, or None when it is not one of this plan's ids."""
        prefix = "task-"
        if not task_id.startswith(prefix) or not task_id[len(prefix):].isdigit():
            return None
        index = int(task_id[len(prefix):])
        return index if 0 <= index < self.task_count else None

    def points_with_tasks(self, start_task: int = 0) -> Iterator[tuple[TaskPlan, list[Point]]]:
        """Each task with its points, streamed in order."""
        points = self.grid.points(start_task * self.points_per_task)
        for task in self.tasks(start_task):
            yield task, [next(points) for _ in range(task.point_count)]
