"""Issue 15: the estimate, prices, the budget, and pre-flight checks, against stand-ins of
every service involved (the emulator, Azurite, the Retail Prices API, a registry, the
management plane), all on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from click.testing import CliRunner
from clihelp import write_spec
from standins import ArmStandIn, PricesStandIn, RegistryStandIn, batch_account, price_item, vm_sku

from superbatch.cli import cli

ITEMS = [
    price_item("Standard_D2s_v3", "westeurope", 0.096, "D2s v3"),
    price_item("Standard_D2s_v3", "westeurope", 0.0192, "D2s v3 Spot"),
    price_item("Standard_D2s_v3", "westeurope", 0.0192, "D2s v3 Low Priority"),
    price_item(
        "Standard_D2s_v3", "westeurope", 0.188, "D2s v3", "Virtual Machines Dsv3 Series Windows"
    ),
    price_item("Standard_D2s_v3", "eastus", 0.05, "D2s v3"),
    price_item("Standard_D4s_v3", "westeurope", 0.192, "D4s v3"),
]


class FakeToken:
    """Microsoft Entra ID for the management plane: the one thing no local server can
    produce (a token the stand-in accepts). The sanctioned mock."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken("stand-in", int(time.time()) + 3600)

    def get_token_info(self, *scopes, **kwargs):
        return AccessTokenInfo("stand-in", int(time.time()) + 3600)


@pytest.fixture
def prices(tmp_path, monkeypatch):
    server = PricesStandIn(ITEMS, page_size=2)
    monkeypatch.setenv("SUPERBATCH_PRICES_URL", f"{server.url}/api/retail/prices")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield server
    server.stop()


def test_prices_follow_pages_pick_linux_and_spot_and_are_cached(prices):
    from superbatch.backends.azure.prices import vm_price

    found = vm_price("standard_d2s_v3", "westeurope")
    assert (found.dedicated, found.spot, found.source) == (0.096, 0.0192, "api")
    assert len(prices.requests) == 2  # 4 matching items, 2 a page: NextPageLink followed
    again = vm_price("standard_d2s_v3", "westeurope")
    assert again.source == "cache" and len(prices.requests) == 2


def test_no_answer_is_an_unknown_price_never_an_error(monkeypatch, tmp_path):
    from superbatch.backends.azure.prices import region_of, vm_price

    monkeypatch.setenv("SUPERBATCH_PRICES_URL", "http://127.0.0.1:9/api/retail/prices")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    unknown = vm_price("standard_d2s_v3", "westeurope")
    assert unknown.dedicated is None and unknown.source.startswith("unknown")
    assert region_of("https://mybatch.westeurope.batch.azure.com") == "westeurope"
    assert region_of("http://127.0.0.1:8123") is None


def test_the_estimate_worked_by_hand(tmp_path):
    """1,000 points, 10 per task: 100 tasks of 10 x 6 s + 2 s overhead = 62 s; 2 nodes x 2
    slots = 4 at once: 25 waves = 1,550 s; + 360 s start-up = 1,910 s = 0.530556 h; 2 nodes:
    1.061111 node-hours; x $0.096 = $0.101867. With 1 dedicated + 1 Spot node: 0.530556 x
    (0.096 + 0.0192) = $0.061120."""
    from superbatch.backends.azure.estimate import estimate, spend_so_far
    from superbatch.backends.azure.prices import VmPrice
    from superbatch.plan.chunks import JobPlan
    from superbatch.spec.load import load_spec

    path = write_spec(
        tmp_path,
        "name: e\nworker: {command: x, image: r.io/w:1}\n"
        "parameters: {x: {range: [1000]}}\ntasks: {points_per_task: 10}\n"
        "azure: {pool: {dedicated_nodes: 2, task_slots_per_node: 2}}\n",
    )
    spec = load_spec(path)
    plan = JobPlan.build(spec, 4)
    price = VmPrice("standard_d2s_v3", "westeurope", 0.096, 0.0192, "api")
    est = estimate(spec.model, plan, 6.0, "given", price, "image")
    assert est.tasks == 100 and est.duration_s == pytest.approx(1910)
    assert est.node_hours["dedicated"] == pytest.approx(1.061111, rel=1e-5)
    assert est.cost_usd == pytest.approx(0.101867, rel=1e-5)
    mixed = spec.model.model_copy(
        update={
            "azure": spec.model.azure.model_copy(
                update={
                    "pool": spec.model.azure.pool.model_copy(
                        update={"dedicated_nodes": 1, "low_priority_nodes": 1}
                    )
                }
            )
        }
    )
    assert estimate(mixed, plan, 6.0, "given", price, "image").cost_usd == pytest.approx(
        0.061120, rel=1e-4
    )
    assert spend_so_far(2, 0, 1800, price) == pytest.approx(0.096)
    assert estimate(spec.model, plan, None, "unknown", price, "image").cost_usd is None


