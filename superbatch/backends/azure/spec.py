"""The azure backend's part of the job spec: the ``azure:`` section and the worker keys only
this backend reads (``image``, ``image_directory``, ``requirements``, ``setup``,
``upload_limit_mb``).

Light on purpose: the registry contributes these models to the spec whichever backend a job
uses, so this module imports pydantic and ``superbatch.spec.base`` only, never the Azure SDKs.
Backend code reads its section through :func:`azure_section` and :func:`azure_worker`.
"""

# (no `from __future__ import annotations`: pydantic would compile every annotation)

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, field_validator, model_validator

from superbatch.errors import UserError
from superbatch.spec.base import INT32_MAX, Duration, StrictModel

if TYPE_CHECKING:
    from superbatch.spec.models import JobSpec, WorkerSpec

BATCH_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CONTAINER_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
# Azure's NVIDIA GPU sizes: the N-series families NC, ND and NV (Standard_NC4as_T4_v3, ...).
GPU_VM_SIZE = re.compile(r"(standard_)?n[cdv]\w*", re.IGNORECASE)
BUDGET_KEY = ("azure", "budget", "max_usd")


class PoolImage(StrictModel):
    """A marketplace image for the pool's nodes (default: chosen by the worker's mode)."""

    publisher: str
    offer: str
    sku: str
    version: str = "latest"
    node_agent_sku_id: str


def is_gpu_size(vm_size: str) -> bool:
    """An N-series size (NC, ND, NV): its nodes have NVIDIA GPUs."""
    return GPU_VM_SIZE.fullmatch(vm_size) is not None


def _gpus(v: Any) -> Any:
    if isinstance(v, bool) or (isinstance(v, int) and 1 <= v <= 64):
        return v
    raise ValueError("must be true, false or the GPUs each node needs (a whole number 1-64)")


class PoolSpec(StrictModel):
    id: str = Field("superbatch", pattern=BATCH_ID_PATTERN)
    vm_size: str = "standard_d2s_v3"
    gpus: Annotated[bool | int, BeforeValidator(_gpus)] | None = Field(
        None,
        description="true, or the GPUs each node needs: a node image with the NVIDIA driver "
        "(default: true on an N-series vm_size, NC, ND or NV); false: the usual image.",
    )
    dedicated_nodes: int = Field(1, ge=0, le=INT32_MAX)
    low_priority_nodes: int = Field(0, ge=0, le=INT32_MAX)
    autoscale_formula: str | None = None
    task_slots_per_node: int = Field(1, ge=1, le=256)
    startup_time: Duration = Field(
        timedelta(minutes=6), description="How long a node takes to start (for the cost estimate)."
    )
    subnet_id: str | None = None
    image: PoolImage | None = None
    delete_when_done: bool = False

    @model_validator(mode="after")
    def _has_nodes(self) -> "PoolSpec":
        if self.autoscale_formula is None and self.dedicated_nodes + self.low_priority_nodes == 0:
            raise ValueError(
                "a pool needs dedicated_nodes, low_priority_nodes or an autoscale_formula"
            )
        if self.gpus not in (None, False) and not is_gpu_size(self.vm_size):
            raise ValueError(
                f"azure.pool.gpus is {str(self.gpus).lower()}, but azure.pool.vm_size "
                f"{self.vm_size} has no GPU: choose an N-series vm_size (NC, ND or NV, e.g. "
                f"standard_nc4as_t4_v3), or drop azure.pool.gpus"
            )
        return self

    @property
    def gpu(self) -> bool:
        """The nodes have GPUs, so they get an image with the NVIDIA driver."""
        return is_gpu_size(self.vm_size) if self.gpus is None else bool(self.gpus)


class StorageSpec(StrictModel):
    container: str = Field(
        "superbatch",
        min_length=3,
        max_length=63,
        pattern=CONTAINER_PATTERN,
        description="3-63 lowercase letters, digits and single hyphens.",
    )


