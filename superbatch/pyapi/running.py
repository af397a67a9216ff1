"""A submitted ``map`` job seen from Python: wait for it, or take its outputs in point order
as they arrive (``Executor.map``); a failed point is a :class:`PointError`."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

from superbatch.pyapi.mapcall import MapCall, PointError

POLL_SECONDS = 0.5


class Running:
    """The job of one ``map`` call: submitted (or found again) and started."""

    def __init__(self, call: MapCall, backend: str | None, parallel: int | None):
        from superbatch.contract.codec import get_codec
        from superbatch.jobs import lifecycle
        from superbatch.jobs.context import make_context
        from superbatch.plan.chunks import Chunking
        from superbatch.results.checks import check_everything
        from superbatch.spec.load import load_spec
        from superbatch.util.bars import SILENT, Progress

        self.call = call
        self.ctx = make_context(
            load_spec(call.spec_path), backend, str(call.state_root), parallel, Progress()
        )
        check_everything(self.ctx, None)
        sub, self.backend = lifecycle.submit(self.ctx, then_start=False)
        self.backend.start(foreground=False, progress=SILENT)
        self.job_id = sub.job_id
        record = self.backend.record
        self.count = record.point_count
        self.chunks = Chunking(record.point_count, record.points_per_task)
        self._codec = get_codec(record.format)
        self._allow = tuple(record.spec.collect.allow_pickle)
        self._points = call.points

    def wait(self, timeout: float | None) -> None:
        """Until the job is done (TimedOut after ``timeout``); Ctrl-C leaves it running."""
        from superbatch.errors import TimedOut

        try:
            status = self.backend.wait(timeout, self.ctx.progress)
        except KeyboardInterrupt:
            print(self.interrupted(), file=sys.stderr)
            raise
        self.ctx.state(self.job_id).remember_status(status)
        if not status.done:
            raise TimedOut(
                f"job {self.job_id} is not finished after {timeout:g} s ({status.completed} "
                f"of {status.total} tasks); calling map again waits for the rest."
            )
        self.backend.seal()

    def results(self, errors: str) -> list[Any]:
        """Every point's output once the job is done (a failed one raised or in place)."""
        from superbatch.util.bars import SILENT

        self.backend.fetch_outputs(range(self.count), SILENT)
        return [self._settle(i, self._output(i), errors) for i in range(self.count)]

    def stream(
        self, errors: str, poll: float = POLL_SECONDS, deadline: float | None = None
    ) -> Iterator[Any]:
        """The outputs in point order, each as soon as it (and those before it) arrived;
        TimeoutError past ``deadline`` (``time.monotonic()``)."""
        from superbatch.util.bars import SILENT

        index = 0
        try:
            while index < self.count:
                status = self.backend.status()
                failed = {f.task_id for f in status.failures}
                self.backend.fetch_outputs(range(index, self.count), SILENT)
                while index < self.count:
                    value = self._output(index)
                    ended = status.done or self.chunks.task_of_point(index).id in failed
                    if value is _ABSENT and not ended:
                        break
                    yield self._settle(index, value, errors)
                    index += 1
                if index < self.count:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise TimeoutError(
                            f"job {self.job_id}: point {index} was not done in time; the job "
                            f"goes on"
                        )
                    time.sleep(poll)
        except KeyboardInterrupt:
            print(self.interrupted(), file=sys.stderr)
            raise
        self.backend.seal()

    def interrupted(self) -> str:
        from superbatch.jobs.state import state_root

        flag = (
            ""
            if state_root(self.call.spec_path.parent) == self.call.state_root
            else f" --state-dir {self.call.state_root}"
        )
        return (
            f"superbatch: job {self.job_id} goes on without this call; calling it again picks "
            f"it up, and `superbatch cancel {self.call.spec_path} --job-id {self.job_id}"
            f"{flag}` stops it."
        )

    def _output(self, index: int) -> Any:
        data = self.backend.read_output(index)
        return _ABSENT if data is None else self._codec.loads(data, self._allow)

    def _settle(self, index: int, value: Any, errors: str) -> Any:
        if value is not _ABSENT:
            return value
        if self._points is None:
            from superbatch.plan.chunks import plan_from_record

            self._points = list(plan_from_record(self.backend.record).grid.points())
        from superbatch.errors import SuperbatchError

        try:
            stderr = self.backend.logs(self.chunks.task_of_point(index).id).stderr
        except SuperbatchError as exc:  # it never ran (cancelled, say)
            stderr = exc.message
        failure = PointError(index, self._points[index], stderr, self.job_id)
        if errors == "raise":
            raise failure
        return failure


_ABSENT = object()
