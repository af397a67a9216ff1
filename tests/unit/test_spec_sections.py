"""Each backend owns its part of the job spec: the registry contributes the sections, the spec
composes them, and the spec's keys, checks and JSON Schema stay what they were."""

import json
from pathlib import Path

import pytest
import yaml
from clihelp import write_spec
from fakebackend import FakeBackend

from superbatch.backends.azure.spec import AzureSpec, AzureWorkerKeys, azure_section, azure_worker
from superbatch.backends.local.spec import LocalWorkerKeys
from superbatch.backends.registry import spec_sections
from superbatch.backends.reports import CostEstimate
from superbatch.errors import SpecError, UserError
from superbatch.jobs.context import make_context
from superbatch.spec.load import json_schema, load_spec
from superbatch.spec.models import JobSpec, WorkerSpec

# `superbatch schema` before the sections moved into the backends.
SCHEMA_BEFORE = Path(__file__).parent / "data" / "job_spec_schema.json"

SPEC = """\
name: sections
worker:
  command: python {worker_dir}/worker.py
  directory: .
  image: example.azurecr.io/w:v1
  image_directory: /app
  setup: echo hi
parameters:
  x: [1, 2]
azure:
  region: westeurope
  pool:
    vm_size: standard_nc4as_t4_v3
"""


def _keys(schema: dict, node: dict, prefix: str = "") -> set[str]:
    """Every key path the schema describes (through $refs)."""
    found = set()
    for key, sub in node.get("properties", {}).items():
        found.add(prefix + key)
        for part in [sub, *sub.get("anyOf", [])]:
            ref = part.get("$ref") or part.get("items", {}).get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[-1]
                found |= _keys(schema, schema["$defs"][name], f"{prefix}{key}.")
    return found


def test_the_schema_is_the_one_before_the_sections_moved():
    before = json.loads(SCHEMA_BEFORE.read_text())
    now = json_schema()
    assert _keys(now, now) == _keys(before, before)
    assert "worker.image_directory" in _keys(now, now) and "azure.pool.gpus" in _keys(now, now)
    assert now == before  # every key, type, default, description and check (in any order)
    assert list(now["properties"]) == list(before["properties"])
    assert list(now["$defs"]) == list(before["$defs"])


def test_the_registry_composes_every_backends_section_into_the_spec():
    sections = spec_sections()
    for section in sections.job:
        assert set(section.model_fields) <= set(JobSpec.model_fields)
    for section in sections.worker:
        assert set(section.model_fields) <= set(WorkerSpec.model_fields)
    assert issubclass(WorkerSpec, AzureWorkerKeys) and issubclass(WorkerSpec, LocalWorkerKeys)


def test_backend_code_reads_its_section_through_typed_accessors(tmp_path):
    model = load_spec(write_spec(tmp_path, SPEC)).model
    azure = azure_section(model)
    assert isinstance(azure, AzureSpec)
    assert (azure.region, azure.pool.vm_size, azure.pool.gpu) == (
        "westeurope",
        "standard_nc4as_t4_v3",
        True,
    )
    worker = azure_worker(model.worker)
    assert (worker.image, worker.image_directory, worker.setup) == (
        "example.azurecr.io/w:v1",
        "/app",
        "echo hi",
    )
    assert worker.upload_limit_mb == 200 and worker.requirements is None


@pytest.mark.parametrize(
    ("worker", "mode"),
    [("", "point"), ("  fork: false\n", "process"), ("  isolation: task\n", "task")],
)
def test_the_deprecated_fork_key_is_still_read_as_isolation(tmp_path, worker, mode):
    text = SPEC.replace("  setup: echo hi\n", worker)
    assert load_spec(write_spec(tmp_path, text)).model.worker.isolation_mode == mode


def test_fork_false_with_another_isolation_is_refused_naming_the_line(tmp_path):
    path = write_spec(
        tmp_path, SPEC.replace("  setup: echo hi\n", "  fork: false\n  isolation: task\n")
    )
    with pytest.raises(SpecError, match=r"line 2: worker: fork: false \(deprecated\) means"):
        load_spec(path)


