"""The service's documented request rules: ids, sizes, required properties, container fit."""
from __future__ import annotations

import json
import re
from datetime import timedelta

from .errors import BatchError, invalid_property, missing_property

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TASKS_PER_COLLECTION = 100
MAX_BODY_BYTES = 1024 * 1024           # "the total serialized size ... must be less than 1MB"
# The service also bounds each stored property ("cell") of a task; the exact figure is not
# published, so the emulator uses 64 KiB per string value (answered as RequestBodyTooLarge,
# which is what the SDK's create_tasks reacts to by splitting the chunk).
MAX_PROPERTY_BYTES = 64 * 1024
ALL_TASKS_COMPLETE = ("noaction", "terminatejob")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def too_large(reason: str) -> BatchError:
    """400 ``RequestBodyTooLarge`` (the code the SDK's create_tasks halves a chunk on)."""
    return BatchError(400, "RequestBodyTooLarge",
                      "The request body is too large and exceeds the maximum permissible limit.",
                      {"Reason": reason})


def check_id(body: dict, name: str = "id") -> str:
    """An id: letters, digits, hyphens and underscores, 1-64 characters."""
    value = body.get(name)
    if value is None or value == "":
        raise missing_property(name)
    if not isinstance(value, str) or not ID_RE.match(value):
        raise invalid_property(name, value, "The id may contain only letters, digits, hyphens and "
                               "underscores, and at most 64 characters.")
    return value


def parse_body(raw: bytes) -> dict:
    """Decode a JSON object body, refusing oversize or malformed bodies as the service does."""
    if len(raw) > MAX_BODY_BYTES:
        raise too_large(f"The body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}.")
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise BatchError(400, "InvalidRequestBody", "The specified Request Body is not syntactically valid.",
                         {"Reason": str(exc)}) from None
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
    """Pool create: a valid id and a vmSize."""
    check_id(body)
    if not body.get("vmSize"):
        raise missing_property("vmSize")


def check_job(body: dict) -> None:
    """Job create: a valid id and ``poolInfo.poolId`` (auto pools are not emulated)."""
    check_id(body)
    pool_info = body.get("poolInfo")
    if not isinstance(pool_info, dict):
        raise missing_property("poolInfo")
    if not pool_info.get("poolId"):
        if pool_info.get("autoPoolSpecification"):
            raise BatchError(400, "UnsupportedProperty", "Auto pools are not emulated.",
                             {"PropertyName": "poolInfo.autoPoolSpecification"})
        raise missing_property("poolInfo.poolId")
    check_all_tasks_complete(body)


def check_all_tasks_complete(body: dict) -> None:
    """``onAllTasksComplete`` must be one of the enum values."""
    mode = body.get("onAllTasksComplete")
    if mode is not None and mode not in ALL_TASKS_COMPLETE:
        raise invalid_property("onAllTasksComplete", mode, "Unknown value.")


def check_task(body: dict, pool: dict | None) -> None:
    """Task create: id, commandLine, per-property sizes, and (when the pool exists) container fit."""
    check_id(body)
    if not body.get("commandLine"):
        raise missing_property("commandLine")
    check_cells(body)
    if pool is not None:
        error = container_mismatch(body, pool)
        if error:
            raise error


def container_mismatch(task: dict, pool: dict) -> BatchError | None:
    """``containerSettings`` is required exactly when the pool has a container configuration.

    The service's documentation states the rule but not a dedicated code for breaking it, so
    the emulator answers ``InvalidPropertyValue`` naming ``containerSettings``.
    """
    container_pool = bool((pool.get("virtualMachineConfiguration") or {}).get("containerConfiguration"))
    has_settings = bool(task.get("containerSettings"))
    if has_settings and not container_pool:
        return invalid_property("containerSettings", "present",
                                "The pool has no containerConfiguration; container tasks cannot run on it.")
    if container_pool and not has_settings:
        return invalid_property("containerSettings", "absent",
                                "The pool has a containerConfiguration; its tasks must specify containerSettings.")
    return None


def parse_duration(text: str | None) -> timedelta | None:
    """An ISO 8601 duration as the SDK sends it (``PT1H``, ``P1DT2H3M4.5S``); None if absent."""
    if not text:
        return None
    m = _DURATION.match(text)
    if not m:
        raise invalid_property("maxWallClockTime", text, "Not an ISO 8601 duration.")
    d, h, mi, s = m.groups()
    return timedelta(days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0), seconds=float(s or 0))
