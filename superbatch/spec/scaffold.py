"""``superbatch init``: a job spec, a worker and a Dockerfile to start from."""

from __future__ import annotations

import re
from pathlib import Path

from superbatch.backends.registry import scaffold_worker_keys
from superbatch.contract.names import (
    GLOBAL_CONFIG_FILE,
    LOCAL_INPUTS_PATTERN,
    LOCAL_OUTPUTS_PATTERN,
    TASK_INPUTS_FILE,
    TASK_OUTPUTS_FILE,
)
from superbatch.errors import UserError

SPEC = """\
# A superbatch job: `superbatch run {name}.yaml` (local), `--backend azure` for Azure Batch.
name: {name}
backend: local

worker:
  command: python {{worker_dir}}/worker.py
  directory: worker
{backend_worker_keys}
globals:          # written once as config.pickle
  power: 2

parameters:       # one task per combination
  x: [1, 2, 3, 4]

tasks:
  points_per_task: 1
  max_retries: 1
  max_wall_time: 30m

collect:
  reduce: sum
  output: results/{name}.json
"""

WORKER = """\
# Runs one point of the loop: reads the config and inputs, writes the outputs.
import joblib
from constants import GLOBAL_CONFIG_FILE, TASK_INPUTS_FILE, TASK_OUTPUTS_FILE

config = joblib.load(GLOBAL_CONFIG_FILE)
inputs = joblib.load(TASK_INPUTS_FILE)

result = inputs["x"] ** config["power"]

joblib.dump(result, TASK_OUTPUTS_FILE)
"""

CONSTANTS = f"""\
# The file names shared by the controller (superbatch) and the worker.
GLOBAL_CONFIG_FILE = "{GLOBAL_CONFIG_FILE}"
TASK_INPUTS_FILE = "{TASK_INPUTS_FILE}"
TASK_OUTPUTS_FILE = "{TASK_OUTPUTS_FILE}"
LOCAL_INPUTS_PATTERN = "{LOCAL_INPUTS_PATTERN}"
LOCAL_OUTPUTS_PATTERN = "{LOCAL_OUTPUTS_PATTERN}"
"""

DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt
COPY constants.py worker.py /app/
"""

REQUIREMENTS = "joblib>=1.3\nnumpy>=1.24\n"


def scaffold(directory: str, name: str | None, force: bool) -> list[Path]:
    """Write the starter files; refuse to overwrite unless ``force``."""
    root = Path(directory)
    name = name or re.sub(r"[^a-z0-9-]+", "-", root.resolve().name.lower()).strip("-") or "job"
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?", name):
        raise UserError(f"--name {name!r}: use 1-40 lowercase letters, digits and '-'.")
    files = {
        root / f"{name}.yaml": SPEC.format(
            name=name, backend_worker_keys=scaffold_worker_keys().format(name=name)
        ),
        root / "worker" / "worker.py": WORKER,
        root / "worker" / "constants.py": CONSTANTS,
        root / "worker" / "Dockerfile": DOCKERFILE,
        root / "worker" / "requirements.txt": REQUIREMENTS,
    }
    clashes = [str(p) for p in files if p.exists()]
    if clashes and not force:
        raise UserError(f"{', '.join(clashes)} already exist; pass --force to overwrite.")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