class RegistrySpec(StrictModel):
    server: str = Field(min_length=1)
    username: str | None = Field(None, description="Default: env AZURE_REGISTRY_USERNAME.")


class CleanupSpec(StrictModel):
    job: bool = True
    container: bool = False


class BudgetSpec(StrictModel):
    max_usd: float = Field(
        gt=0,
        description="Refuse a job whose estimate exceeds this, and stop one whose spend passes it.",
    )


class AzureSpec(StrictModel):
    region: str | None = Field(
        None,
        pattern=r"^[a-z0-9]+$",
        description="The Batch account's region (e.g. westeurope), for prices; default: the "
        "one in AZURE_BATCH_ENDPOINT's host name.",
    )
    budget: BudgetSpec | None = None
    pool: PoolSpec = PoolSpec.model_construct()  # the defaults (nothing to validate)
    storage: StorageSpec = StorageSpec.model_construct()  # the defaults (nothing to validate)
    registry: RegistrySpec | None = None
    cleanup: CleanupSpec = CleanupSpec.model_construct()  # the defaults (nothing to validate)
    transfer_concurrency: int = Field(
        16, ge=1, le=128, description="Parallel blob uploads and downloads."
    )
    inline_inputs: bool = Field(
        True,
        description="Carry small task inputs inside the task "
        "definition instead of one blob per task.",
    )


class AzureJobKeys(StrictModel):
    """The job spec's ``azure:`` section."""

    azure: AzureSpec = AzureSpec.model_construct()  # the defaults (nothing to validate)


class AzureWorkerKeys(StrictModel):
    """The worker keys only the azure backend reads."""

    # What ``superbatch init`` writes of them (under ``worker:``; {name} is the job's name).
    scaffold: ClassVar[str] = (
        "  image: myregistry.azurecr.io/{name}:v1   # docker build -t ... worker/\n"
        "  image_directory: /app\n"
    )
    image: str | None = Field(
        None,
        description="Container image for azure; without one, "
        "azure ships worker.directory itself (code mode).",
    )
    image_directory: str = Field("/", description="Where the image holds the worker's files.")
    requirements: str | None = Field(
        None,
        description="Code mode: a pip requirements file, "
        "relative to the spec (default: requirements.txt in "
        "worker.directory, if there is one).",
    )
    setup: str | None = Field(
        None,
        description="Code mode: a shell snippet run once per node "
        "and environment, in the worker's directory, after the "
        "requirements are installed.",
    )
    upload_limit_mb: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Code mode: the most the worker's files may weigh before packing.",
    )

    @field_validator("image_directory")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must be an absolute path inside the image, e.g. /app")
        return v

    @classmethod
    def for_map(cls, worker: dict, base_dir: Path) -> bytes:
        """``superbatch.map`` ships the function with the worker's files (code mode): take
        ``requirements`` out of the base spec's ``worker`` (its lines, returned, go into the
        shipped directory's requirements.txt) and refuse ``image``."""
        given = worker.pop("requirements", None)
        needs = b""
        if given:
            path = (base_dir / given).resolve()
            try:
                needs = path.read_bytes()
            except OSError as exc:
                raise UserError(
                    f"worker.requirements: {path} cannot be read ({exc.strerror})."
                ) from None
        if worker.get("image"):
            raise UserError(
                "superbatch.map ships the function with the worker's files (code mode), so "
                "worker.image cannot be used with it: remove worker.image and list what the "
                "function needs in worker.requirements (see docs/python.md)."
            )
        return needs


def azure_section(model: "JobSpec") -> AzureSpec:
    """The spec's ``azure:`` section, typed."""
    assert isinstance(model, AzureJobKeys)  # the registry composes it into every JobSpec
    return model.azure


def azure_worker(worker: "WorkerSpec") -> AzureWorkerKeys:
    """The worker's azure-only keys, typed."""
    assert isinstance(worker, AzureWorkerKeys)  # the registry composes them into WorkerSpec
    return worker
