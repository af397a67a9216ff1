"""Batch request bodies built from the record: the pool, the job and each task.

Tasks are built as REST documents (what is built is exactly what is sent, and its size is
known before sending). A task's definition does not grow with its points: a single point's
inputs travel inline (when small) or as one blob; a task of several points gets one tar of
its points' inputs and uploads one tar of their outputs, and its command line is a loop.
Inline (at most ``INLINE_LIMIT`` bytes before base64) is a single point's encoded inputs,
or a multi-point task's tar gzip-compressed (a tar's headers and padding are mostly zeros:
ten small points are some 250 bytes): either way, ``INPUTS_VAR`` holds it in base64.

A task's output is uploaded under a name drawn at random as it ends
(``out/<task-id>/superbatch-output.<32 hex>``): its definition, and so its write SAS, reveals
only the directory, and that SAS can neither list nor read the container, so whoever holds
it cannot learn the name to overwrite. What it writes beside the output makes the task's
output unusable (``outputs.py``), never the task's result. A task the task runner runs
uploads its output itself, the name drawn in memory (no file on the node names it); any
other task's shell renames the output and Batch's ``outputFiles`` uploads it.
"""

from __future__ import annotations

import base64
import gzip
import json
import shlex
from dataclasses import dataclass
from datetime import timedelta

from azure.batch import models as bm

from superbatch.backends.azure.codemode import task_prologue
from superbatch.backends.azure.noderunner import (
    INPUTS_TAR,
    OUTPUTS_LIST,
    OUTPUTS_TAR,
    NodeRunner,
    node_runner,
    runner_steps,
)
from superbatch.backends.azure.runnerapp import APP_FILE
from superbatch.backends.azure.spec import PoolImage, azure_section, azure_worker
from superbatch.backends.azure.target import log_prefix, output_dir
from superbatch.contract import names as contract_names
from superbatch.contract.names import FileNames
from superbatch.plan.chunks import TaskPlan
from superbatch.spec.durations import iso8601
from superbatch.spec.models import JobSpec
from superbatch.spec.workerenv import resolve_env
from superbatch.taskrunner import FAILED_POINT_LINE
from superbatch.taskrunner.upload import URL_VAR as OUTPUT_URL_VAR

INLINE_LIMIT = 1024  # bytes of inputs carried in the definition (before base64)
INPUTS_VAR = "SUPERBATCH_INPUTS"
NO_GZIP_EXIT = 94
NO_OUTPUT_EXIT = 90
NO_NAME_EXIT = 91
OUTPUT_NAME = "superbatch-output."  # + 32 hex digits drawn on the node
TOKEN_METADATA = "superbatch-token"
# The service's documented bound on one add-task-collection request ("less than 1MB"), and
# the bound the emulator applies to one property of a task (the service publishes none).
MAX_REQUEST_BYTES = 1_000_000
MAX_PROPERTY_BYTES = 64 * 1024
MAX_TASKS_PER_REQUEST = 100


@dataclass(frozen=True)
class TaskContext:
    """What every task added to one Batch job shares."""

    job_id: str  # the submission (superbatch's job id)
    batch_job_id: str  # the Batch job the tasks go to (the job itself or a retry round)
    spec: JobSpec
    names: FileNames
    command: str
    config_url: str
    output_container_url: str
    registry: dict | None
    multi_point: bool
    env: dict[str, str]  # worker.env, resolved
    code_mode: bool = False  # no container: the environment the preparation task made
    runner: NodeRunner | None = None  # None: the shell loop runs the command per point
    runner_url: str | None = None  # the task runner's zipapp, through a read-only SAS


# The default for container tasks: Docker-compatible, with the node agent that goes with it.
CONTAINER_POOL_IMAGE = PoolImage(
    publisher="microsoft-dsvm",
    offer="ubuntu-hpc",
    sku="2404",
    version="latest",
    node_agent_sku_id="batch.node.ubuntu 24.04",
)


def pool_image(spec: JobSpec) -> PoolImage:
    """``azure.pool.image``, or the default for the worker's mode."""
    from superbatch.backends.azure.codemode import CODE_POOL_IMAGE

    return azure_section(spec).pool.image or (
        CONTAINER_POOL_IMAGE if azure_worker(spec.worker).image else CODE_POOL_IMAGE
    )


