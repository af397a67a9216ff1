"""Issue 26, item 5: GPU pools. The requests sent (the pool's image chosen from the account's
supported images, no run options on container tasks), the pre-flight problems (no GPU image, no
GPU quota) with nothing created, and the docs/azure.md example, against the emulator, Azurite
and the management-plane and prices stand-ins."""

from __future__ import annotations

import re

import pytest
from clihelp import REPO, write_spec
from relhelpers import job_spec
from rigs import make_rig
from standins import ArmStandIn, PricesStandIn, batch_account, price_item, vm_sku
from test_costs_and_preflight import doctor, in_process

from batch_emulator.supported import SUPPORTED_IMAGES

GPU_SIZE = "standard_nc4as_t4_v3"
T4_FAMILY = "standardNCASv3_T4Family"
PLAIN_IMAGES = [i for i in SUPPORTED_IMAGES if not i["capabilities"]]  # no driver, no Docker


class Sent:
    """An ``on_request`` hook: the bodies of the pools and tasks created."""

    def __init__(self):
        self.pools: list[dict] = []
        self.tasks: list[dict] = []

    def __call__(self, method, path, body):
        if method == "POST" and path == "/pools":
            self.pools.append(body)
        elif method == "POST" and path.endswith("/addtaskcollection"):
            self.tasks += body["value"]


def gpu_spec(root, extra_pool: str = "", code_mode: bool = False):
    spec = job_spec(root, "gpu", 2)
    text = spec.read_text().replace("vm_size: standard_d2s_v3", f"vm_size: {GPU_SIZE}{extra_pool}")
    if code_mode:
        text = text.replace("  image: example.azurecr.io/w:v1\n  image_directory: /app\n", "")
    spec.write_text(text)
    return spec


@pytest.mark.parametrize("code_mode", [False, True])
def test_a_gpu_size_gets_the_driver_image_and_containers_no_run_options(
    azurite, tmp_path, code_mode
):
    sent = Sent()
    rig = make_rig(azurite, tmp_path, run_tasks=False, on_request=sent)
    try:
        spec = gpu_spec(rig.root, code_mode=code_mode)  # no `gpus`: the size says it
        result = rig.run("submit", spec, "--backend", "azure", "--json")
        assert result.code == 0, result.stderr
    finally:
        rig.emulator.stop()
    (pool,) = sent.pools
    vm = pool["virtualMachineConfiguration"]
    assert pool["vmSize"] == GPU_SIZE
    assert vm["imageReference"] == {
        "publisher": "microsoft-dsvm",
        "offer": "ubuntu-hpc",
        "sku": "2404",
        "version": "latest",
    }
    assert vm["nodeAgentSKUId"] == "batch.node.ubuntu 24.04"
    assert ("containerConfiguration" in vm) is not code_mode
    assert len(sent.tasks) == 2
    for task in sent.tasks:
        # Batch gives container tasks the GPUs itself ("you shouldn't include --gpus").
        assert "containerRunOptions" not in task.get("containerSettings", {})
        assert ("containerSettings" in task) is not code_mode


def test_the_newest_driver_image_that_runs_containers_is_chosen(azurite, tmp_path):
    def image(offer, agent, caps, eol=None):
        found = {
            "nodeAgentSKUId": agent,
            "osType": "linux",
            "imageReference": {"publisher": "p", "offer": offer, "sku": "s", "version": "latest"},
            "capabilities": caps,
            "verificationType": "verified",
        }
        if eol:
            found["batchSupportEndOfLife"] = eol
        return found

    offered = [
        image("old", "batch.node.ubuntu 22.04", ["DockerCompatible", "NvidiaTeslaDriverInstalled"]),
        image("nodocker", "batch.node.ubuntu 24.04", ["NvidiaTeslaDriverInstalled"]),
        image(
            "ending",
            "batch.node.ubuntu 24.04",
            ["DockerCompatible", "NvidiaGridDriverInstalled"],
            "2026-01-01T00:00:00Z",
        ),
        image("new", "batch.node.ubuntu 24.04", ["DockerCompatible", "NvidiaTeslaDriverInstalled"]),
        image("plain", "batch.node.ubuntu 24.04", ["DockerCompatible"]),
    ]
    sent = Sent()
    rig = make_rig(azurite, tmp_path, run_tasks=False, on_request=sent, supported_images=offered)
    try:
        spec = gpu_spec(rig.root, ", gpus: true")
        result = rig.run("submit", spec, "--backend", "azure", "--json")
        assert result.code == 0, result.stderr
    finally:
        rig.emulator.stop()
    assert sent.pools[0]["virtualMachineConfiguration"]["imageReference"]["offer"] == "new"


