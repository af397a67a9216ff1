"""Where an azure job lives, fixed at submit: accounts, pool, containers and blob names.

Storage layout (docs/azure.md, "Where files go"):

- the spec's container (shared by jobs): ``<job-id>/config.<ext>`` and
  ``<job-id>/inputs/<task-id>`` (one blob per task that needs one), read by the tasks through
  one read-only SAS per blob;
- the job's own container ``<container>-<12 hex>``: ``out/<task-id>/superbatch-output.<32
  hex>`` (the task's output, or a tar of its points' outputs, under a name the task draws at
  random when it ends) and ``logs/<batch-job>/<task-id>/std*.txt``, written by the tasks
  through a create+write SAS that covers this container only (and, with an account key,
  refers to a stored access policy that superbatch revokes when the job is over).
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

from superbatch.contract.names import FileNames

MAX_ID = 64
POLICY_ID = "superbatch-tasks"


class AzureTarget(BaseModel):
    """The facts about an azure job that the record keeps (never a secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str
    account: str | None
    storage_account: str | None
    container: str
    job_container: str
    pool_id: str
    revocable: bool  # SAS refer to a stored access policy (account key, not Entra ID)
    mode: str = "image"  # image: tasks run in worker.image; code: the worker's files are shipped
    code_archive: str | None = None  # code mode: the archive blob (content-addressed)
    code_requirements: str | None = None  # code mode: the requirements blob, if any
    env_digest: str | None = None  # code mode: names the environment on the nodes
    price_dedicated: float | None = None  # USD per node-hour at submit (None: unknown)
    price_spot: float | None = None


def job_container_name(container: str, job_id: str) -> str:
    """The job's own container: 3-63 lowercase letters, digits and single hyphens."""
    suffix = hashlib.sha256(job_id.encode()).hexdigest()[:12]
    base = container[: 63 - len(suffix) - 1].rstrip("-")
    return f"{base}-{suffix}"


def retry_job_id(job_id: str, number: int) -> str:
    """The Batch job of retry round ``number``: unique per job, at most 64 characters."""
    plain = f"{job_id}-r{number}"
    if len(plain) <= MAX_ID:
        return plain
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:10]
    suffix = f"-{digest}-r{number}"
    return job_id[: MAX_ID - len(suffix)].rstrip("-_") + suffix


def config_blob(job_id: str, names: FileNames) -> str:
    return f"{job_id}/{names.config}"


def input_blob(job_id: str, task_id: str) -> str:
    return f"{job_id}/inputs/{task_id}"


def output_dir(task_id: str) -> str:
    """The virtual directory the task's output is uploaded to (its name is drawn on the node)."""
    return f"out/{task_id}"


def task_of_output(name: str) -> str | None:
    """The task whose output directory holds blob ``name`` (None: not under one)."""
    parts = name.split("/", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "out" and parts[2] else None


def log_prefix(batch_job_id: str, task_id: str) -> str:
    return f"logs/{batch_job_id}/{task_id}"