def pool_definition(
    spec: JobSpec, registry: dict | None, image: PoolImage | None = None
) -> bm.BatchPoolCreateOptions:
    """The pool's create request; ``image`` replaces the mode's default (a GPU image chosen
    from the account's supported images)."""
    pool = azure_section(spec).pool
    image = image or pool_image(spec)
    container = None
    worker_image = azure_worker(spec.worker).image
    if worker_image:
        container = bm.BatchContainerConfiguration(
            type="dockerCompatible",
            container_image_names=[worker_image],
            container_registries=[bm.ContainerRegistryReference(**_registry_model(registry))]
            if registry
            else None,
        )
    vm = bm.VirtualMachineConfiguration(
        image_reference=bm.BatchVmImageReference(
            publisher=image.publisher, offer=image.offer, sku=image.sku, version=image.version
        ),
        node_agent_sku_id=image.node_agent_sku_id,
        container_configuration=container,
    )
    options = bm.BatchPoolCreateOptions(
        id=pool.id,
        vm_size=pool.vm_size,
        virtual_machine_configuration=vm,
        task_slots_per_node=pool.task_slots_per_node,
        network_configuration=bm.NetworkConfiguration(subnet_id=pool.subnet_id)
        if pool.subnet_id
        else None,
    )
    if pool.autoscale_formula:
        options.enable_auto_scale = True
        options.auto_scale_formula = pool.autoscale_formula
        options.auto_scale_evaluation_interval = timedelta(minutes=5)
    else:
        options.target_dedicated_nodes = pool.dedicated_nodes
        options.target_low_priority_nodes = pool.low_priority_nodes
    return options


def _registry_model(registry: dict) -> dict:
    return {
        "registry_server": registry["registryServer"],
        "username": registry.get("username"),
        "password": registry.get("password"),
    }


def job_definition(batch_job_id: str, pool_id: str, token: str, prep: dict | None = None) -> dict:
    """The REST document of a Batch job (with code mode's preparation task)."""
    # Created with noaction: a job with no tasks yet counts as complete, so terminatejob
    # is set only after every task has been added (see docs/azure.md). The token tells this
    # submission's job from another's that happens to have the same id.
    job = {
        "id": batch_job_id,
        "poolInfo": {"poolId": pool_id},
        "onAllTasksComplete": "noaction",
        "metadata": [{"name": TOKEN_METADATA, "value": token}],
    }
    if prep:
        job["jobPreparationTask"] = prep
    return job


def inputs_tar(task: TaskPlan, encoded: list[bytes], names: FileNames) -> bytes:
    """``p<point>/<inputs file>`` for each point of a multi-point task (deterministic)."""
    return contract_names.inputs_tar(task.point_indices, encoded, names.inputs)


def packed_inputs(tar: bytes) -> bytes:
    """A multi-point task's inputs tar as it travels inline: gzip (deterministic: no mtime).
    The task runner reads a gzip tar as it is; the shell loop unpacks it with ``gzip``."""
    return gzip.compress(tar, compresslevel=6, mtime=0)


def is_inline(encoded: bytes) -> bool:
    return len(encoded) <= INLINE_LIMIT


def _unpack_inline_tar(runner: NodeRunner | None) -> list[str]:
    """Lines that write a multi-point task's inline inputs to ``INPUTS_TAR`` (plain tar for
    the shell loop; the task runner reads the gzip tar itself, so needs no ``gzip``)."""
    decode = f'printf "%s" "${INPUTS_VAR}" | base64 -d'
    if runner:
        return [f"{decode} > {INPUTS_TAR}", f"unset {INPUTS_VAR}"]
    need = (
        f'command -v gzip >/dev/null 2>&1 || {{ echo "superbatch: the inputs of this task '
        f"travel inline, gzip-compressed: the image needs gzip (or set azure.inline_inputs: "
        f'false)" >&2; exit {NO_GZIP_EXIT}; }}'
    )
    return [need, f"{decode} | gzip -dc > {INPUTS_TAR}", f"unset {INPUTS_VAR}"]


def _random_name(produced: str) -> list[str]:
    """Steps that rename ``produced`` to ``OUTPUT_NAME`` + 128 random bits (``od`` and ``tr``
    are in coreutils and busybox alike). Nothing prints the name."""
    return [
        "n=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \\n')",
        f'[ "${{#n}}" -eq 32 ] || {{ echo "superbatch: could not read /dev/urandom to name '
        f'the output" >&2; exit {NO_NAME_EXIT}; }}',
        f'mv -f {produced} "{OUTPUT_NAME}$n"',
    ]