def test_an_unknown_backend_in_the_spec_is_refused_where_the_context_is_made(tmp_path):
    path = write_spec(tmp_path, "backend: cloud\n" + SPEC)
    spec = load_spec(path)  # the model no longer asks the registry
    with pytest.raises(SpecError) as info:
        make_context(spec, None, str(tmp_path / "state"))
    assert str(info.value).startswith(
        f"{path}, line 1: backend: unknown backend 'cloud': use one of local, azure"
    )
    assert not (tmp_path / "state").exists()


def test_an_unknown_backend_given_instead_of_the_specs_is_an_error_not_a_crash(tmp_path):
    """Regression: `superbatch.map(..., backend="cloud")` (and any caller of make_context with
    a backend name) raised a bare KeyError from the registry."""
    spec = load_spec(write_spec(tmp_path, SPEC))
    with pytest.raises(UserError, match="backend: unknown backend 'cloud': use one of local"):
        make_context(spec, "cloud", str(tmp_path / "state"))


def _mapped_worker(tmp_path, base: dict) -> tuple[dict, Path]:
    from superbatch.pyapi.mapping import prepare

    call = prepare(abs, [{"x": 1}], None, base, tmp_path / "state")
    worker = yaml.safe_load(call.spec_path.read_text())["worker"]
    return worker, call.spec_path


def test_map_ships_the_requirements_and_refuses_an_image(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "needs.txt").write_text("numpy\n")
    worker, path = _mapped_worker(tmp_path, {"worker": {"requirements": "needs.txt"}})
    assert "requirements" not in worker
    shipped = Path(worker["directory"]) / "requirements.txt"
    assert shipped.read_text().startswith("numpy\n")
    load_spec(path)  # the call's spec is valid
    with pytest.raises(UserError, match=r"worker\.requirements: .*missing\.txt cannot be read"):
        _mapped_worker(tmp_path, {"worker": {"requirements": "missing.txt"}})
    with pytest.raises(UserError, match="worker.image cannot be used with it"):
        _mapped_worker(tmp_path, {"worker": {"image": "example.azurecr.io/w:v1"}})


def test_map_runs_a_process_per_point_for_fork_false(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    worker, path = _mapped_worker(tmp_path, {"worker": {"fork": False}})
    assert worker["command"] == "python {worker_dir}/call.py" and "function" not in worker
    assert load_spec(path).model.worker.isolation_mode == "process"


class BudgetedBackend(FakeBackend):
    """The fake backend, with estimates that carry the spec's azure budget as azure's do."""

    budget_key = ("azure", "budget", "max_usd")

    @classmethod
    def estimate(cls, spec, plan, per_point_s, source):
        budget = azure_section(spec.model).budget
        return CostEstimate(
            "1 x test",
            plan.task_count,
            plan.point_count,
            1.0,
            source,
            60.0,
            cost_usd=5.0,
            budget_usd=budget.max_usd if budget else None,
        )


def test_the_budget_is_named_by_the_key_its_backend_owns(tmp_path, monkeypatch):
    from superbatch.backends import registry
    from superbatch.backends.azure import AzureBackend
    from superbatch.backends.local import LocalBackend
    from superbatch.cli.costs import estimate_lines
    from superbatch.jobs.context import build_plan
    from superbatch.jobs.lifecycle import preflight

    assert AzureBackend.budget_key == ("azure", "budget", "max_usd")
    assert LocalBackend.budget_key == ()
    monkeypatch.setitem(registry.BACKENDS, "budgeted", "test_spec_sections:BudgetedBackend")
    text = SPEC.replace("  pool:\n", "  budget:\n    max_usd: 1\n  pool:\n")
    path = write_spec(tmp_path, text.replace("worker:\n", "backend: budgeted\nworker:\n"))
    ctx = make_context(load_spec(path), None, str(tmp_path / "state"))
    plan = build_plan(ctx)
    est = ctx.backend.estimate(ctx.spec, plan, None, "unknown")
    assert "  budget: $1.00 (azure.budget.max_usd)" in estimate_lines(est, ctx.backend.budget_key)
    with pytest.raises(UserError) as info:
        preflight(ctx, plan)
    assert str(info.value).startswith(
        f"{path}, line 13: the job's estimate, about $5.00, exceeds its budget of $1.00 "
        f"(azure.budget.max_usd); nothing was created."
    )