def costed_spec(
    rig, extra: str = "", tasks: str = "{max_retries: 0, estimated_time: 6s}", points: int = 40
) -> object:
    from relhelpers import job_spec

    spec = job_spec(rig.root, "costed", points, tasks=tasks)
    spec.write_text(spec.read_text().replace("azure:\n", f"azure:\n  region: westeurope\n{extra}"))
    return spec


def test_plan_prints_the_pool_the_duration_and_the_cost(rig, prices):
    spec = costed_spec(rig)
    env = {**rig.env, "SUPERBATCH_PRICES_URL": prices.url + "/api/retail/prices"}
    human = rig.run("plan", spec, "--backend", "azure", env=env)
    assert human.code == 0, human.stderr
    assert "2 x standard_d2s_v3 dedicated" in human.stdout and "about $" in human.stdout
    body = rig.run("plan", spec, "--backend", "azure", "--json", env=env).json["estimate"]
    # 40 tasks of 8 s on 2 slots: 20 waves = 160 s + 360 s start-up; 2 nodes at $0.096/h
    assert body["duration_s"] == pytest.approx(520)
    assert body["cost_usd"] == pytest.approx(2 * 520 / 3600 * 0.096)
    assert body["price_per_hour"] == {"dedicated": 0.096, "spot": 0.0192}


def test_plan_sample_times_points_here(rig, prices):
    spec = costed_spec(rig, tasks="{max_retries: 0}")
    env = {**rig.env, "SUPERBATCH_PRICES_URL": prices.url + "/api/retail/prices"}
    body = rig.run("plan", spec, "--backend", "azure", "--sample", "3", "--json", env=env).json
    est = body["estimate"]
    assert est["per_point_s"] > 0 and "not the pool's VM" in est["per_point_source"]
    assert est["cost_usd"] is not None


def test_a_budget_the_estimate_exceeds_creates_nothing(rig, prices):
    spec = costed_spec(rig, extra="  budget: {max_usd: 0.01}\n")
    env = {**rig.env, "SUPERBATCH_PRICES_URL": prices.url + "/api/retail/prices"}
    result = rig.run("submit", spec, "--backend", "azure", "--json", env=env)
    assert result.code == 2 and "exceeds its budget of $0.01" in result.stderr
    assert not (spec.parent / ".superbatch").exists()
    assert list(rig.client().list_pools()) == [] and list(rig.client().list_jobs()) == []


