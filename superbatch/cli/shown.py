"""How the commands show counts, times and points to people."""

from __future__ import annotations

import time

SHOWN_POINTS = 3


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe_tasks(points: int, tasks: int, per_task: int) -> str:
    per = "" if per_task == 1 else f" ({per_task} points per task)"
    return f"{plural(points, 'point')} in {plural(tasks, 'task')}{per}"


def when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "?"
