"""Pre-flight: what would make the first submission fail minutes in, asked before anything
is created. Each check is ok, a problem (with the fix), or not checked (and why).

Credentials (one cheap call each for Batch and Storage), the container (written with a probe
by ``doctor`` only), the worker's image in its registry (registryapi), the pool's node image
among those the account offers (``list_supported_images``), an existing pool that can run
the job's kind of task, the active-job count, and with the management plane (management.py)
the VM size in the region and the core quotas for its family and for Spot.
"""

from __future__ import annotations

from collections.abc import Callable

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from superbatch.backends.azure import credentials as creds
from superbatch.backends.azure import management, registryapi
from superbatch.backends.azure.definitions import pool_image
from superbatch.backends.azure.gpu import gpu_image, no_gpu_image
from superbatch.backends.azure.pool import check_pool_fits
from superbatch.backends.azure.retry import with_retries
from superbatch.backends.azure.spec import azure_section, azure_worker
from superbatch.backends.azure.storage import Storage
from superbatch.backends.reports import Check
from superbatch.errors import SuperbatchError
from superbatch.spec.load import Spec

PROBE_BLOB = "superbatch-doctor-probe"
DEFAULT_ACTIVE_JOB_QUOTA = 100  # the lowest default an account gets


def _attempt(name: str, call: Callable[[], str]) -> Check:
    """Run one check: its text when it passes; a problem naming the fix when it raises."""
    try:
        return Check(name, "ok", call())
    except SuperbatchError as exc:
        return Check(name, "problem", exc.message)
    except HttpResponseError as exc:
        return Check(name, "problem", f"HTTP {exc.status_code}: {exc.message}")


def run_checks(spec: Spec, write_probe: bool) -> list[Check]:
    model = spec.model
    checks: list[Check] = []
    quick = "Nothing was created."
    state: dict = {}

    def batch() -> str:
        state["client"] = creds.batch_credentials().client(retry_total=1, retry_backoff_factor=0.2)
        try:
            state["pool"] = with_retries(
                lambda: state["client"].get_pool(azure_section(model).pool.id),
                "check the Batch credentials",
                quick,
            )
        except ResourceNotFoundError:
            state["pool"] = None
        return f"{creds.batch_credentials().endpoint} answers to these credentials"

    checks.append(_attempt("Batch credentials", batch))
    client = state.get("client") if checks[-1].status == "ok" else None

    def storage() -> str:
        store = Storage(creds.storage_credentials(), azure_section(model).transfer_concurrency)
        state["container"] = store.container(azure_section(model).storage.container)
        state["exists"] = with_retries(
            state["container"].exists, "check the storage credentials", quick
        )
        return f"the storage account {store.account_name} answers to these credentials"

    checks.append(_attempt("Storage credentials", storage))
    if checks[-1].status == "ok":
        checks.append(_container_check(state["container"], state["exists"], write_probe))
    else:
        checks.append(Check("container", "not checked", "the storage credentials failed"))
    checks.append(_image_check(spec))
    if client is None:
        for name in ("pool", "node image", "active jobs"):
            checks.append(Check(name, "not checked", "the Batch credentials failed"))
    else:
        checks.append(_attempt("pool", lambda: _pool(state["pool"], spec)))
        checks.append(_attempt("node image", lambda: _node_image(client, spec)))
        checks.append(_attempt("active jobs", lambda: _active_jobs(client)))
    checks += _quota_checks(spec)
    return checks


def _container_check(container, exists: bool, write_probe: bool) -> Check:
    if not exists:
        return Check("container", "ok", f"{container.name} does not exist yet; submit creates it")
    if not write_probe:
        return Check("container", "ok", f"{container.name} exists")
    try:
        container.upload(PROBE_BLOB, b"superbatch doctor")
        container.client.delete_blob(PROBE_BLOB)
    except HttpResponseError as exc:
        return Check(
            "container",
            "problem",
            f"{container.name} cannot be written (HTTP "
            f"{exc.status_code}): give the identity "
            f"Storage Blob Data Contributor on the account",
        )
    return Check("container", "ok", f"{container.name} can be written")


def _image_check(spec: Spec) -> Check:
    image = azure_worker(spec.model.worker).image
    if not image:
        return Check("worker image", "ok", "code mode: no image, the worker's files are shipped")
    registry = azure_section(spec.model).registry
    user = password = None
    if registry:
        rc = creds.registry_credentials(registry.server)
        user, password = registry.username or rc.username, rc.password
    verdict = registryapi.check_image(image, user, password)
    return Check("worker image", verdict.status, verdict.detail)


def _pool(pool, spec: Spec) -> str:
    if pool is None:
        return f"{azure_section(spec.model).pool.id} does not exist yet; submit creates it"
    check_pool_fits(pool, spec.model)
    return f"{pool.id} exists and can run the job's tasks"