def test_a_budget_without_prices_creates_nothing(rig, tmp_path):
    spec = costed_spec(rig, extra="  budget: {max_usd: 0.01}\n")
    env = {
        **rig.env,
        "SUPERBATCH_PRICES_URL": "http://127.0.0.1:9/api/retail/prices",  # nobody answers
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    for command in ("submit", "run"):
        result = rig.run(command, spec, "--backend", "azure", "--json", env=env)
        assert result.code == 2, result.stderr
        assert "budget cannot be enforced" in result.stderr and "Traceback" not in result.stderr
        assert "SUPERBATCH_PRICES_URL" in result.stderr and "remove azure.budget" in result.stderr
    plan = rig.run("plan", spec, "--backend", "azure", env=env)
    assert plan.code == 0 and "`submit` refuses the job" in plan.stdout
    assert not (spec.parent / ".superbatch").exists()
    assert list(rig.client().list_pools()) == [] and list(rig.client().list_jobs()) == []


def test_a_job_that_spends_past_its_budget_is_stopped(rig, monkeypatch, tmp_path):
    # $36,000 an hour: $10 a second, so that a budget of $30 is passed within seconds.
    server = PricesStandIn([price_item("Standard_D2s_v3", "westeurope", 18000.0, "D2s v3")])
    try:
        from relhelpers import job_spec

        slow = (
            "import joblib, time\nx = joblib.load('inputs.pickle')['x']\ntime.sleep(30)\n"
            "joblib.dump(x, 'outputs.pickle')\n"
        )
        spec = job_spec(rig.root, "spender", 4, worker=slow)
        spec.write_text(
            spec.read_text().replace(
                "azure:\n", "azure:\n  region: westeurope\n  budget: {max_usd: 30}\n"
            )
        )
        env = {
            **rig.env,
            "SUPERBATCH_PRICES_URL": server.url + "/api/retail/prices",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
        started = time.monotonic()
        result = rig.run("run", spec, "--backend", "azure", "--json", env=env)
        assert result.code == 5, result
        assert time.monotonic() - started < 25
        assert "past its budget of $30.00" in result.stderr
        assert "pool relpool resized to zero nodes" in result.stderr
        assert result.json["exit_code"] == 5 and result.json["spend_usd"] > 30
        client = rig.client()
        pool = client.get_pool("relpool")
        assert pool.target_dedicated_nodes == 0 and pool.current_dedicated_nodes == 0
        assert all(j.state in ("completed", "terminating") for j in client.list_jobs())
    finally:
        server.stop()


def in_process(args, env, monkeypatch):
    from superbatch.backends.azure import credentials

    monkeypatch.setattr(credentials, "default_credential", lambda: FakeToken())
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture
def services(rig, prices):
    registry = RegistryStandIn({"w:v1"}, "puller", "s3cret")
    arm = ArmStandIn(
        batch_account("emulator", "westeurope", {"standardDSv3Family": 8}, 20, 4, 5),
        [vm_sku("Standard_D2s_v3", "standardDSv3Family", 2)],
    )
    env = {
        **rig.env,
        "SUPERBATCH_PRICES_URL": prices.url + "/api/retail/prices",
        "SUPERBATCH_REGISTRY_MIRROR": registry.url,
        "SUPERBATCH_ARM_ENDPOINT": arm.url,
        "AZURE_SUBSCRIPTION_ID": "sub",
        "AZURE_RESOURCE_GROUP": "rg",
        "AZURE_REGISTRY_USERNAME": "puller",
        "AZURE_REGISTRY_PASSWORD": "s3cret",
    }
    yield registry, arm, env
    registry.stop()
    arm.stop()


def doctor(rig, spec, env, monkeypatch):
    result = in_process(["doctor", spec, "--backend", "azure", "--json"], env, monkeypatch)
    body = json.loads(result.stdout)
    return result.exit_code, {c["name"]: c for c in body["checks"]}, body


def test_doctor_all_ok_and_each_problem_with_its_fix(rig, services, monkeypatch):
    registry, arm, env = services
    spec = costed_spec(rig, extra="  registry: {server: example.azurecr.io}\n")
    code, checks, body = doctor(rig, spec, env, monkeypatch)
    assert code == 0, checks
    assert {c["status"] for c in checks.values()} == {"ok"}, checks
    assert "can pull" in checks["worker image"]["detail"]
    assert checks["core quota"]["detail"] == "4 dedicated and 0 Spot cores fit"
    assert body["estimate"]["cost_usd"] is not None
    # the image is missing from its registry
    spec.write_text(spec.read_text().replace("example.azurecr.io/w:v1", "example.azurecr.io/w:v2"))
    code, checks, _ = doctor(rig, spec, env, monkeypatch)
    assert code == 2 and checks["worker image"]["status"] == "problem"
    assert "is not in example.azurecr.io" in checks["worker image"]["detail"]
    spec.write_text(spec.read_text().replace("w:v2", "w:v1"))
    # the credentials cannot pull it
    code, checks, _ = doctor(rig, spec, {**env, "AZURE_REGISTRY_PASSWORD": "wrong"}, monkeypatch)
    assert code == 2 and "refused" in checks["worker image"]["detail"]
    # five dedicated D2s_v3 need 10 cores; the family's quota is 8
    spec.write_text(spec.read_text().replace("dedicated_nodes: 2", "dedicated_nodes: 5"))
    code, checks, _ = doctor(rig, spec, env, monkeypatch)
    assert code == 2 and "need 10 cores" in checks["core quota"]["detail"]
    assert "standardDSv3Family quota is 8" in checks["core quota"]["detail"]
    # a VM size the region does not offer
    spec.write_text(spec.read_text().replace("standard_d2s_v3", "standard_nope_v9"))
    code, checks, _ = doctor(rig, spec, env, monkeypatch)
    assert code == 2 and "not offered" in checks["VM size"]["detail"]


def test_submit_runs_the_checks_first(rig, services, monkeypatch):
    registry, arm, env = services
    spec = costed_spec(rig, extra="  registry: {server: example.azurecr.io}\n")
    spec.write_text(spec.read_text().replace("w:v1", "w:missing"))
    result = in_process(["submit", spec, "--backend", "azure"], env, monkeypatch)
    assert result.exit_code == 2 and "worker image" in result.stderr
    assert "doctor" in result.stderr
    assert not (spec.parent / ".superbatch").exists()
    assert list(rig.client().list_pools()) == []


def test_without_the_management_plane_quotas_are_not_checked(rig, prices, monkeypatch):
    spec = costed_spec(rig)
    code, checks, _ = doctor(
        rig,
        spec,
        {**rig.env, "SUPERBATCH_PRICES_URL": prices.url + "/api/retail/prices"},
        monkeypatch,
    )
    assert code == 0
    assert checks["core quota"]["status"] == "not checked"
    assert "AZURE_SUBSCRIPTION_ID" in checks["core quota"]["detail"]


def test_an_image_the_account_does_not_offer(azurite, tmp_path, monkeypatch):
    from rigs import make_rig

    rig = make_rig(azurite, tmp_path, supported_images=[])
    try:
        spec = costed_spec(rig)
        code, checks, _ = doctor(rig, spec, rig.env, monkeypatch)
        assert code == 2 and "does not offer" in checks["node image"]["detail"]
    finally:
        rig.emulator.stop()


def test_the_active_job_quota(azurite, tmp_path, monkeypatch):
    from relhelpers import job_spec
    from rigs import make_rig

    rig = make_rig(azurite, tmp_path, run_tasks=False)  # a submitted job stays active
    arm = ArmStandIn(
        batch_account("emulator", "westeurope", {"standardDSv3Family": 8}, 20, 4, 1),
        [vm_sku("Standard_D2s_v3", "standardDSv3Family", 2)],
    )
    try:
        env = {
            **rig.env,
            "SUPERBATCH_ARM_ENDPOINT": arm.url,
            "AZURE_SUBSCRIPTION_ID": "sub",
            "AZURE_RESOURCE_GROUP": "rg",
        }
        spec = costed_spec(rig)
        code, checks, _ = doctor(rig, spec, env, monkeypatch)
        assert checks["active jobs"]["status"] == "ok"
        assert "0 active jobs, quota 1" in checks["active jobs"]["detail"]
        other = job_spec(rig.root / "other", "other", 2)
        assert rig.run("submit", other, "--backend", "azure").code == 0
        code, checks, _ = doctor(rig, spec, env, monkeypatch)
        assert code == 2 and checks["active jobs"]["status"] == "problem"
        assert "1 jobs are active, the account's quota is 1" in checks["active jobs"]["detail"]
    finally:
        rig.emulator.stop()
        arm.stop()
