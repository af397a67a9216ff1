"""The pool: created when absent, checked against the spec when present, watched while waiting."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from superbatch.backends.azure.definitions import pool_definition, pool_image
from superbatch.backends.azure.session import Session, error_code, wait_until_deleted
from superbatch.backends.azure.spec import azure_section, azure_worker
from superbatch.errors import InfraError, UserError
from superbatch.util.redact import redact


def ensure_pool(session: Session, registry: dict | None) -> list[str]:
    """Create the spec's pool if it does not exist; otherwise say how it differs."""
    spec = session.record.spec
    pool_id = session.target.pool_id
    get = lambda: session.client.get_pool(pool_id)  # noqa: E731
    try:
        pool = session.call(get, f"get pool {pool_id}")
    except ResourceNotFoundError:
        pool = None
    if pool is not None and pool.state == "deleting":
        wait_until_deleted(session, get, f"pool {pool_id} is being deleted; waiting")
        pool = None
    if pool is None:
        definition = pool_definition(spec, registry, _gpu_image(session))
        while True:
            try:
                session.call(
                    lambda: session.client.create_pool(definition), f"create pool {pool_id}"
                )
                break
            except HttpResponseError as exc:
                if error_code(exc) == "PoolBeingDeleted":
                    wait_until_deleted(session, get, f"pool {pool_id} is being deleted; waiting")
                    continue
                if isinstance(exc, ResourceExistsError):
                    return []
                raise session.refused(exc, f"creating pool {pool_id}") from None
        created = f"pool:{pool_id}"
        session.state.update_progress(
            lambda p: p.model_copy(update={"created": sorted({*p.created, created})})
        )
        return []
    check_pool_fits(pool, spec)
    return pool_differences(pool, spec)


def _gpu_image(session: Session):
    """A GPU pool's image, from the account's supported images (None: the spec's own or the
    mode's default)."""
    spec = session.record.spec
    pool = azure_section(spec).pool
    if not pool.gpu or pool.image:
        return None
    from superbatch.backends.azure.gpu import choose_gpu_image

    offered = session.call(
        lambda: list(session.client.list_supported_images()), "list the supported images"
    )
    return choose_gpu_image(offered, spec)


def pool_differences(pool, spec) -> list[str]:
    """How an existing pool differs from the spec (it is used as it is)."""
    notes = []
    want = azure_section(spec).pool
    if pool.vm_size and pool.vm_size.lower() != want.vm_size.lower():
        notes.append(
            f"pool {pool.id} exists with vm_size {pool.vm_size}; the spec says "
            f"{want.vm_size} (the existing pool is used; delete it to change)."
        )
    vm = pool.virtual_machine_configuration
    config = vm.container_configuration if vm else None
    worker_image = azure_worker(spec.worker).image
    if config is not None and worker_image not in (config.container_image_names or []):
        notes.append(
            f"pool {pool.id} does not prefetch {worker_image}; each node pulls "
            f"it when its first task starts."
        )
    image = vm.image_reference if vm else None
    want_image = pool_image(spec)
    chosen = want.gpu and not want.image  # from the supported images, not a default
    if (
        image is not None
        and not chosen
        and (image.publisher or "").lower() != want_image.publisher.lower()
    ):
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
    worker_image = azure_worker(spec.worker).image
    if worker_image and not containers:
        raise UserError(
            f"pool {pool.id} exists without a container configuration, so it cannot run the "
            f"worker's image {worker_image}: delete the pool, choose another "
            f"azure.pool.id, or drop worker.image to ship the worker's files (code mode)."
        )
    if not worker_image and containers:
        raise UserError(
            f"pool {pool.id} runs containers, and Azure Batch requires every task on it to name "
            f"an image, but this spec ships the worker's files (no worker.image, code mode): "
            f"choose another azure.pool.id for a pool without containers, or give worker.image."
        )


def stop_pool(session: Session) -> list[str]:
    """Shrink the pool to no nodes, if this job created it (a pool found in place is not
    superbatch's to stop)."""
    pool_id = session.target.pool_id
    if f"pool:{pool_id}" not in session.state.read_progress().created:
        return [
            f"pool {pool_id} was not created by this job: it keeps its nodes (resize it "
            f"yourself: az batch pool resize --pool-id {pool_id} --target-dedicated-nodes 0)"
        ]
    from azure.batch import models as bm

    try:
        pool = session.call(lambda: session.client.get_pool(pool_id), f"get pool {pool_id}")
        if pool.enable_auto_scale:
            session.call(
                lambda: session.client.disable_pool_auto_scale(pool_id),
                f"disable autoscale of {pool_id}",
            )
        options = bm.BatchPoolResizeOptions(target_dedicated_nodes=0, target_low_priority_nodes=0)
        session.call(
            lambda: session.client.begin_resize_pool(pool_id, options), f"resize {pool_id} to zero"
        )
    except ResourceNotFoundError:
        return []
    except HttpResponseError as exc:
        if error_code(exc) != "PoolBeingDeleted":
            raise session.refused(exc, f"resizing pool {pool_id}") from None
        return []
    return [f"pool {pool_id} resized to zero nodes"]


def pool_spend(session: Session) -> float | None:
    """What the pool's nodes have cost since the job was submitted (list prices)."""
    from superbatch.backends.azure.estimate import spend_so_far
    from superbatch.backends.azure.prices import VmPrice
    from superbatch.util import clock

    target = session.target
    price = VmPrice(target.pool_id, None, target.price_dedicated, target.price_spot, "submit")
    try:
        pool = session.call(lambda: session.client.get_pool(target.pool_id), "get pool")
    except ResourceNotFoundError:
        return None
    finished = session.state.read_progress().finished_at
    until = min(clock.now(), finished) if finished else clock.now()
    return spend_so_far(
        pool.current_dedicated_nodes or 0,
        pool.current_low_priority_nodes or 0,
        until - session.record.created,
        price,
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
    targets = (pool.target_dedicated_nodes or 0) + (pool.target_low_priority_nodes or 0)
    if (
        nodes == 0
        and targets == 0
        and not pool.enable_auto_scale
        and pool.allocation_state == "steady"
    ):
        raise InfraError(
            f"pool {pool_id} has no nodes and asks for none, so job "
            f"{session.job_id} cannot run: resize it (az batch pool resize "
            f"--pool-id {pool_id} --target-dedicated-nodes 1), then wait again."
        )
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
