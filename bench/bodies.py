"""The task definitions superbatch sends for a spec, built by superbatch's own code.

The add-collection floor sends exactly these bodies (built before its clock starts), so the
floor and superbatch add the same tasks: same ids, command line (the task runner's, for a
Python worker), inline inputs, resource and output files with SAS URLs signed as superbatch
signs them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path


def task_bodies(spec_path: Path, job_id: str, connection_string: str) -> list[dict]:
    from superbatch.backends.azure import runnerapp
    from superbatch.backends.azure.credentials import StorageCredentials
    from superbatch.backends.azure.definitions import TaskContext, task_body
    from superbatch.backends.azure.noderunner import node_runner
    from superbatch.backends.azure.storage import Storage
    from superbatch.backends.azure.target import POLICY_ID, config_blob, job_container_name
    from superbatch.contract.codec import get_codec
    from superbatch.contract.names import file_names
    from superbatch.plan.chunks import JobPlan
    from superbatch.plan.points import Grid
    from superbatch.spec.load import load_spec
    from superbatch.spec.workerenv import resolve_env

    spec = load_spec(spec_path)
    model = spec.model
    names = file_names(model.worker.format)
    storage = Storage(StorageCredentials(connection_string=connection_string))
    expiry = datetime.now(timezone.utc) + timedelta(days=2)
    container = model.azure.storage.container
    plan = JobPlan.build(spec, 1, Grid(spec))
    command = model.worker.command.replace("{worker_dir}", model.worker.image_directory)
    # The task runner as the real submit ships it (a Python command): the same manifest in
    # every body and a read SAS of its zipapp (not uploaded: nothing on the floor runs).
    runner = node_runner(model, model.worker.format, command, plan.multi_point, names)
    app_url = runnerapp.build().blob if runner else None
    ctx = TaskContext(
        job_id=job_id,
        batch_job_id=job_id,
        spec=model,
        names=names,
        command=command,
        config_url=storage.container(container).read_url(config_blob(job_id, names), expiry),
        output_container_url=storage.container(job_container_name(container, job_id)).write_url(
            expiry, POLICY_ID
        ),
        registry=None,
        multi_point=plan.multi_point,
        env=resolve_env(model.worker),
        runner=runner,
        runner_url=storage.container(container).read_url(app_url, expiry) if app_url else None,
    )
    if plan.multi_point:
        raise ValueError("the add-collection floor is built for single-point tasks")
    codec = get_codec(model.worker.format)
    return [
        task_body(ctx, task, codec.dumps(points[0]), None)
        for task, points in plan.points_with_tasks()
    ]


def chunks(bodies: list[dict], size: int = 100) -> list[list[dict]]:
    return [bodies[i : i + size] for i in range(0, len(bodies), size)]
