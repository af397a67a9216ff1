"""``superbatch.Executor``: a ``concurrent.futures.Executor`` on superbatch jobs.

``map`` submits one job for the whole iterable and yields the results in order as they
arrive; ``submit`` gathers the calls made within ``batch_window`` seconds into one job (each
call a point) and completes their futures as the points finish. ``shutdown(wait=False)``
leaves submitted jobs running (calling the same again finds them)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from superbatch.pyapi.calls import Calls
from superbatch.pyapi.mapcall import PointError
from superbatch.pyapi.mapping import prepare


class Executor(concurrent.futures.Executor):
    def __init__(
        self,
        spec: str | Mapping | None = None,
        backend: str | None = None,
        *,
        globals: Mapping | None = None,  # noqa: A002 - the spec's key
        state_dir: str | None = None,
        parallel: int | None = None,
        batch_window: float = 0.2,
    ):
        self._spec, self._globals, self._state_dir = spec, globals, state_dir
        self._backend, self._parallel, self._window = backend, parallel, batch_window
        self._lock = threading.Lock()
        self._pending: list[tuple[concurrent.futures.Future, Any, tuple, dict]] = []
        self._timer: threading.Timer | None = None
        self._watchers: list[threading.Thread] = []
        self._closed = False

    def _start(self, calls: Calls):
        from superbatch.pyapi.running import Running

        call = prepare(calls, calls.points(), self._globals, self._spec, self._state_dir)
        return Running(call, self._backend, self._parallel)

    # -- map: one job, results in order as they arrive ------------------------------------

    def map(self, fn, *iterables, timeout: float | None = None, chunksize: int = 1) -> Iterator:
        """``fn(*args)`` for each set of arguments, as one job; results in order."""
        if self._closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        running = self._start(Calls((fn, args, {}) for args in zip(*iterables)))
        deadline = None if timeout is None else time.monotonic() + timeout

        return running.stream("raise", deadline=deadline)

    # -- submit: calls batched into jobs ------------------------------------------------------

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: concurrent.futures.Future = concurrent.futures.Future()
            self._pending.append((future, fn, args, kwargs))
            if self._timer is None:
                self._timer = threading.Timer(self._window, self._flush)
                self._timer.daemon = True
                self._timer.start()
        return future

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
        batch = [b for b in batch if b[0].set_running_or_notify_cancel()]
        if not batch:
            return
        futures = [future for future, *_ in batch]
        try:
            running = self._start(Calls((fn, args, kwargs) for _, fn, args, kwargs in batch))
        except BaseException as exc:  # noqa: BLE001 - every future of the batch carries it
            for future in futures:
                future.set_exception(exc)
            return
        watcher = threading.Thread(target=_settle, args=(running, futures), daemon=True)
        watcher.start()
        with self._lock:
            self._watchers.append(watcher)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Submit what is pending; with ``wait``, until every future is done. Jobs go on
        either way (``cancel_futures`` only drops calls not yet submitted)."""
        with self._lock:
            self._closed = True
            if cancel_futures:
                for future, *_ in self._pending:
                    future.cancel()
        self._flush()
        if wait:
            for watcher in list(self._watchers):
                watcher.join()


def _settle(running, futures: list[concurrent.futures.Future]) -> None:
    try:
        for future, value in zip(futures, running.stream("collect")):
            if isinstance(value, PointError):
                future.set_exception(value)
            else:
                future.set_result(value)
    except BaseException as exc:  # noqa: BLE001 - whatever stops the watching fails the rest
        for future in futures:
            if not future.done():
                future.set_exception(exc)
