"""GPU pools: the node image comes from the account's supported images.

A pool whose nodes have GPUs (``azure.pool.gpus``, or an N-series ``vm_size``) needs an image
with the NVIDIA driver. ``GET /supportedimages`` lists each image's ``capabilities`` ("not
every capability of the Image is listed"); the GPU-ready images carry a driver capability
(``NvidiaTeslaDriverInstalled`` on ``microsoft-dsvm / ubuntu-hpc``), so any capability naming
an NVIDIA driver is taken. A container pool also needs ``DockerCompatible``. Batch itself gives
container tasks the GPUs on such a pool (no ``--gpus`` run option: see docs/azure.md).
"""

from __future__ import annotations

import re

from superbatch.backends.azure.spec import PoolImage, azure_section, azure_worker
from superbatch.errors import UserError
from superbatch.spec.models import JobSpec

DRIVER_CAPABILITY = re.compile(r"nvidia\w*driver", re.IGNORECASE)
DOCKER_CAPABILITY = "dockercompatible"


def driver_capability(image) -> str | None:
    """The NVIDIA driver capability a supported image lists, if any."""
    return next((c for c in image.capabilities or [] if DRIVER_CAPABILITY.search(c)), None)


def _ubuntu_version(image) -> float:
    found = re.search(r"ubuntu (\d+)\.(\d+)", image.node_agent_sku_id or "")
    return float(f"{found[1]}.{found[2]}") if found else 0.0


def gpu_image(offered: list, containers: bool) -> PoolImage | None:
    """The Linux image with the NVIDIA driver to use (Docker-compatible for containers):
    one without an announced end of support first, then the newest Ubuntu node agent."""
    candidates = [
        image
        for image in offered
        if (image.os_type or "").lower() == "linux"
        and driver_capability(image)
        and (not containers or DOCKER_CAPABILITY in [c.lower() for c in image.capabilities or []])
    ]
    if not candidates:
        return None
    best = min(
        candidates,
        key=lambda i: (i.batch_support_end_of_life is not None, -_ubuntu_version(i)),
    )
    ref = best.image_reference
    return PoolImage(
        publisher=ref.publisher,
        offer=ref.offer,
        sku=ref.sku,
        version=ref.version or "latest",
        node_agent_sku_id=best.node_agent_sku_id,
    )


def no_gpu_image(spec: JobSpec) -> str:
    """Why no image fits, and the fix."""
    kind = " that runs containers" if azure_worker(spec.worker).image else ""
    return (
        f"the account offers no node image with the NVIDIA driver{kind} for the GPU size "
        f"{azure_section(spec).pool.vm_size} (no image in `az batch pool supported-images list` has a "
        f"capability such as NvidiaTeslaDriverInstalled{' and DockerCompatible' if kind else ''})"
        f": give azure.pool.image, e.g. microsoft-dsvm / ubuntu-hpc / 2404 with node agent "
        f"batch.node.ubuntu 24.04"
    )


def choose_gpu_image(offered: list, spec: JobSpec) -> PoolImage:
    """The GPU image for the spec's pool; a UserError (exit 2) when the account has none."""
    image = gpu_image(offered, containers=bool(azure_worker(spec.worker).image))
    if image is None:
        raise UserError(no_gpu_image(spec) + ".")
    return image
