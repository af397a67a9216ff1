"""What the parts of the store and of the node share, declared for the type checker.

:class:`store.Store` is made of mixins (``autopools``, ``deletion``, ``taskcounts``,
``transitions``) and :class:`node.Node` of two (``jobtasks``, ``starttask``); each mixin uses
attributes its class sets up and methods another part defines. The mixins derive from these
declarations so that each is checked on its own; at run time they add nothing.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .entities import ComputeNode, Job, Pool, PrepRecord, Task

if TYPE_CHECKING:
    from .images import ImageStandIn
    from .store import Store


class StoreShared:
    """Set up by ``Store.__init__``; the methods are the store's or one of its mixins'."""

    lock: threading.RLock
    counts_lag: float
    no_spot: bool
    workers: int | None
    pools: dict[str, Pool]
    jobs: dict[str, Job]
    kill: Callable[[Task], None]

    if TYPE_CHECKING:

        def wake(self) -> None: ...
        def pool(self, pool_id: str) -> Pool: ...
        def job(self, job_id: str) -> Job: ...
        def delete_pool(self, pool_id: str) -> None: ...
        def end_auto_pool(self, job: Job) -> None: ...
        def counts_changed(self, job: Job) -> None: ...
        def requeue(self, task: Task, why: str) -> None: ...
        def _stop(self, task: Task, why: str) -> None: ...
        def _end_job(self, job: Job, reason: str) -> None: ...
        def _run_release(self, job: Job) -> bool: ...
        def _maybe_complete(self, job: Job) -> None: ...


class NodeShared:
    """Set up by ``Node.__init__``; the methods are the node's."""

    store: Store
    root: Path
    node_path: list[str]
    _procs: set[subprocess.Popen]

    if TYPE_CHECKING:

        def _image(self, settings: dict | None) -> ImageStandIn | None: ...
        def _job_dir(self, node: ComputeNode, job: Job) -> Path: ...
        def _node_environment(
            self, node: ComputeNode, doc: dict, task_dir: Path, wd: Path
        ) -> dict: ...
        def _command(
            self,
            doc: dict,
            job: Job,
            node: ComputeNode,
            task_id: str,
            task_dir: Path,
            wd: Path,
            image: ImageStandIn | None,
            record: PrepRecord | None,
        ) -> tuple[list[str], Path, dict]: ...
