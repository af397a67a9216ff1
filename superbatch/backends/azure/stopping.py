"""Stopping an azure job: its Batch jobs terminated (cancel), its tasks' write access to
its container taken back (seal). Used by the commands and by a job past its budget."""

from __future__ import annotations

import time

from azure.batch import models as bm
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from superbatch.backends.azure.session import Session, error_code


def seal(session: Session) -> list[str]:
    """Revoke the tasks' write access (a no-op with Entra ID, whose SAS only expire)."""
    if not session.policy_id:
        return []
    session.call(session.outputs.revoke_task_writes, "revoke the tasks' write access")
    return []


def cancel(session: Session) -> None:
    session.state.update_progress(job_state="terminated", finished_at=time.time())
    for job_id in session.batch_jobs():
        try:
            # azure-batch 15.1 cannot send a terminate without options (it fails to
            # serialize the missing body), and does not export the options model.
            options = bm._models.BatchJobTerminateOptions(termination_reason="UserCancelled")
            session.call(
                lambda j=job_id, o=options: session.client.begin_terminate_job(j, o),
                f"terminate {job_id}",
            )
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            if error_code(exc) not in (
                "JobCompleted",
                "JobTerminating",
                "JobNotFound",
                "JobBeingDeleted",
            ):
                raise session.refused(exc, f"terminating job {job_id}") from None
    seal(session)
