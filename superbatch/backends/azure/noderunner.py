"""The task runner on a node: when a task runs it, and the lines of its command line that do.

A task runs the task runner (``runnerapp.py``) when ``worker.function`` is set, or when the
command is ``python SCRIPT [ARGS...]`` or ``python3 ...`` in plain words with the script by
an absolute path (``{worker_dir}/...``): the task runner then runs under that same ``python``
(the image's, or code mode's environment's, first on ``PATH``), so the worker's interpreter
is the one its command names. Any other command keeps the shell loop (``definitions.py``).

Its manifest is the local backend's (``superbatch/contract/manifest.py``) with the node's paths:
relative to the task's working directory, and in code mode the worker's directory as the
task's shell expands it. Batch enforces ``max_wall_time`` itself (the manifest has none).
The task runner uploads the task's output itself under a name it draws in memory
(``superbatch/taskrunner/upload.py``), with the output container's write SAS from the
task's environment, so such a task has no ``outputFiles`` entry for its output and leaves no
file that names it. A node without that interpreter, or whose Python is older than 3.8,
fails the task naming what it needs (the shell loop could not upload).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from superbatch.backends.azure.codemode import WORKER_DIR_ON_NODE
from superbatch.backends.azure.runnerapp import APP_FILE, TOO_OLD_MARKER
from superbatch.backends.azure.spec import azure_section, azure_worker
from superbatch.contract.manifest import python_words, worker_manifest
from superbatch.contract.names import FileNames
from superbatch.plan.chunks import TaskPlan

# The task's files on the node (the shell loop's too).
INPUTS_TAR = "inputs.tar"
OUTPUTS_TAR = "outputs.tar"
OUTPUTS_LIST = "outputs.list"
OUTPUTS_DIR = "out"  # where the task runner would publish; it uploads instead
NO_PYTHON_EXIT = 92
HEREDOC = "SUPERBATCH_MANIFEST"
# Stands for code mode's worker directory while the manifest is JSON; the task's shell
# expands it (the heredoc is unquoted, everything else in it escaped).
_MARK = "/@superbatch-worker-dir@"
# One encoder for every task: json.dumps with separators builds a new one per call, which
# cost as much as the rest of the manifest's text (at 100,000 tasks, seconds of the submit).
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class NodeRunner:
    """How every task of a job runs the task runner."""

    interpreter: str  # the word the command starts with (python3 for a function)
    manifest: dict  # the worker's part of the manifest, node paths
    where: str  # "image X" or "the node": said when a function finds no Python
    function: bool


def node_runner(spec, fmt: str, command: str, multi_point: bool, names: FileNames):
    """The job's NodeRunner, or None when its tasks keep the shell loop."""
    worker = spec.worker
    code_mode = not azure_worker(worker).image
    if worker.function:
        interpreter, argv = "python3", None
    else:
        marked = command.replace(WORKER_DIR_ON_NODE, _MARK) if code_mode else command
        argv = python_words(marked)
        if argv is None or not os.path.isabs(argv[1]):
            return None
        interpreter = argv[0]
    if code_mode:
        worker_dir = _MARK
    else:
        worker_dir = azure_worker(worker).image_directory.rstrip("/") or "/"
    manifest = worker_manifest(
        worker,
        fmt,
        command,
        multi_point,
        argv=argv,
        executable=None,
        worker_dir=worker_dir,
        can_fork=True,  # Batch's Linux nodes
        outputs_dir=OUTPUTS_DIR if multi_point else ".",
        outputs_pattern=f"p{{}}/{names.outputs}" if multi_point else names.outputs,
        wall_time=None,  # Batch ends a task past maxWallClockTime itself
    )
    # A task's points then run as many at once as its slot's share of the node's CPUs.
    manifest["slots_per_node"] = azure_section(spec).pool.task_slots_per_node
    image = azure_worker(worker).image
    where = f"image {image}" if image else "the node"
    return NodeRunner(interpreter, manifest, where, bool(worker.function))


def runner_steps(runner: NodeRunner, task: TaskPlan, names: FileNames, upload: str) -> list[str]:
    """Lines that run the task runner, which uploads the task's output itself as
    ``upload`` + a name it draws in memory. A node whose ``python`` is missing or older
    than 3.8 fails the task (exit ``NO_PYTHON_EXIT``): nothing else could upload."""
    manifest = dict(
        runner.manifest,
        task_id=task.id,
        points=[task.first_point, task.point_count],
        config=names.config,
        task_dir=".",
        upload=upload,
        say_failed_point=True,  # status reads it from the task's stderr (observe.py)
    )
    if runner.manifest["multi_point"]:
        manifest["inputs"] = INPUTS_TAR
    else:
        manifest["point_inputs"] = names.inputs
    py = runner.interpreter
    what = "worker.function" if runner.function else "the task runner (it runs the command)"
    fail = (
        f'{{ echo "superbatch: {what} needs Python 3.8 or later as {py} in {runner.where}" '
        f">&2; exit {NO_PYTHON_EXIT}; }}"
    )
    return [
        f"rm -f {TOO_OLD_MARKER}",
        f"command -v {py} >/dev/null 2>&1 || {fail}",
        f"{py} {APP_FILE} - <<{HEREDOC} || "
        f"{{ rc=$?; [ -f {TOO_OLD_MARKER} ] && exit {NO_PYTHON_EXIT}; exit $rc; }}",
        _heredoc_json(manifest),
        HEREDOC,
    ]


def _heredoc_json(document: dict) -> str:
    """``document`` as the body of an unquoted heredoc: only code mode's worker directory
    is expanded by the shell."""
    text = _COMPACT(document)
    for char in ("\\", "$", "`"):
        text = text.replace(char, "\\" + char)
    return text.replace(_MARK, WORKER_DIR_ON_NODE)
