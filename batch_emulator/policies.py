"""Pure decisions the service makes about tasks: exit options and task dependencies."""

from __future__ import annotations

import re

from .entities import Job, Task

_NUMERIC = re.compile(r"^\d+$")


def exit_options(task: dict, exit_code: int | None, failure: dict | None) -> dict:
    """The ``ExitOptions`` that apply to a completed task (its ``exitConditions``, else defaults).

    Defaults, as documented: ``jobAction`` none for exit code 0 and terminate otherwise;
    ``dependencyAction`` satisfy for success and block otherwise.
    """
    conditions = task.get("exitConditions") or {}
    chosen = None
    code = (failure or {}).get("code", "")
    if failure and code.startswith(("FileUpload",)):
        chosen = conditions.get("fileUploadError")
    elif (
        failure
        and exit_code is None
        and code.startswith(("Blob", "ResourceFile", "Container", "Command"))
    ):
        chosen = conditions.get("preProcessingError")
    elif exit_code is not None:
        for mapping in conditions.get("exitCodes") or []:
            if mapping.get("code") == exit_code:
                chosen = mapping.get("exitOptions")
                break
        else:
            for mapping in conditions.get("exitCodeRanges") or []:
                if mapping.get("start", 0) <= exit_code <= mapping.get("end", -1):
                    chosen = mapping.get("exitOptions")
                    break
    if chosen is None and (failure or exit_code):
        chosen = conditions.get("default")
    chosen = chosen or {}
    success = failure is None
    return {
        "jobAction": (chosen.get("jobAction") or ("none" if success else "terminate")).lower(),
        "dependencyAction": (
            chosen.get("dependencyAction") or ("satisfy" if success else "block")
        ).lower(),
    }


def _satisfies(task: Task) -> bool:
    if task.state != "completed":
        return False
    info = task.doc["executionInfo"]
    if info.get("result") == "success":
        return True
    return (
        exit_options(task.doc, info.get("exitCode"), info.get("failureInfo"))["dependencyAction"]
        == "satisfy"
    )


def dependencies_met(task: Task, job: Job) -> bool:
    """Whether every task ``task`` depends on (ids and id ranges) has completed and satisfies it.

    A dependency on a task that does not exist (yet) keeps waiting, as on the service; in a range,
    task ids are compared as integers (``007`` is 7).
    """
    depends = task.doc.get("dependsOn") or {}
    for tid in depends.get("taskIds") or []:
        parent = job.tasks.get(tid.lower())
        if parent is None or not _satisfies(parent):
            return False
    ranges = depends.get("taskIdRanges") or []
    if ranges:
        numbered = {int(t.id): t for t in job.tasks.values() if _NUMERIC.match(t.id)}
        for r in ranges:
            for n in range(r["start"], r["end"] + 1):
                parent = numbered.get(n)
                if parent is None or not _satisfies(parent):
                    return False
    return True
