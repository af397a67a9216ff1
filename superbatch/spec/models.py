"""The job spec: typed models, parsed and validated once.

Everything downstream receives a :class:`Spec` (the models plus where they came from); nothing
downstream sees the raw YAML dicts.
"""

import difflib
import os
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from superbatch.errors import SpecError
from superbatch.spec.axes import InlinePoints, Parameter
from superbatch.spec.base import Duration, StrictModel, empty_dict, empty_list
from superbatch.spec.errors import spec_error_from_validation
from superbatch.spec.yamlsource import SourceMap, load_yaml

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
BATCH_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CONTAINER_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
BUILTIN_REDUCERS = ("sum", "mean", "min", "max", "list", "stack", "concat", "table", "grid", "none")
# A value: .json .npy .pkl .csv; reduce: table: .csv .jsonl .parquet; reduce: grid: .npz .nc.
VALUE_SUFFIXES = (".json", ".npy", ".pkl", ".csv")
OUTPUT_SUFFIXES = (*VALUE_SUFFIXES, ".jsonl", ".parquet", ".npz", ".nc")
MAX_WALL_TIME = timedelta(days=7)
INT32_MAX = 2**31 - 1  # the Batch REST API's int32 fields
DEFAULT_MAX_POINTS = 10_000_000
# Azure's NVIDIA GPU sizes: the N-series families NC, ND and NV (Standard_NC4as_T4_v3, ...).
GPU_VM_SIZE = re.compile(r"(standard_)?n[cdv]\w*", re.IGNORECASE)


# -- sections ------------------------------------------------------------------------------

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
RESERVED_ENV = ("AZ_BATCH_", "SUPERBATCH_")


class FromEnv(StrictModel):
    """``{from_env: NAME}``: the value of NAME where superbatch runs (never stored)."""

    from_env: str = Field(pattern=ENV_NAME)


EnvValue = FromEnv | str | int | float | bool


FUNCTION_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class WorkerSpec(StrictModel):
    command: str | None = Field(
        None,
        min_length=1,
        description="Run in the task's working directory; "
        "{worker_dir} is replaced by the worker's directory. Exactly one of command and "
        "function.",
    )
    function: str | None = Field(
        None,
        pattern=FUNCTION_PATTERN,
        description="module:function, the module in worker.directory: called as "
        "function(config, inputs) once per point, its return value the point's output "
        "(no files). Exactly one of command and function.",
    )
    isolation: Literal["point", "task", "process"] | None = Field(
        None,
        description="How a task's points run: point (default; a Python worker is forked "
        "per point from a process that imported what it imports), task (one after another "
        "in one process: module state may carry over), process (a new process per point, "
        "through /bin/sh).",
    )
    env: dict[Annotated[str, Field(pattern=ENV_NAME)], EnvValue] = Field(
        default_factory=empty_dict,
        description="Environment variables for the worker: values, or "
        "{from_env: NAME} to take one from the environment superbatch runs in.",
    )
    directory: str | None = Field(
        None,
        description="The worker's files on this machine, "
        "relative to the spec (default: the spec's directory).",
    )
    image: str | None = Field(
        None,
        description="Container image for azure; without one, "
        "azure ships worker.directory itself (code mode).",
    )
    image_directory: str = Field("/", description="Where the image holds the worker's files.")
    format: Literal["joblib", "json"] = "joblib"
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
    fork: bool | None = Field(
        None,
        description="Deprecated: false is isolation: process.",
        json_schema_extra={"deprecated": True},
    )
    upload_limit_mb: int = Field(
        200,
        ge=1,
        le=10_000,
        description="Code mode: the most the worker's files may weigh before packing.",
    )

    @model_validator(mode="after")
    def _one_way_to_run(self) -> "WorkerSpec":
        if (self.command is None) == (self.function is None):
            raise ValueError(
                "give exactly one of worker.command (a command run once per point) and "
                "worker.function (module:function called once per point)"
            )
        if self.function and self.isolation == "process":
            raise ValueError(
                "isolation: process runs a command; a function runs in the task runner "
                "(isolation: point or task)"
            )
        if self.fork is False and self.isolation not in (None, "process"):
            raise ValueError(
                f"fork: false (deprecated) means isolation: process, not {self.isolation}; "
                f"remove fork"
            )
        return self

    @property
    def isolation_mode(self) -> str:
        """``isolation``, with the deprecated ``fork: false`` read as ``process``."""
        if self.isolation:
            return self.isolation
        return "process" if self.fork is False else "point"

    @field_validator("image_directory")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must be an absolute path inside the image, e.g. /app")
        return v

    @field_validator("env")
    @classmethod
    def _not_reserved(cls, v: dict) -> dict:
        for name in v:
            if name.upper().startswith(RESERVED_ENV):
                raise ValueError(
                    f"{name}: names starting with {' or '.join(RESERVED_ENV)} are "
                    f"set by superbatch and Azure Batch"
                )
        return v


def _points_per_task(v: Any) -> Any:
    if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
        return v
    raise ValueError("must be a whole number >= 1 or 'auto'")


