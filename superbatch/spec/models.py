"""The job spec's models: the backend-neutral sections, composed with each backend's own.

``JobSpec`` and ``WorkerSpec`` are built here from the core models below plus the sections
the registry contributes (``azure:``, the worker keys only one backend reads), so the YAML
keys, their checks and the JSON Schema are one model. Loading a file into a
:class:`~superbatch.spec.load.Spec` is ``load``'s.
"""

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from superbatch.backends.registry import spec_sections
from superbatch.spec.axes import InlinePoints, Parameter
from superbatch.spec.base import INT32_MAX, Duration, StrictModel, empty_dict, empty_list

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
BUILTIN_REDUCERS = ("sum", "mean", "min", "max", "list", "stack", "concat", "table", "grid", "none")
# A value: .json .npy .pkl .csv; reduce: table: .csv .jsonl .parquet; reduce: grid: .npz .nc.
VALUE_SUFFIXES = (".json", ".npy", ".pkl", ".csv")
OUTPUT_SUFFIXES = (*VALUE_SUFFIXES, ".jsonl", ".parquet", ".npz", ".nc")
MAX_WALL_TIME = timedelta(days=7)
DEFAULT_MAX_POINTS = 10_000_000


# -- sections ------------------------------------------------------------------------------

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
RESERVED_ENV = ("AZ_BATCH_", "SUPERBATCH_")


class FromEnv(StrictModel):
    """``{from_env: NAME}``: the value of NAME where superbatch runs (never stored)."""

    from_env: str = Field(pattern=ENV_NAME)


EnvValue = FromEnv | str | int | float | bool


FUNCTION_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class WorkerCore(StrictModel):
    """The worker keys every backend reads."""

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
    format: Literal["joblib", "json"] = "joblib"

    @model_validator(mode="after")
    def _one_way_to_run(self) -> "WorkerCore":
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
        return self

    @property
    def isolation_mode(self) -> str:
        """``isolation``, else what a backend's deprecated alias says (``fork: false``),
        else ``point``."""
        return self.isolation or self.isolation_alias() or "point"

    def isolation_alias(self) -> str | None:
        """The isolation a backend's deprecated worker key asks for (None: none)."""
        return None

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
        import difflib  # only for a message

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


class JobCore(StrictModel):
    """The job keys every backend reads."""

    name: str = Field(
        pattern=NAME_PATTERN,
        description="Lowercase letters, digits and '-' (at most 40); job ids derive from it.",
    )
    backend: str = Field("local", description="Where the tasks run: local or azure.")
    worker: WorkerCore
    globals: dict[str, Any] = Field(default_factory=empty_dict)
    parameters: dict[str, Parameter] | None = None
    points: InlinePoints | None = None
    points_file: str | None = None
    tasks: TasksSpec = TasksSpec.model_construct()  # the defaults (nothing to validate)
    collect: CollectSpec = CollectSpec.model_construct()  # the defaults (nothing to validate)

    @field_validator("parameters", mode="before")
    @classmethod
    def _wrap_zip(cls, v: Any) -> Any:
        # `zip: {a: [...], b: [...]}` directly under parameters is a zipped group.
        if isinstance(v, dict) and isinstance(v.get("zip"), dict) and "zip" not in v["zip"]:
            v = dict(v)
            v["zip"] = {"zip": v["zip"]}
        return v

    @model_validator(mode="after")
    def _one_grid(self) -> "JobCore":
        given = [k for k in ("parameters", "points", "points_file") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(
                f"give only one of parameters, points and points_file (got {' and '.join(given)})"
            )
        if not given:
            raise ValueError("give the loop as parameters, points or points_file")
        return self


# -- composition ---------------------------------------------------------------------------
# Each backend's sections are mixins; the core's fields come first (pydantic orders fields
# by the bases' reversed MRO), then each backend's in the registry's order.

if TYPE_CHECKING:
    WorkerSpec = WorkerCore
    JobSpec = JobCore
else:

    class WorkerSpec(*reversed(spec_sections().worker), WorkerCore):
        pass

    class JobSpec(*reversed(spec_sections().job), JobCore):
        """A superbatch job: the worker, the globals and the grid of parameters."""

        worker: WorkerSpec