def _single_point_script(
    names: FileNames,
    command: str,
    inline: bool,
    task: TaskPlan,
    prologue: list[str],
    runner: NodeRunner | None,
) -> str:
    steps = ["set -e"]
    if not runner:
        steps.append(f"rm -f {OUTPUT_NAME}*")
    steps += prologue
    if inline:
        steps.append(f'printf "%s" "${INPUTS_VAR}" | base64 -d > {names.inputs}')
    if runner:
        return "\n".join(steps + runner_steps(runner, task, names, _upload_prefix(task)))
    steps += [
        command,
        f'[ -f {names.outputs} ] || {{ echo "superbatch: the worker exited 0 but wrote no '
        f'{names.outputs} (point {task.first_point})" >&2; exit {NO_OUTPUT_EXIT}; }}',
    ]
    steps += _random_name(names.outputs)
    return "\n".join(steps)


def _multi_point_script(
    names: FileNames,
    command: str,
    task: TaskPlan,
    prologue: list[str],
    runner: NodeRunner | None,
    inline: bool,
) -> str:
    unpack = _unpack_inline_tar(runner) if inline else []
    if runner:
        steps = ["set -e", *prologue, *unpack]
        steps += runner_steps(runner, task, names, _upload_prefix(task))
        return "\n".join(steps)
    out = f'"p$i/{names.outputs}"'
    steps = [
        "set -e",
        f"rm -f {OUTPUT_NAME}*",
        *prologue,
        *unpack,
        f"tar -xf {INPUTS_TAR}",
        f": > {OUTPUTS_LIST}",
        f"i={task.first_point}",
        f'while [ "$i" -le {task.last_point} ]; do',
        f'  ln -f {names.config} "p$i/{names.config}" 2>/dev/null || '
        f'cp {names.config} "p$i/{names.config}"',
        f'  (cd "p$i" && SUPERBATCH_POINT=$i && export SUPERBATCH_POINT && {command}) || '
        f'{{ rc=$?; echo >&2; echo "{_failed_point("$i", "the worker exited with code $rc")}" '
        f">&2; exit $rc; }}",
        f'  [ -f {out} ] || {{ echo >&2; echo "'
        f'{_failed_point("$i", f"the worker exited 0 but wrote no {names.outputs}")}" >&2; '
        f"exit {NO_OUTPUT_EXIT}; }}",
        f"  echo {out} >> {OUTPUTS_LIST}",
        "  i=$((i + 1))",
        "done",
        f"tar -cf {OUTPUTS_TAR} -T {OUTPUTS_LIST}",
    ]
    steps += _random_name(OUTPUTS_TAR)
    return "\n".join(steps)


def _failed_point(point: str, message: str) -> str:
    """The task runner's line naming the failing point, which status reads (``observe.py``)."""
    return FAILED_POINT_LINE.format(point=point, message=message)


def _upload_prefix(task: TaskPlan) -> str:
    """The blob name the task runner completes with its own random part."""
    return f"{output_dir(task.id)}/{OUTPUT_NAME}"