def test_no_gpu_image_offered_is_a_problem_and_nothing_is_created(azurite, tmp_path, monkeypatch):
    rig = make_rig(azurite, tmp_path, supported_images=PLAIN_IMAGES)
    try:
        spec = gpu_spec(rig.root)
        code, checks, _ = doctor(rig, spec, rig.env, monkeypatch)
        assert code == 2 and checks["node image"]["status"] == "problem"
        detail = checks["node image"]["detail"]
        assert "no node image with the NVIDIA driver that runs containers" in detail
        assert "azure.pool.image" in detail and GPU_SIZE in detail
        result = rig.run("submit", spec, "--backend", "azure", "--json")
        assert result.code == 2 and "node image" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert not (spec.parent / ".superbatch").exists()
        assert list(rig.client().list_pools()) == [] and list(rig.client().list_jobs()) == []
        # the same size on code mode's usual image, on purpose: nothing asks for a driver
        spec = gpu_spec(rig.root, ", gpus: false", code_mode=True)
        code, checks, _ = doctor(rig, spec, rig.env, monkeypatch)
        assert checks["node image"]["status"] == "ok", checks["node image"]
    finally:
        rig.emulator.stop()


@pytest.fixture
def arm():
    server = ArmStandIn(
        batch_account("emulator", "westeurope", {"standardDSv3Family": 8, T4_FAMILY: 0}, 20, 4, 5),
        [
            vm_sku("Standard_D2s_v3", "standardDSv3Family", 2),
            vm_sku("Standard_NC4as_T4_v3", T4_FAMILY, 4, gpus=1),
        ],
    )
    yield server
    server.stop()


def test_the_gpu_family_quota_and_gpu_count_are_checked_first(azurite, tmp_path, monkeypatch, arm):
    rig = make_rig(azurite, tmp_path)
    env = {
        **rig.env,
        "SUPERBATCH_ARM_ENDPOINT": arm.url,
        "AZURE_SUBSCRIPTION_ID": "sub",
        "AZURE_RESOURCE_GROUP": "rg",
    }
    try:
        spec = gpu_spec(rig.root)
        code, checks, _ = doctor(rig, spec, env, monkeypatch)
        assert code == 2, checks
        assert checks["VM size"]["status"] == "ok" and "1 GPUs" in checks["VM size"]["detail"]
        quota = checks["core quota"]["detail"]
        assert "need 8 cores" in quota and f"{T4_FAMILY} quota is 0" in quota
        result = in_process(["submit", spec, "--backend", "azure"], env, monkeypatch)
        assert result.exit_code == 2 and "core quota" in result.stderr
        assert not (spec.parent / ".superbatch").exists()
        assert list(rig.client().list_pools()) == []
        # more GPUs per node than the size has
        spec.write_text(spec.read_text().replace(GPU_SIZE, GPU_SIZE + ", gpus: 2"))
        code, checks, _ = doctor(rig, spec, env, monkeypatch)
        assert code == 2 and checks["VM size"]["status"] == "problem"
        assert "has 1 GPUs" in checks["VM size"]["detail"]
        assert "asks for 2 (azure.pool.gpus)" in checks["VM size"]["detail"]
    finally:
        rig.emulator.stop()


def test_the_doc_example_validates_and_plans_at_the_gpu_price(tmp_path, monkeypatch):
    doc = (REPO / "docs" / "azure.md").read_text()
    (example,) = re.findall(r"<!-- the GPU example[^>]*-->\n```yaml\n(.*?)```", doc, re.S)
    spec = write_spec(tmp_path, example, name="train.yaml")
    prices = PricesStandIn(
        [
            price_item("Standard_NC4as_T4_v3", "westeurope", 0.526, "NC4as T4 v3"),
            price_item("Standard_D2s_v3", "westeurope", 0.096, "D2s v3"),
        ]
    )
    try:
        from clihelp import superbatch

        env = {
            "SUPERBATCH_PRICES_URL": prices.url + "/api/retail/prices",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
        valid = superbatch("validate", spec, "--backend", "azure", env=env)
        assert valid.code == 0, valid.stderr
        plan = superbatch("plan", spec, "--backend", "azure", "--json", env=env)
        assert plan.code == 0, plan.stderr
        est = plan.json["estimate"]
        assert est["price_per_hour"]["dedicated"] == 0.526
        assert GPU_SIZE in est["resources"]
    finally:
        prices.stop()