def _node_image(client, spec: Spec) -> str:
    offered = list(client.list_supported_images())
    pool = azure_section(spec.model).pool
    if pool.gpu and not pool.image:
        found = gpu_image(offered, containers=bool(azure_worker(spec.model.worker).image))
        if found is None:
            raise _problem(no_gpu_image(spec.model))
        return (
            f"{found.publisher}/{found.offer}/{found.sku} with {found.node_agent_sku_id} "
            f"(the NVIDIA driver) is offered for the GPU size {pool.vm_size}"
        )
    image = pool_image(spec.model)
    want = (image.publisher.lower(), image.offer.lower(), image.sku.lower())
    for item in offered:
        ref = item.image_reference
        if (ref.publisher.lower(), ref.offer.lower(), ref.sku.lower()) != want:
            continue
        if item.node_agent_sku_id.lower() != image.node_agent_sku_id.lower():
            continue
        caps = [c.lower() for c in item.capabilities or []]
        if azure_worker(spec.model.worker).image and "dockercompatible" not in caps:
            raise _problem(
                f"{want[0]}/{want[1]}/{want[2]} runs no containers here: choose a "
                f"DockerCompatible image in azure.pool.image"
            )
        return f"{want[0]}/{want[1]}/{want[2]} with {image.node_agent_sku_id} is offered"
    raise _problem(
        f"the account does not offer {want[0]}/{want[1]}/{want[2]} with "
        f"{image.node_agent_sku_id}; pick one from `az batch pool supported-images "
        f"list` for azure.pool.image"
    )


def _active_jobs(client) -> str:
    active = len(list(client.list_jobs(filter="state eq 'active'", select=["id"])))
    quota = DEFAULT_ACTIVE_JOB_QUOTA
    target = management.arm_target()
    if target:
        found = management.account_quotas(*target).active_jobs
        quota = found or quota
    if active >= quota:
        raise _problem(
            f"{active} jobs are active, the account's quota is {quota}: end or "
            f"delete old jobs (`superbatch prune`), or ask for more"
        )
    return f"{active} active jobs, quota {quota}" + ("" if target else " (the default)")


def _quota_checks(spec: Spec) -> list[Check]:
    target = management.arm_target()
    names = ("VM size", "core quota")
    if target is None:
        return [
            Check(
                n,
                "not checked",
                "set AZURE_SUBSCRIPTION_ID and AZURE_RESOURCE_GROUP "
                "to read the account through the management plane",
            )
            for n in names
        ]
    try:
        quotas = management.account_quotas(*target)
        skus = management.vm_skus(target[0], quotas.location) if quotas.location else {}
    except (HttpResponseError, OSError, SuperbatchError) as exc:
        detail = getattr(exc, "message", None) or str(exc).splitlines()[0]
        return [
            Check(n, "not checked", f"the management plane did not answer ({detail})")
            for n in names
        ]
    pool = azure_section(spec.model).pool
    sku = skus.get(pool.vm_size.lower())
    if sku is None:
        return [
            Check(
                "VM size",
                "problem",
                f"{pool.vm_size} is not offered to Batch in "
                f"{quotas.location}: pick another azure.pool.vm_size",
            ),
            Check("core quota", "not checked", "the VM size is not offered"),
        ]
    gpus = f", {sku.gpus} GPUs" if sku.gpus else ""
    want_gpus = pool.gpus if isinstance(pool.gpus, int) and pool.gpus is not True else 1
    if pool.gpu and sku.gpus is not None and sku.gpus < want_gpus:
        return [
            Check(
                "VM size",
                "problem",
                f"{sku.name} has {sku.gpus} GPUs in {quotas.location}, the pool asks for "
                f"{want_gpus} (azure.pool.gpus): pick a size with more in azure.pool.vm_size",
            ),
            Check("core quota", "not checked", "the VM size does not fit"),
        ]
    checks = [
        Check(
            "VM size",
            "ok",
            f"{sku.name} ({sku.vcpus} vCPUs{gpus}, {sku.family}) in {quotas.location}",
        )
    ]
    problems = []
    cores = (sku.vcpus or 0) * pool.dedicated_nodes
    family = (sku.family or "").lower()
    family_quota = quotas.per_family.get(family)
    if quotas.per_family_enforced and family_quota is not None and cores > family_quota:
        problems.append(
            f"{pool.dedicated_nodes} dedicated {sku.name} need {cores} cores, the "
            f"account's {sku.family} quota is {family_quota}"
        )
    elif quotas.dedicated_cores is not None and cores > quotas.dedicated_cores:
        problems.append(f"{cores} dedicated cores needed, quota {quotas.dedicated_cores}")
    spot = (sku.vcpus or 0) * pool.low_priority_nodes
    if spot and quotas.spot_cores is not None and spot > quotas.spot_cores:
        problems.append(
            f"{pool.low_priority_nodes} Spot {sku.name} need {spot} cores, the "
            f"Spot quota is {quotas.spot_cores}"
        )
    if problems:
        checks.append(
            Check(
                "core quota",
                "problem",
                "; ".join(problems) + ": ask for more "
                "(Azure portal, Batch account, Quotas) or use fewer or smaller nodes",
            )
        )
    else:
        checks.append(Check("core quota", "ok", f"{cores} dedicated and {spot} Spot cores fit"))
    return checks


def _problem(message: str) -> SuperbatchError:
    return SuperbatchError(message)
