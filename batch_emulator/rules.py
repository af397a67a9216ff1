"""The service's documented request rules: ids, sizes, required properties, container fit."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from .errors import BatchError, invalid_property, missing_property, unsupported_property
from .validation import parse_duration

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TASKS_PER_COLLECTION = 100
MAX_BODY_BYTES = 1024 * 1024  # "the total serialized size ... must be less than 1MB"
# The service also bounds each stored property ("cell") of a task; the exact figure is not
# published, so the emulator uses 64 KiB per string value (answered as RequestBodyTooLarge,
# which is what the SDK's create_tasks reacts to by splitting the chunk).
MAX_PROPERTY_BYTES = 64 * 1024
MAX_DEPENDENCY_CHARS = 64000


def too_large(reason: str) -> BatchError:
    """400 ``RequestBodyTooLarge`` (the code the SDK's create_tasks halves a chunk on)."""
    return BatchError(
        400,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
        {"Reason": reason},
    )


def check_id(body: dict, name: str = "id", label: str | None = None) -> str:
    """An id: letters, digits, hyphens and underscores, 1-64 characters."""
    value = body.get(name)
    if value is None or value == "":
        raise missing_property(label or name)
    if not isinstance(value, str) or not ID_RE.match(value):
        raise invalid_property(
            label or name,
            value,
            "The id may contain only letters, digits, hyphens and "
            "underscores, and at most 64 characters.",
        )
    return value


def parse_body(raw: bytes) -> dict:
    """Decode a JSON object body, refusing oversize or malformed bodies as the service does."""
    if len(raw) > MAX_BODY_BYTES:
        raise too_large(f"The body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}.")
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise BatchError(
            400,
            "InvalidRequestBody",
            "The specified Request Body is not syntactically valid.",
            {"Reason": str(exc)},
        ) from None
    if not isinstance(body, dict):
        raise BatchError(400, "InvalidRequestBody", "The request body must be a JSON object.")
    return body


def check_cells(value, path: str = "") -> None:
    """Refuse any string value larger than the per-property bound."""
    if isinstance(value, str):
        if len(value.encode("utf-8")) > MAX_PROPERTY_BYTES:
            raise too_large(f"The property '{path}' exceeds {MAX_PROPERTY_BYTES} bytes.")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_cells(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_cells(v, f"{path}[{i}]")


def check_pool(body: dict) -> None:
    """Pool create: a valid id (the definition checks the rest)."""
    check_id(body)


def check_job(body: dict) -> None:
    """Job create: id, ``poolInfo.poolId`` or an auto pool, preparation/release."""
    check_id(body)
    pool_info = body.get("poolInfo") or {}
    if not pool_info.get("poolId") and not pool_info.get("autoPoolSpecification"):
        raise missing_property("poolInfo.poolId")  # an auto pool: autopools.check_pool_info
    prep, release = body.get("jobPreparationTask"), body.get("jobReleaseTask")
    if release and not prep:
        raise invalid_property(
            "jobReleaseTask",
            "present",
            "A Job Release Task cannot be specified without a Job Preparation Task.",
        )
    for name, spec in (("jobPreparationTask", prep), ("jobReleaseTask", release)):
        if spec:
            if spec.get("id") is not None:
                check_id(spec, "id", f"{name}.id")
            check_resource_files(spec.get("resourceFiles"), f"{name}.resourceFiles")
    if (
        release
        and release.get("maxWallClockTime")
        and parse_duration(release["maxWallClockTime"]) > timedelta(minutes=15)
    ):
        raise invalid_property(
            "jobReleaseTask.maxWallClockTime",
            release["maxWallClockTime"],
            "The Job Release Task may not run longer than 15 minutes.",
        )


def check_task(body: dict, job: dict, pool: dict | None) -> None:
    """Task create: id, commandLine, sizes, resource files, dependencies, exit conditions and
    (when the pool exists) container fit."""
    check_id(body)
    if not body.get("commandLine"):
        raise missing_property("commandLine")
    check_cells(body)
    check_resource_files(body.get("resourceFiles"), "resourceFiles")
    check_dependencies(body.get("dependsOn"), job)
    check_exit_conditions(body.get("exitConditions"), job)
    for name, default, code in (
        ("jobPreparationTask", "jobpreparation", "TaskIdSameAsJobPreparationTask"),
        ("jobReleaseTask", "jobrelease", "TaskIdSameAsJobReleaseTask"),
    ):
        spec = job.get(name)
        if spec and body["id"].lower() == (spec.get("id") or default).lower():
            raise BatchError(409, code, f"The task id is the id of the job's {name}.")
    if pool is not None:
        error = container_mismatch(body, pool)
        if error:
            raise error


def check_resource_files(files: list | None, where: str) -> None:
    """Exactly one source per resource file; ``httpUrl`` needs ``filePath``."""
    for i, rf in enumerate(files or []):
        sources = [
            k for k in ("autoStorageContainerName", "storageContainerUrl", "httpUrl") if rf.get(k)
        ]
        if len(sources) != 1:
            raise invalid_property(
                f"{where}[{i}]",
                ",".join(sources) or "none",
                "Exactly one of autoStorageContainerName, storageContainerUrl and "
                "httpUrl must be specified.",
            )
        if rf.get("httpUrl") and not rf.get("filePath"):
            raise missing_property(f"{where}[{i}].filePath")
        if rf.get("blobPrefix") and rf.get("httpUrl"):
            raise invalid_property(
                f"{where}[{i}].blobPrefix",
                rf["blobPrefix"],
                "blobPrefix is valid only with autoStorageContainerName or storageContainerUrl.",
            )


def check_dependencies(depends: dict | None, job: dict) -> None:
    """``dependsOn`` needs a job with ``usesTaskDependencies`` (else ``UnsupportedProperty``)."""
    if not depends or not (depends.get("taskIds") or depends.get("taskIdRanges")):
        return
    if not job.get("usesTaskDependencies"):
        raise unsupported_property(
            "dependsOn", "The job does not use task dependencies (usesTaskDependencies is false)."
        )
    if sum(len(t) for t in depends.get("taskIds") or []) > MAX_DEPENDENCY_CHARS:
        raise BatchError(
            400,
            "TaskDependencyListTooLong",
            "The taskIds collection of dependsOn exceeds 64000 characters.",
        )
    for i, r in enumerate(depends.get("taskIdRanges") or []):
        if r["start"] > r["end"] or r["start"] < 0:
            raise invalid_property(
                f"dependsOn.taskIdRanges[{i}]",
                f"{r['start']}-{r['end']}",
                "A task id range needs 0 <= start <= end.",
            )


def check_exit_conditions(conditions: dict | None, job: dict) -> None:
    """A ``jobAction`` is refused unless the job's onTaskFailure is performExitOptionsJobAction."""
    if not conditions or (job.get("onTaskFailure") or "noaction").lower() != "noaction":
        return
    options = [conditions.get(k) for k in ("preProcessingError", "fileUploadError", "default")]
    options += [
        m.get("exitOptions")
        for m in (conditions.get("exitCodes") or []) + (conditions.get("exitCodeRanges") or [])
    ]
    if any(o and o.get("jobAction") for o in options):
        raise invalid_property(
            "exitConditions",
            "jobAction",
            "jobAction may be set only when the job's onTaskFailure is performexitoptionsjobaction.",
        )


def container_mismatch(task: dict, pool: dict) -> BatchError | None:
    """``containerSettings`` is required exactly when the pool has a container configuration.

    The service's documentation states the rule but not a dedicated code for breaking it, so
    the emulator answers ``InvalidPropertyValue`` naming ``containerSettings``.
    """
    container_pool = bool(
        (pool.get("virtualMachineConfiguration") or {}).get("containerConfiguration")
    )
    has_settings = bool(task.get("containerSettings"))
    if has_settings and not container_pool:
        return invalid_property(
            "containerSettings",
            "present",
            "The pool has no containerConfiguration; container tasks cannot run on it.",
        )
    if container_pool and not has_settings:
        return invalid_property(
            "containerSettings",
            "absent",
            "The pool has a containerConfiguration; its tasks must specify containerSettings.",
        )
    return None
