"""Progress bars on a terminal (stderr), and silence when piped or in CI."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Bar:
    """One progress bar; a no-op when progress is off."""

    def __init__(self, progress=None, task_id=None):
        self._progress = progress
        self._task_id = task_id

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task_id, n)

    def update(
        self, completed: int, total: int | None = None, description: str | None = None
    ) -> None:
        if self._progress is not None:
            kwargs: dict[str, Any] = {"completed": completed}
            if total is not None:
                kwargs["total"] = total
            if description is not None:
                kwargs["description"] = description
            self._progress.update(self._task_id, **kwargs)


def interactive() -> bool:
    """A terminal, or a Jupyter kernel (rich draws its bars in the notebook); never in CI."""
    if os.environ.get("CI"):
        return False
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class Progress:
    """Creates bars when stderr is a terminal (or in a notebook); otherwise they are silent."""

    def __init__(self, enabled: bool | None = None):
        if enabled is None:
            enabled = interactive()
        self.enabled = enabled

    @contextmanager
    def bar(self, description: str, total: int | None, completed: int = 0) -> Iterator[Bar]:
        """A bar at ``completed`` of ``total``; none at all when there is nothing left to do
        (after a foreground run, ``collect``'s wait must not draw a second bar from 0)."""
        if not self.enabled or (total is not None and completed >= total):
            yield Bar()
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        with RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as rich:
            yield Bar(rich, rich.add_task(description, total=total, completed=completed))


SILENT = Progress(enabled=False)
