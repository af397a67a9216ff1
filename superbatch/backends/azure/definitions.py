"""Batch request bodies built from the spec: the pool, the job and each task."""
from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from datetime import timedelta

from azure.batch import models as bm

from superbatch.contract import FileNames
from superbatch.spec import JobSpec, PoolImage

INLINE_LIMIT = 1024  # bytes of encoded inputs carried in the task definition itself
INPUTS_VAR = "SUPERBATCH_INPUTS"


@dataclass(frozen=True)
class TaskContext:
    """What every task of a job shares."""

    job_id: str
    spec: JobSpec
    names: FileNames
    command: str
    config_url: str
    output_container_url: str
    prefix: str  # "<job-id>/"
    registry: bm.ContainerRegistryReference | None


def pool_definition(spec: JobSpec, registry: bm.ContainerRegistryReference | None
                    ) -> bm.BatchPoolCreateOptions:
    pool = spec.azure.pool
    image = pool.image or PoolImage()
    container = bm.BatchContainerConfiguration(
        type="dockerCompatible", container_image_names=[spec.worker.image],
        container_registries=[registry] if registry else None)
    vm = bm.VirtualMachineConfiguration(
        image_reference=bm.BatchVmImageReference(publisher=image.publisher, offer=image.offer,
                                                 sku=image.sku, version=image.version),
        node_agent_sku_id=image.node_agent_sku_id, container_configuration=container)
    options = bm.BatchPoolCreateOptions(
        id=pool.id, vm_size=pool.vm_size, virtual_machine_configuration=vm,
        task_slots_per_node=pool.task_slots_per_node,
        network_configuration=bm.NetworkConfiguration(subnet_id=pool.subnet_id)
        if pool.subnet_id else None)
    if pool.autoscale_formula:
        options.enable_auto_scale = True
        options.auto_scale_formula = pool.autoscale_formula
        options.auto_scale_evaluation_interval = timedelta(minutes=5)
    else:
        options.target_dedicated_nodes = pool.dedicated_nodes
        options.target_low_priority_nodes = pool.low_priority_nodes
    return options


def job_definition(job_id: str, pool_id: str) -> bm.BatchJobCreateOptions:
    # Created with noaction: a job with no tasks yet counts as complete, so terminatejob
    # is set only after every task has been added (see AZURE_FACTS.md).
    return bm.BatchJobCreateOptions(id=job_id, pool_info=bm.BatchPoolInfo(pool_id=pool_id),
                                    all_tasks_complete_mode="noaction")


def input_blob(prefix: str, names: FileNames, point: int) -> str:
    return f"{prefix}inputs/{names.local_inputs(point)}"


def output_blob(prefix: str, names: FileNames, point: int) -> str:
    return f"{prefix}outputs/{names.local_outputs(point)}"


def is_inline(encoded: bytes) -> bool:
    return len(encoded) <= INLINE_LIMIT


def task_definition(ctx: TaskContext, task_id: str, points: list[tuple[int, bytes]],
                    input_urls: dict[int, str], inline: bool) -> bm.BatchTaskCreateOptions:
    """One task: the worker once per point, each point in a directory with its two files.

    A point's inputs travel inline (base64 in an environment variable, decoded by the task's
    shell) when ``inline`` and small, else as a resource file from ``input_urls``.
    """
    names = ctx.names
    single = len(points) == 1
    env = [bm.EnvironmentSetting(name="SUPERBATCH_JOB_ID", value=ctx.job_id)]
    resources = [bm.ResourceFile(http_url=ctx.config_url, file_path=names.config)]
    steps = ["set -e"]
    for index, encoded in points:
        where = "." if single else f"p{index}"
        inputs_path = names.inputs if single else f"{where}/{names.inputs}"
        if not single:
            steps.append(f"mkdir -p {where}")
        if inline and is_inline(encoded):
            var = INPUTS_VAR if single else f"{INPUTS_VAR}_{index}"
            env.append(bm.EnvironmentSetting(name=var, value=base64.b64encode(encoded).decode()))
            steps.append(f'printf "%s" "${var}" | base64 -d > {inputs_path}')
        else:
            resources.append(bm.ResourceFile(http_url=input_urls[index], file_path=inputs_path))
        if single:
            env.append(bm.EnvironmentSetting(name="SUPERBATCH_POINT", value=str(index)))
            steps.append(ctx.command)
        else:
            steps.append(f"cp {names.config} {where}/{names.config}")
            steps.append(f"(cd {where} && SUPERBATCH_POINT={index} && export SUPERBATCH_POINT"
                         f" && {ctx.command})")
            steps.append(f"mv {where}/{names.outputs} {names.local_outputs(index)}")
    write = bm.OutputFileDestination(container=bm.OutputFileBlobContainerDestination(
        container_url=ctx.output_container_url,
        path=output_blob(ctx.prefix, names, points[0][0]) if single
        else f"{ctx.prefix}outputs"))
    outputs = [
        bm.OutputFile(file_pattern=names.outputs if single else names.local_outputs("*"),
                      destination=write,
                      upload_options=bm.OutputFileUploadConfiguration(upload_condition="tasksuccess")),
        bm.OutputFile(file_pattern="../std*.txt", destination=bm.OutputFileDestination(
            container=bm.OutputFileBlobContainerDestination(
                container_url=ctx.output_container_url, path=f"{ctx.prefix}logs/{task_id}")),
            upload_options=bm.OutputFileUploadConfiguration(upload_condition="taskcompletion")),
    ]
    wall = ctx.spec.tasks.max_wall_time
    return bm.BatchTaskCreateOptions(
        id=task_id, command_line="/bin/sh -c " + shlex.quote("\n".join(steps)),
        container_settings=bm.BatchTaskContainerSettings(
            image_name=ctx.spec.worker.image, working_directory="taskWorkingDirectory",
            registry=ctx.registry),
        resource_files=resources, output_files=outputs, environment_settings=env,
        constraints=bm.BatchTaskConstraints(max_task_retry_count=ctx.spec.tasks.max_retries,
                                            max_wall_clock_time=wall))
