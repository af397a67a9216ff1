"""The manifest of a task of several points running a script worker in JSON format, as the
task runner reads it (the task runner's own tests)."""

from __future__ import annotations

import json
from pathlib import Path


def script_task_manifest(tmp_path: Path, script: Path, first: int, count: int, **extra) -> Path:
    """Write ``manifest.json`` for ``count`` points from ``first`` running ``script`` (forked
    per point unless ``extra`` says otherwise), with ``config.json``, ``inputs.tar``, ``task``
    and ``out`` in ``tmp_path``; its path."""
    manifest = {
        "isolation": "point",
        "command": f"python {script}",
        "argv": ["python", str(script)],
        "executable": None,
        "function": None,
        "worker_dir": str(script.parent),
        "format": "json",
        "names": {
            "config": "config.json",
            "inputs": "inputs.json",
            "outputs": "outputs.json",
            "outputs_pattern": "p{}/outputs.json",
        },
        "multi_point": True,
        "outputs_dir": str(tmp_path / "out"),
        "wall_time": None,
        "task_id": "task-00001",
        "points": [first, count],
        "config": str(tmp_path / "config.json"),
        "task_dir": str(tmp_path / "task"),
        "inputs": str(tmp_path / "inputs.tar"),
        **extra,
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path
