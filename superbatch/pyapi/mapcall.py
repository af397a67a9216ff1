"""What one ``superbatch.map`` call decided before it submits (``MapCall``), and how a
failed point comes back to the caller (``PointError``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class PointError(Exception):
    """A point whose call raised (or whose task failed): its index, parameters and the
    remote traceback (the task's stderr)."""

    def __init__(self, index: int, point: Mapping, traceback: str, job_id: str):
        self.index, self.point, self.traceback, self.job_id = index, dict(point), traceback, job_id
        shown = ", ".join(f"{k}={v!r}" for k, v in self.point.items())
        last = traceback.strip().splitlines()[-1] if traceback.strip() else "no output"
        super().__init__(
            f"point {index} ({shown}) of job {job_id} failed: {last}\n"
            f"--- remote traceback ---\n{traceback.rstrip()}"
        )


@dataclass
class MapCall:
    """Everything one ``map`` call decides before it submits."""

    spec_path: Path
    state_root: Path
    point_count: int
    points: list[dict] | None  # None: a grid (the spec's parameters make them)
