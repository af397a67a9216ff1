"""Azure names and limits that need no service: retry job ids, task definition sizes."""

from __future__ import annotations

import pytest

from superbatch.errors import SpecError
from superbatch.spec.load import load_spec


def test_retry_job_ids_are_unique_per_job_and_fit_the_limit():
    from superbatch.backends.azure.target import retry_job_id

    # Two 40-character names submitted in the same second share their first 55 characters.
    a = "a" * 40 + "-20261129-101010-1a2b"
    b = "a" * 40 + "-20261129-101010-9f8e"
    ids = [retry_job_id(j, n) for j in (a, b) for n in range(1, 13)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) <= 64 for i in ids)
    assert retry_job_id("short-job", 3) == "short-job-r3"


def test_job_containers_are_valid_container_names():
    import re

    from superbatch.backends.azure.target import job_container_name

    for base in ("superbatch", "a" * 63, "ab-" + "c" * 60):
        name = job_container_name(base, "job-1")
        assert 3 <= len(name) <= 63 and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
    assert job_container_name("x" * 10, "job-1") != job_container_name("x" * 10, "job-2")


def spec_with(tmp_path, command: str, points: int, per_task):
    path = tmp_path / "job.yaml"
    path.write_text(
        f"name: big\nworker:\n  command: {command!r}\n  image: r.io/w:1\n"
        f"parameters: {{x: {{range: [{points}]}}}}\n"
        f"tasks: {{points_per_task: {per_task}}}\n"
    )
    return load_spec(path)


@pytest.mark.parametrize(
    "points, per_task", [(10_000, 100), (300_000, "auto"), (1_000_000, "auto"), (5, 1)]
)
def test_task_definitions_do_not_grow_with_points(tmp_path, points, per_task):
    from superbatch.backends.azure import AzureBackend
    from superbatch.backends.azure.definitions import body_size, largest_task, placeholder_context
    from superbatch.contract.names import file_names
    from superbatch.plan.chunks import JobPlan

    spec = spec_with(tmp_path, "python /w.py", points, per_task)
    plan = JobPlan.build(spec, AzureBackend.auto_tasks(spec, None))
    AzureBackend.check_plan(spec, plan)  # accepted
    ctx = placeholder_context(spec.model, file_names("joblib"), "python /w.py", plan.multi_point)
    assert body_size(largest_task(ctx, plan.task(plan.task_count - 1))) < 10_000


def test_a_command_the_service_would_refuse_is_refused_at_validate(tmp_path):
    from superbatch.backends.azure import AzureBackend
    from superbatch.plan.chunks import JobPlan

    spec = spec_with(tmp_path, "echo " + "x" * 70_000, 10, 1)
    with pytest.raises(SpecError) as caught:
        AzureBackend.check_plan(spec, JobPlan.build(spec, 1))
    assert "worker.command" in caught.value.message and "line 3" in caught.value.message
