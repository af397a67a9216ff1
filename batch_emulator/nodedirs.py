"""Where a node's files are: ``<root>/<pool>/<node>/`` (its start task's ``startup/``, its
tasks' directories)."""

from __future__ import annotations

from pathlib import Path

from .entities import ComputeNode, Task


def node_root(root: Path, node: ComputeNode) -> Path:
    return root / node.pool.id / node.id


def task_directory(root: Path, task: Task) -> Path | None:
    """The directory of the task's latest run on its node (None if it never started)."""
    info = task.doc.get("nodeInfo")
    if not info:
        return None
    return root / info["poolId"] / info["nodeId"] / info["taskRootDirectory"]
