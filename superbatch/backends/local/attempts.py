"""What one attempt at a task came to, as the local runner judges it: succeeded, or failed
with the failing point's exit code and reason (the task runner's ``points.jsonl``), or lost
(the task runner itself was killed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Attempt:
    ok: bool
    exit_code: int | None
    code: str | None = None
    message: str | None = None
    point: int | None = None  # the point that failed
    lost: bool = False  # the task runner itself was killed (by whom, it cannot tell)


def last_failure(points_log: Path) -> dict | None:
    """The failed point's line the task runner wrote last, if it wrote one."""
    try:
        lines = points_log.read_bytes().splitlines()
        last = json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None
    return last if isinstance(last, dict) and last.get("code") else None
