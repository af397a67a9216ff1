"""What the nodes need before a job's tasks run there: in code mode the worker's files
shipped and the job's preparation task that installs them; with a private registry its
credentials (from the environment, never stored)."""

from __future__ import annotations

from pathlib import Path

from superbatch.backends.azure import codemode
from superbatch.backends.azure import credentials as creds
from superbatch.backends.azure.session import Session
from superbatch.backends.azure.spec import azure_section, azure_worker
from superbatch.errors import UserError
from superbatch.jobs.state import STATE_DIRNAME
from superbatch.spec.load import Spec


def registry_reference(session: Session) -> dict | None:
    """The spec's private registry with credentials from the environment (REST shape)."""
    registry = azure_section(session.record.spec).registry
    if not registry:
        return None
    rc = creds.registry_credentials(registry.server)
    reference = {"registryServer": registry.server}
    username = registry.username or rc.username
    if username:
        reference["username"] = username
    if rc.password:
        reference["password"] = rc.password
    return reference


def ship_code(session: Session) -> None:
    """Code mode: upload the worker's archive and requirements unless already there (their
    names are their content)."""
    target = session.target
    blobs = [b.name for b in session.call(lambda: session.inputs.list("code/"), "list code")]
    wanted = [b for b in (target.code_archive, target.code_requirements) if b]
    if all(b in blobs for b in wanted):
        return
    spec = Spec.from_model(session.record.spec, Path(session.record.spec_path))
    bundle = codemode.pack(spec, (spec.path, spec.directory / STATE_DIRNAME))
    if (
        bundle.archive_blob != target.code_archive
        or bundle.requirements_blob != target.code_requirements
    ):
        raise UserError(
            f"the worker's files changed since job {session.job_id} was submitted, "
            f"and its archive was never uploaded; submit the spec again with --new."
        )
    session.call(
        lambda: session.inputs.upload(bundle.archive_blob, bundle.archive),
        "upload the worker's files",
    )
    name, requirements = bundle.requirements_blob, bundle.requirements
    if name and requirements is not None:
        session.call(
            lambda: session.inputs.upload(name, requirements),
            "upload requirements",
        )


def prep_task(session: Session) -> dict:
    """Code mode: the job's preparation task, reading the archive through read-only SAS."""
    target = session.target
    assert target.code_archive and target.env_digest, "a code-mode job has its archive"
    expiry = session.sas_expiry(session.record.task_count)
    archive_url = session.inputs.read_url(target.code_archive, expiry)
    requirements_url = (
        session.inputs.read_url(target.code_requirements, expiry)
        if target.code_requirements
        else None
    )
    return codemode.prep_task(
        target.env_digest,
        azure_worker(session.record.spec.worker).setup,
        archive_url,
        requirements_url,
    )
