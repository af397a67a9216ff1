"""3. Under injected faults (busy, throttled, dropped connections, preempted nodes) `run` gives
the exact result; past the retry budget, or with no service at all, it exits 3 and says what to
re-run, without a traceback."""

from __future__ import annotations

from clihelp import seed_loop
from relhelpers import job_spec
from services import free_port

FAULTS = dict(fault_rate=0.1, drop_rate=0.05, preempt_rate=0.2)


def test_demo_job_survives_faults(rig_factory, seed=1):
    rig = rig_factory(f"faults{seed}", fault_seed=seed, **FAULTS)
    import shutil

    from clihelp import REPO

    shutil.copytree(REPO / "worker", rig.root / "worker", dirs_exist_ok=True)
    spec = rig.root / "sum-of-powers.yaml"
    spec.write_text(
        (REPO / "jobs" / "sum-of-powers.yaml")
        .read_text()
        .replace("directory: ../worker", "directory: worker")
        .replace("output: ../results/", "output: results/")
        .replace("container: superbatch", f"container: faults{seed}")
    )
    result = rig.run("run", spec, "--backend", "azure", "--json", timeout=180)
    assert result.code == 0, result.stderr
    assert result.json["result"] == seed_loop()
    stats = rig.emulator.stats
    assert stats["busy"] + stats["throttled"] + stats["dropped"] + stats["dropped_after_apply"] > 0


def test_200_point_job_survives_faults(rig_factory):
    rig = rig_factory("faults200", fault_seed=7, workers=4, **FAULTS)
    spec = job_spec(rig.root, "faults200", 200, tasks="{points_per_task: 4, max_retries: 1}")
    spec.write_text(
        spec.read_text().replace("python {worker_dir}/w.py", "cp inputs.pickle outputs.pickle")
    )
    result = rig.run("run", spec, "--backend", "azure", "--json", timeout=240)
    assert result.code == 0, result.stderr
    assert result.json["result"] == [{"x": x} for x in range(200)]
    assert rig.emulator.stats["preempted"] > 0


def assert_infra_error(result, *words):
    assert result.code == 3, result
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in result.stderr, result.stderr


def test_past_the_retry_budget_is_exit_3_saying_what_to_rerun(rig_factory):
    rig = rig_factory("always", fault_rate=1.0)
    spec = job_spec(rig.root, "always", 3)
    env = {"SUPERBATCH_RETRY_ATTEMPTS": "2", "SUPERBATCH_RETRY_BACKOFF": "0.01"}
    result = rig.run("run", spec, "--backend", "azure", "--json", env=env)
    assert_infra_error(result, "kept failing after 2 attempts", "superbatch run", "again")
    assert result.json["exit_code"] == 3 and not result.json["ok"]


def test_unreachable_endpoint_is_exit_3(rig_factory):
    rig = rig_factory("closed")
    spec = job_spec(rig.root, "closed", 3)
    env = {
        "AZURE_BATCH_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "SUPERBATCH_RETRY_ATTEMPTS": "2",
        "SUPERBATCH_RETRY_BACKOFF": "0.01",
    }
    result = rig.run("run", spec, "--backend", "azure", env=env)
    assert_infra_error(result, "Connection refused", "superbatch run", "again")
