"""One azure job's connections: the Batch client, the storage containers, retried calls.

Clients are made on first use from the environment's credentials (never stored); what the
job's record fixed at submit (endpoint, accounts, containers, pool) decides where they point.
"""

from __future__ import annotations

import math
import os
import time
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from superbatch.backends.azure import credentials as creds
from superbatch.backends.azure.retry import describe, with_retries
from superbatch.backends.azure.spec import azure_section
from superbatch.backends.azure.storage import BlobStore, Storage
from superbatch.backends.azure.target import POLICY_ID, AzureTarget
from superbatch.contract.names import FileNames, file_names
from superbatch.errors import InfraError, UserError
from superbatch.jobs.record import JobRecord
from superbatch.jobs.state import JobState
from superbatch.util.redact import redact

MAX_SAS_LIFETIME = timedelta(days=30)
# A pool or job being deleted keeps its id until it is gone (a pool's nodes can take minutes).
DELETION_WAIT_SECONDS = 30 * 60
BEING_DELETED = ("PoolBeingDeleted", "JobBeingDeleted")
# Named when the client is made, so that requests superbatch builds itself (submit.py) say
# the same version as the SDK's own.
BATCH_API_VERSION = "2025-06-01"


def poll_seconds() -> float:
    return float(os.environ.get("SUPERBATCH_POLL_SECONDS", "5"))


def error_code(exc: HttpResponseError) -> str | None:
    return getattr(getattr(exc, "error", None), "code", None)


def wait_until_deleted(session: Session, get, what: str) -> None:
    """Poll ``get()`` until it answers 404: a pool or job the service is deleting answers
    create with 409 ``PoolBeingDeleted``/``JobBeingDeleted`` until then."""
    deadline = time.monotonic() + DELETION_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            session.call(get, what)
        except ResourceNotFoundError:
            return
        time.sleep(poll_seconds())
    raise InfraError(
        f"{what}: still being deleted after {DELETION_WAIT_SECONDS // 60} minutes; "
        f"run the same command again later."
    )


class Session:
    """The job, its record and its connections."""

    def __init__(self, state: JobState, record: JobRecord):
        self.state = state
        self.record = record
        self.target = AzureTarget.model_validate(record.target)
        self.names: FileNames = file_names(record.format)
        self._client = None
        self._storage: Storage | None = None

    @property
    def job_id(self) -> str:
        return self.state.job_id

    @property
    def client(self):
        if self._client is None:
            batch = creds.batch_credentials()
            if batch.endpoint != self.target.endpoint:
                raise UserError(
                    f"job {self.job_id} runs on {self.target.endpoint}, but "
                    f"AZURE_BATCH_ENDPOINT is {batch.endpoint}: set it to the "
                    f"job's account."
                )
            self._client = batch.client(
                retry_total=3, retry_backoff_factor=0.2, api_version=BATCH_API_VERSION
            )
        return self._client

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = Storage(
                creds.storage_credentials(), azure_section(self.record.spec).transfer_concurrency
            )
        return self._storage

    @property
    def inputs(self) -> BlobStore:
        """The spec's container: the job's config and inputs (read by tasks)."""
        return self.storage.container(self.target.container)

    @property
    def outputs(self) -> BlobStore:
        """The job's own container: outputs and logs (written by tasks)."""
        return self.storage.container(self.target.job_container)

    @property
    def policy_id(self) -> str | None:
        return POLICY_ID if self.target.revocable else None

    def call(self, fn, what: str):
        """``fn()`` with superbatch's retry budget (exit 3 past it, exit 2 on credentials)."""
        return with_retries(
            fn, what, f"Nothing is lost (job {self.job_id}): run the same command again to resume."
        )

    def refused(self, exc: HttpResponseError, what: str) -> Exception:
        if exc.status_code in (401, 403):
            return UserError(
                f"{what}: the service refused the credentials "
                f"({describe(exc)}); check AZURE_BATCH_ACCOUNT and "
                f"AZURE_BATCH_ACCESS_KEY (or your az login)."
            )
        error = getattr(exc, "error", None)
        message = error.message if error else exc.message
        return UserError(redact(f"{what}: {describe(exc)}: {message}"))

    def sas_expiry(self, tasks: int) -> datetime:
        """Long enough for every task to run (with retries) on the pool, plus a day; <= 30 days."""
        spec = self.record.spec
        wall = spec.tasks.max_wall_time or timedelta(days=1)
        pool = azure_section(spec).pool
        slots = max(
            1, (pool.dedicated_nodes + pool.low_priority_nodes or 1) * pool.task_slots_per_node
        )
        tries = (spec.tasks.max_retries + 1) if spec.tasks.max_retries >= 0 else 4
        try:
            needed = wall * tries * math.ceil(tasks / slots) + timedelta(days=1)
        except OverflowError:
            needed = MAX_SAS_LIFETIME
        return datetime.now(timezone.utc) + min(needed, MAX_SAS_LIFETIME)

    def batch_jobs(self) -> list[str]:
        """The submission's Batch jobs: the job itself, then each retry round's."""
        return [self.job_id] + [r.job for r in self.state.read_progress().retries]