class TasksSpec(StrictModel):
    points_per_task: Annotated[int | Literal["auto"], BeforeValidator(_points_per_task)] = 1
    max_retries: int = Field(0, ge=-1, le=INT32_MAX, description="-1: unlimited (as the service).")
    max_wall_time: Duration | None = None
    max_points: int = Field(
        DEFAULT_MAX_POINTS,
        ge=1,
        description="A ceiling on the grid's "
        "size, so a typo cannot start a billion tasks; raise it on purpose.",
    )
    estimated_time: Duration | None = Field(
        None,
        description="How long one point takes on a node (for the cost estimate); "
        "`superbatch plan --sample N` measures it here instead.",
    )

    @field_validator("max_wall_time")
    @classmethod
    def _capped(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v > MAX_WALL_TIME:
            raise ValueError("Azure Batch caps a task's wall time at 7 days (7d)")
        return v


class CollectSpec(StrictModel):
    reduce: str = Field(
        "list",
        description="sum | mean | min | max | list | stack | concat "
        "| table | grid | none | module:function",
    )
    output: str | None = Field(
        None,
        description="Result file, relative to the spec: .json "
        ".npy .pkl .csv for a value; .csv .jsonl .parquet for a table; "
        ".npz .nc for a grid.",
    )
    allow_pickle: list[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*\.(\*|[A-Za-z_]\w*)$")]] = (
        Field(
            default_factory=empty_list,
            description="Classes or functions (module.Name, "
            "module.*) that pickled outputs may reference beyond plain values and NumPy.",
        )
    )

    @field_validator("reduce")
    @classmethod
    def _known_reducer(cls, v: str) -> str:
        if v in BUILTIN_REDUCERS:
            return v
        if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", v):
            return v
        close = difflib.get_close_matches(v, BUILTIN_REDUCERS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown reducer {v!r}: use one of {', '.join(BUILTIN_REDUCERS)} "
            f"or module:function{hint}"
        )

    @field_validator("output")
    @classmethod
    def _known_suffix(cls, v: str | None) -> str | None:
        if v is not None and Path(v).suffix.lower() not in OUTPUT_SUFFIXES:
            raise ValueError(f"the output's extension must be one of {', '.join(OUTPUT_SUFFIXES)}")
        return v


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


class JobSpec(StrictModel):
    """A superbatch job: the worker, the globals and the grid of parameters."""

    name: str = Field(
        pattern=NAME_PATTERN,
        description="Lowercase letters, digits and '-' (at most 40); job ids derive from it.",
    )
    backend: str = Field("local", description="Where the tasks run: local or azure.")
    worker: WorkerSpec
    globals: dict[str, Any] = Field(default_factory=empty_dict)
    parameters: dict[str, Parameter] | None = None
    points: InlinePoints | None = None
    points_file: str | None = None
    tasks: TasksSpec = TasksSpec.model_construct()  # the defaults (nothing to validate)
    collect: CollectSpec = CollectSpec.model_construct()  # the defaults (nothing to validate)
    azure: AzureSpec = AzureSpec.model_construct()  # the defaults (nothing to validate)

    @field_validator("parameters", mode="before")
    @classmethod
    def _wrap_zip(cls, v: Any) -> Any:
        # `zip: {a: [...], b: [...]}` directly under parameters is a zipped group.
        if isinstance(v, dict) and isinstance(v.get("zip"), dict) and "zip" not in v["zip"]:
            v = dict(v)
            v["zip"] = {"zip": v["zip"]}
        return v

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        from superbatch.backends.registry import names

        if v not in names():
            raise ValueError(f"unknown backend {v!r}: use one of {', '.join(names())}")
        return v

    @model_validator(mode="after")
    def _one_grid(self) -> "JobSpec":
        given = [k for k in ("parameters", "points", "points_file") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(
                f"give only one of parameters, points and points_file (got {' and '.join(given)})"
            )
        if not given:
            raise ValueError("give the loop as parameters, points or points_file")
        return self


# -- loading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A validated job spec and where it came from."""

    model: JobSpec
    path: Path
    source: SourceMap
    digest: str

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.model.name

    def resolve(self, relative: str) -> Path:
        """A path from the spec, relative to the spec's directory."""
        path = self.directory / relative
        try:
            return path.resolve()
        except (OSError, RuntimeError):  # a symbolic link loop: opening it will say so
            return Path(os.path.abspath(path))

    @property
    def worker_directory(self) -> Path:
        return self.resolve(self.model.worker.directory or ".")

    def where(self, *loc: Any) -> str:
        """``file, line N`` for a field path, for error messages."""
        return self.source.where(loc)

    def with_reducer(self, reduce: str) -> "Spec":
        """This spec collected with another reducer (``--reduce``). The spec's
        ``collect.output`` was chosen for its own reducer, so another reducer drops it
        (``--output`` still gives a file)."""
        collect = self.model.collect
        if reduce == collect.reduce:
            return self
        try:
            collect = CollectSpec.model_validate(
                {**collect.model_dump(), "reduce": reduce, "output": None}
            )
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise SpecError(f"--reduce: {reason}.") from None
        return replace(self, model=self.model.model_copy(update={"collect": collect}))

    @classmethod
    def from_model(cls, model: JobSpec, path: Path) -> "Spec":
        """A spec rebuilt from a job's record (no line numbers: the file may have changed)."""
        return cls(model=model, path=path, source=SourceMap(path), digest="")


def parse_spec(data: Any, path: Path, source: SourceMap, digest: str = "") -> "Spec":
    """Validate already-loaded YAML data into a :class:`Spec`."""
    if not isinstance(data, dict):
        raise SpecError(
            f"{path}, line 1: a job spec is a YAML mapping (name:, worker:, ...), "
            f"not a {type(data).__name__}."
        )
    try:
        model = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from_validation(JobSpec, path, source, exc) from None
    return Spec(model=model, path=path, source=source, digest=digest)


def load_spec(path: str | Path) -> "Spec":
    """Read, parse and validate a job spec file. Raises :class:`SpecError` (exit 2)."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a directory; give the job spec's YAML file.")
    data, source = load_yaml(path)
    return parse_spec(data, path.resolve(), source, source.digest)


def json_schema() -> dict:
    """The JSON Schema of the job spec (for editors and CI checks)."""
    schema = JobSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "superbatch job spec"
    return schema
