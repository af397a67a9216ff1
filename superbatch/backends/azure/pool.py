"""The pool: created when absent, checked against the spec when present, watched while waiting."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from superbatch.backends.azure.definitions import pool_definition, pool_image
from superbatch.backends.azure.session import Session
from superbatch.errors import InfraError, UserError
from superbatch.redact import redact


def ensure_pool(session: Session, registry: dict | None) -> list[str]:
    """Create the spec's pool if it does not exist; otherwise say how it differs."""
    spec = session.record.spec
    pool_id = session.target.pool_id
    try:
        pool = session.call(lambda: session.client.get_pool(pool_id), f"get pool {pool_id}")
    except ResourceNotFoundError:
        definition = pool_definition(spec, registry)
        try:
            session.call(lambda: session.client.create_pool(definition), f"create pool {pool_id}")
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            raise session.refused(exc, f"creating pool {pool_id}") from None
        return []
    check_pool_fits(pool, spec)
    return pool_differences(pool, spec)


def pool_differences(pool, spec) -> list[str]:
    """How an existing pool differs from the spec (it is used as it is)."""
    notes = []
    want = spec.azure.pool
    if pool.vm_size and pool.vm_size.lower() != want.vm_size.lower():
        notes.append(
            f"pool {pool.id} exists with vm_size {pool.vm_size}; the spec says "
            f"{want.vm_size} (the existing pool is used; delete it to change)."
        )
    vm = pool.virtual_machine_configuration
    config = vm.container_configuration if vm else None
    if config is not None and spec.worker.image not in (config.container_image_names or []):
        notes.append(
            f"pool {pool.id} does not prefetch {spec.worker.image}; each node pulls "
            f"it when its first task starts."
        )
    image = vm.image_reference if vm else None
    want_image = pool_image(spec)
    if image is not None and (image.publisher or "").lower() != want_image.publisher.lower():
        notes.append(
            f"pool {pool.id} exists with the image {image.publisher}/{image.offer}/{image.sku}; "
            f"the spec's mode would pick {want_image.publisher}/{want_image.offer}/"
            f"{want_image.sku} (the existing pool is used)."
        )
    return notes


def check_pool_fits(pool, spec) -> None:
    """An existing pool must run the job's kind of task: the service refuses container tasks
    on a pool without a container configuration, and plain tasks on one with it."""
    vm = pool.virtual_machine_configuration
    containers = vm is not None and vm.container_configuration is not None
    if spec.worker.image and not containers:
        raise UserError(
            f"pool {pool.id} exists without a container configuration, so it cannot run the "
            f"worker's image {spec.worker.image}: delete the pool, choose another "
            f"azure.pool.id, or drop worker.image to ship the worker's files (code mode)."
        )
    if not spec.worker.image and containers:
        raise UserError(
            f"pool {pool.id} runs containers, and Azure Batch requires every task on it to name "
            f"an image, but this spec ships the worker's files (no worker.image, code mode): "
            f"choose another azure.pool.id for a pool without containers, or give worker.image."
        )


def check_pool_health(session: Session) -> None:
    """A pool that cannot get nodes is reported, not waited on forever."""
    pool_id = session.target.pool_id
    try:
        pool = session.call(lambda: session.client.get_pool(pool_id), f"get pool {pool_id}")
    except ResourceNotFoundError:
        raise InfraError(
            f"pool {pool_id} does not exist any more, so job {session.job_id} "
            f"cannot run; run `superbatch submit` again to recreate it."
        ) from None
    nodes = (pool.current_dedicated_nodes or 0) + (pool.current_low_priority_nodes or 0)
    if nodes == 0 and pool.allocation_state == "steady" and pool.resize_errors:
        reasons = "; ".join(f"{e.code}: {e.message}" for e in pool.resize_errors)
        spot = (
            " Spot (low-priority) nodes need a Batch account in user-subscription "
            "mode; see docs/azure.md."
            if (pool.target_low_priority_nodes or 0)
            else ""
        )
        raise InfraError(
            redact(f"pool {pool_id} has no nodes and cannot get any ({reasons}).{spot}")
        )
