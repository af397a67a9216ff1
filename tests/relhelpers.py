"""Helpers for the reliability tests: the azure rig factory (Azurite + the project's emulator),
specs with tiny workers, killing a command part-way, reading a job's state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from clihelp import write_spec

# A worker that echoes its point: output = x * 2 (joblib), so results are easy to check.
DOUBLE = (
    "import joblib\nx = joblib.load('inputs.pickle')['x']\njoblib.dump(x * 2, 'outputs.pickle')\n"
)


def failing(fixed: Path) -> str:
    """A worker that fails for x == 4 until the file ``fixed`` exists (then retry succeeds).

    ``fixed`` lies outside the worker's files: creating it changes no job's identity, and it
    reaches the copy of the worker's files a job runs.
    """
    return (
        "import joblib, os, sys\nx = joblib.load('inputs.pickle')['x']\n"
        f"if x == 4 and not os.path.exists({str(fixed)!r}):\n"
        "    print('bad point', x, file=sys.stderr)\n    sys.exit(5)\n"
        "print('point', x)\njoblib.dump(x * 2, 'outputs.pickle')\n"
    )


def container_of(spec: Path) -> str:
    import yaml

    return yaml.safe_load(spec.read_text())["azure"]["storage"]["container"]


def job_spec(
    root: Path,
    name: str,
    points: int,
    worker: str = DOUBLE,
    extra: str = "",
    tasks: str = "{points_per_task: 1, max_retries: 0}",
    container: str | None = None,
    reduce: str = "list",
) -> Path:
    """A spec whose worker (``worker/w.py``) maps point {x} to x * 2."""
    (root / "worker").mkdir(parents=True, exist_ok=True)
    (root / "worker" / "w.py").write_text(worker)
    container = container or f"rel{abs(hash(str(root))) % 10**8}"
    return write_spec(
        root,
        (
            f"name: {name}\nworker:\n  command: python {{worker_dir}}/w.py\n  directory: worker\n"
            f"  image: example.azurecr.io/w:v1\n  image_directory: /app\n"
            f"parameters: {{x: {{range: [{points}]}}}}\ntasks: {tasks}\n"
            f"collect: {{reduce: {reduce}}}\n"
            f"azure:\n  pool: {{id: relpool, vm_size: standard_d2s_v3, dedicated_nodes: 2}}\n"
            f"  storage: {{container: {container}}}\n{extra}"
        ),
        name=f"{name}.yaml",
    )


def job_ids(spec: Path) -> list[str]:
    """The ids of the jobs submitted from ``spec`` that have state beside it."""
    root = spec.parent / ".superbatch"
    found = []
    for path in sorted(root.glob("*/record.json")) if root.is_dir() else []:
        if json.loads(path.read_text()).get("spec_path") == str(spec):
            found.append(path.parent.name)
    return found


def progress(spec: Path, job_id: str) -> dict:
    return json.loads((spec.parent / ".superbatch" / job_id / "progress.json").read_text())


def start(args: list, env: dict, cwd=None) -> subprocess.Popen:
    """Start ``superbatch ARGS`` in the background (output discarded)."""
    full = dict(os.environ)
    full.pop("SUPERBATCH_STATE_DIR", None)
    full.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "superbatch", *map(str, args)],
        env=full,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_after(args: list, seconds: float, env: dict, cwd=None) -> int | None:
    """Start ``superbatch ARGS``, SIGKILL it after ``seconds`` (if still running)."""
    proc = start(args, env, cwd)
    time.sleep(seconds)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=30)


def leaked_output(task) -> tuple[str, str]:
    """What a task's definition reveals of where its output goes: the output container's URL
    with its write SAS, and the virtual directory the output's name starts in. A task the
    task runner runs carries them in its environment and manifest; any other task in its
    ``outputFiles``."""
    import re

    env = {e.name: e.value for e in task.environment_settings or []}
    if "SUPERBATCH_OUTPUT_URL" in env:
        prefix = re.search(r'\\?"upload\\?":\\?"([^"\\]+)/superbatch-output\.', task.command_line)
        return env["SUPERBATCH_OUTPUT_URL"], prefix.group(1)
    renamed = next(o for o in task.output_files if o.file_pattern == "superbatch-output.*")
    return renamed.destination.container.container_url, renamed.destination.container.path