def task_body(ctx: TaskContext, task: TaskPlan, inputs: bytes, input_url: str | None) -> dict:
    """The REST document of one task. ``inputs`` is the encoded point of a single-point task
    or a multi-point task's gzip tar (``packed_inputs``), inline when ``input_url`` is None;
    else the inputs are the blob at ``input_url``."""
    names = ctx.names
    env = [{"name": name, "value": value} for name, value in ctx.env.items()]
    env += [
        {"name": "SUPERBATCH_JOB_ID", "value": ctx.job_id},
        {"name": "SUPERBATCH_TASK_ID", "value": task.id},
    ]
    resources: list[dict] = [{"httpUrl": ctx.config_url, "filePath": names.config}]
    prologue = [task_prologue()] if ctx.code_mode else []
    if ctx.runner:
        resources.append({"httpUrl": ctx.runner_url, "filePath": APP_FILE})
    inline = input_url is None
    if ctx.multi_point:
        script = _multi_point_script(names, ctx.command, task, prologue, ctx.runner, inline)
        if not inline:
            resources.append({"httpUrl": input_url, "filePath": INPUTS_TAR})
    else:
        script = _single_point_script(names, ctx.command, inline, task, prologue, ctx.runner)
        env.append({"name": "SUPERBATCH_POINT", "value": str(task.first_point)})
        if not inline:
            resources.append({"httpUrl": input_url, "filePath": names.inputs})
    if inline:
        env.append({"name": INPUTS_VAR, "value": base64.b64encode(inputs).decode()})
    if ctx.runner:
        env.append({"name": OUTPUT_URL_VAR, "value": ctx.output_container_url})
    body: dict = {
        "id": task.id,
        "commandLine": "/bin/sh -c " + shlex.quote(script),
        "resourceFiles": resources,
        "outputFiles": [
            {
                "filePattern": "../std*.txt",
                "destination": {
                    "container": {
                        "containerUrl": ctx.output_container_url,
                        "path": log_prefix(ctx.batch_job_id, task.id),
                    }
                },
                "uploadOptions": {"uploadCondition": "taskcompletion"},
            },
        ],
        "environmentSettings": env,
        "constraints": {"maxTaskRetryCount": ctx.spec.tasks.max_retries},
    }
    if not ctx.runner:  # the task runner uploads its task's output itself
        body["outputFiles"].insert(0, _renamed_output(ctx, task))
    if not ctx.code_mode:
        body["containerSettings"] = {
            "imageName": azure_worker(ctx.spec.worker).image,
            "workingDirectory": "taskWorkingDirectory",
        }
        if ctx.registry:
            body["containerSettings"]["registry"] = ctx.registry
    wall = ctx.spec.tasks.max_wall_time
    if wall:
        body["constraints"]["maxWallClockTime"] = iso8601(wall)
    return body


def _renamed_output(ctx: TaskContext, task: TaskPlan) -> dict:
    """Batch's upload of the output the task's shell renamed as it ended."""
    return {
        # A wildcard: ``path`` is a virtual directory prepended to the file's name
        # (OutputFileBlobContainerDestination.path in the Batch REST definition).
        "filePattern": OUTPUT_NAME + "*",
        "destination": {
            "container": {"containerUrl": ctx.output_container_url, "path": output_dir(task.id)}
        },
        "uploadOptions": {"uploadCondition": "tasksuccess"},
    }


def body_size(body: dict) -> int:
    return len(json.dumps(body, separators=(",", ":")).encode())


def largest_property(value, path: str = "") -> tuple[str, int]:
    """The path and size in bytes of the largest string in a document."""
    if isinstance(value, str):
        return path, len(value.encode())
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    best = (path, 0)
    for key, item in items:
        found = largest_property(item, f"{path}.{key}" if path else str(key))
        if found[1] > best[1]:
            best = found
    return best


def tasks_per_request(task_bytes: int) -> int:
    """How many tasks of at most ``task_bytes`` fit in one add-collection request."""
    return max(1, min(MAX_TASKS_PER_REQUEST, (MAX_REQUEST_BYTES - 64) // (task_bytes + 1)))


def placeholder_context(
    spec: JobSpec, names: FileNames, command: str, multi_point: bool
) -> TaskContext:
    """A context whose URLs are as long as real ones can be, to size definitions early."""
    url = (
        "https://"
        + "a" * 24
        + ".blob.core.windows.net/"
        + "c" * 63
        + "/"
        + "j" * 64
        + "/inputs/"
        + "t" * 32
        + "?"
        + "s" * 400
    )
    registry = (
        {"registryServer": "r" * 128, "username": "u" * 128, "password": "p" * 256}
        if azure_section(spec).registry
        else None
    )
    runner = node_runner(spec, spec.worker.format, command, multi_point, names)
    return TaskContext(
        "j" * 64,
        "j" * 64,
        spec,
        names,
        command,
        url,
        url,
        registry,
        multi_point,
        resolve_env(spec.worker),
        code_mode=not azure_worker(spec.worker).image,
        runner=runner,
        runner_url=url if runner else None,
    )


def largest_task(ctx: TaskContext, task: TaskPlan) -> dict:
    """The largest definition a task like ``task`` can have: its inputs inline at the
    limit, or (several points) by a blob's URL, whichever is longer."""
    inline = task_body(ctx, task, b"x" * INLINE_LIMIT, None)
    if not ctx.multi_point:
        return inline
    return max(inline, task_body(ctx, task, b"", ctx.config_url), key=body_size)
