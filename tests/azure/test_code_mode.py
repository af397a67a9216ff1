"""Issue 14: Azure without Docker. The worker's files travel as a content-addressed archive,
the job's preparation task installs their environment once per node (and per distinct
environment), and the tasks run the seed's worker unmodified. On Azurite and the emulator,
from a shell whose `python` lacks the project's packages: numpy and joblib come from the
worker's requirements.txt, installed by pip on the (emulated) node."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from clihelp import REPO, seed_loop
from rigs import make_rig

from superbatch.backends.azure.runnerapp import build

BARE_PATH = "/usr/bin:/bin"
AZURE = ("--backend", "azure")


@pytest.fixture
def code_rig(azurite, tmp_path):
    """The demo job without `worker.image`, and an emulator with no image stand-ins."""
    rig = make_rig(azurite, tmp_path, images={})
    shutil.copytree(REPO / "worker", rig.root / "worker", dirs_exist_ok=True)
    spec = rig.root / "job.yaml"
    spec.write_text(
        (REPO / "jobs" / "sum-of-powers.yaml")
        .read_text()
        .replace(
            "  image: myregistry.azurecr.io/sum-of-powers:v1   # built from worker/Dockerfile\n", ""
        )
        .replace("directory: ../worker", "directory: worker")
        .replace("output: ../results/", "output: results/")
        .replace("container: superbatch", f"container: code{abs(hash(str(tmp_path))) % 10**8}")
    )
    assert "image:" not in spec.read_text()
    rig.spec = spec
    # A shell with no Python of the project's: the CLI itself is run by its own path.
    rig.env = dict(rig.env, PATH=BARE_PATH)
    try:
        yield rig
    finally:
        rig.emulator.stop()


def cli(rig, *args, env=None):
    command = [str(Path(sys.executable).parent / "superbatch"), *map(str, args)]
    import subprocess

    # PYTHONPATH passes through so that a checkout's tests run that checkout's code.
    passed = {k: os.environ[k] for k in ("HOME", "PYTHONPATH") if k in os.environ}
    full = {"HOME": "/root", **passed, **rig.env, **(env or {})}
    done = subprocess.run(
        command, env=full, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    return done


def record(spec):
    return json.loads(next((spec.parent / ".superbatch").glob("*/record.json")).read_text())


def test_the_demo_runs_from_its_files_and_requirements(code_rig):
    rig = code_rig
    first = cli(rig, "run", rig.spec, *AZURE, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["result"] == seed_loop()
    target = record(rig.spec)["target"]
    assert target["mode"] == "code" and target["code_archive"].startswith("code/")
    client = rig.client()
    pool = client.get_pool("superbatch")
    vm = pool.virtual_machine_configuration
    assert vm.container_configuration is None
    assert (vm.image_reference.publisher, vm.image_reference.offer) == (
        "canonical",
        "ubuntu-24_04-lts",
    )
    container = rig.container(target["container"])
    code = sorted(b.name for b in container.list_blobs(name_starts_with="code/"))
    runner = build().blob  # the task runner, which the demo's `python SCRIPT` command runs
    assert code == sorted([target["code_archive"], target["code_requirements"], runner])
    # A second job with the same files: the same archive (not uploaded again), the same
    # environment on the node (not installed again).
    archive = container.get_blob_client(target["code_archive"]).get_blob_properties()
    envs = list((rig.root / "nodes").glob("*/*/shared/superbatch/envs/*/.ready"))
    assert len(envs) == 1
    installed = envs[0].stat().st_mtime_ns
    rig.spec.write_text(rig.spec.read_text().replace("seed: [1, 12, 123, 1234]", "seed: [7, 8]"))
    second = cli(rig, "run", rig.spec, *AZURE, "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["result"] == seed_loop(seeds=(7, 8))
    again = container.get_blob_client(target["code_archive"]).get_blob_properties()
    assert again.etag == archive.etag
    assert envs[0].stat().st_mtime_ns == installed


def test_a_failed_install_says_where_and_why(code_rig):
    rig = code_rig
    (rig.root / "worker" / "requirements.txt").write_text("no-such-package-superbatch-x9==1.0\n")
    result = cli(rig, "run", rig.spec, *AZURE, "--timeout", "300")
    assert result.returncode == 1, result.stderr
    assert "preparation task" in result.stderr and "worker.requirements" in result.stderr
    assert "no-such-package-superbatch-x9" in result.stderr  # pip's own words, the tail
    status = cli(rig, "status", rig.spec, *AZURE, "--json")
    body = json.loads(status.stdout)
    assert status.returncode == 1 and body["blocked"] and body["done"]


def test_a_container_pool_is_refused_before_anything_is_created(code_rig):
    rig = code_rig
    from azure.batch import models as m

    rig.client().create_pool(
        m.BatchPoolCreateOptions(
            id="superbatch",
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=m.BatchVmImageReference(
                    publisher="microsoft-dsvm", offer="ubuntu-hpc", sku="2404"
                ),
                node_agent_sku_id="batch.node.ubuntu 24.04",
                container_configuration=m.BatchContainerConfiguration(type="dockerCompatible"),
            ),
        )
    )
    result = cli(rig, "submit", rig.spec, *AZURE)
    assert result.returncode == 2 and "runs containers" in result.stderr
    assert "azure.pool.id" in result.stderr
    assert not (rig.spec.parent / ".superbatch").exists()
    assert list(rig.client().list_jobs()) == []


def test_setup_runs_once_per_node_and_environment(code_rig):
    rig = code_rig
    log = rig.root / "setup-runs.log"
    rig.spec.write_text(
        rig.spec.read_text().replace(
            "  format: joblib\n", f"  format: joblib\n  setup: echo ran >> {log}\n"
        )
    )
    assert cli(rig, "run", rig.spec, *AZURE).returncode == 0
    rig.spec.write_text(rig.spec.read_text().replace("seed: [1, 12, 123, 1234]", "seed: [3]"))
    assert cli(rig, "run", rig.spec, *AZURE).returncode == 0
    assert log.read_text().split() == ["ran"]


def test_setup_logs_show_stdout_stderr_and_exit_code_per_node(code_rig):
    """Regression: a failing worker.setup showed only its stderr tail; its stdout and exit
    code were lost, and `logs JOB jobpreparation` said there were no logs."""
    rig = code_rig
    (rig.root / "worker" / "requirements.txt").unlink()
    rig.spec.write_text(
        rig.spec.read_text().replace(
            "  format: joblib\n",
            "  format: joblib\n  setup: echo preparing-out-line; echo oops-err-line >&2; exit 7\n",
        )
    )
    result = cli(rig, "run", rig.spec, *AZURE, "--timeout", "300")
    assert result.returncode == 1 and f"`superbatch logs {rig.spec} --setup" in result.stderr
    shown = cli(rig, "logs", rig.spec, *AZURE, "--setup", "--json")
    assert shown.returncode == 0, shown.stderr
    setup = json.loads(shown.stdout)["setup"]
    assert setup and {s["exit_code"] for s in setup} == {7}
    assert all(
        "preparing-out-line" in s["stdout"] and "oops-err-line" in s["stderr"] for s in setup
    )
    text = cli(rig, "logs", rig.spec, *AZURE, "--setup", "--node", setup[0]["node"])
    assert text.returncode == 0
    assert f"=== set-up on {setup[0]['node']}: exit code 7" in text.stdout
    assert text.stdout.count("=== set-up on") == 1
    none = cli(rig, "logs", rig.spec, *AZURE, "--setup", "--node", "no-such-node")
    assert none.returncode == 2 and "no set-up logs on node no-such-node" in none.stderr
