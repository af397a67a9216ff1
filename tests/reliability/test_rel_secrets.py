"""5. Secret hygiene: every command, run with recognisable secrets in its environment, prints
and stores none of them (nor SAS signatures, nor the storage account key)."""

from __future__ import annotations

import base64

from relhelpers import failing, job_spec
from services import AZURITE_KEY

from batch_emulator import DEV_KEY

FAKES = {
    "AZURE_REGISTRY_USERNAME": "fake-registry-user-b7d1",
    "AZURE_REGISTRY_PASSWORD": "FAKE-REGISTRY-PASSWORD-9c1e",
    "AZURE_STORAGE_KEY": base64.b64encode(b"FAKE-STORAGE-KEY-4e2a").decode(),
    "AZURE_STORAGE_ACCESS_KEY": base64.b64encode(b"FAKE-STORAGE-ACCESS-KEY-81f0").decode(),
    "AZURE_CLIENT_SECRET": "FAKE-CLIENT-SECRET-5d3b",
    "AZURE_CLIENT_ID": "00000000-fake-client-id-000000000000",
}
FORBIDDEN = [*FAKES.values(), DEV_KEY, AZURITE_KEY, AZURITE_KEY[:24], "sig="]


def leaks(text: str) -> list[str]:
    return [secret for secret in FORBIDDEN if secret in text]


def test_no_command_prints_or_stores_a_secret(rig):
    spec = job_spec(
        rig.root,
        "secrets",
        6,
        worker=failing(rig.root / "fixed"),
        tasks="{points_per_task: 2, max_retries: 0}",
        extra="  inline_inputs: false\n  registry: {server: example.azurecr.io}\n",
    )
    state = rig.root / ".superbatch"
    env = {**rig.env, **FAKES}
    azure = ["--backend", "azure"]
    commands = [
        (["init", rig.root / "scaffold", "--json"], 0),
        (["schema"], 0),
        (["validate", spec, *azure, "--json"], 0),
        (["plan", spec, *azure, "--json"], 0),
        (["submit", spec, *azure, "--json"], 0),
        (["collect", spec, *azure, "--wait", "--json"], 1),
        (["status", spec, *azure, "--json"], 1),
        (["status", spec, *azure], 1),
        (["logs", spec, *azure, "--json"], 0),
        (["logs", spec, "task-00002", *azure], 0),
        (["retry", spec, *azure, "--json"], 0),
        (["collect", spec, *azure, "--wait"], 1),
        (["run", spec, *azure, "--allow-missing", "--json"], 0),
        (["cancel", spec, *azure, "--json"], 0),
        (["status", spec, *azure, "--job-id", "no-such-job"], 2),
        (["submit", spec, *azure], 2),  # a bad key: refused, the error names the variable
        (["delete", spec, *azure, "--yes", "--json"], 0),
    ]
    for args, expected in commands:
        run_env = env
        if args[0] == "submit" and expected == 2:
            run_env = {**env, "AZURE_BATCH_ACCESS_KEY": FAKES["AZURE_STORAGE_KEY"]}
            spec.write_text(spec.read_text().replace("range: [6]", "range: [7]"))
            args = [*args, "--new"]
        result = rig.run(*args, env=run_env)
        assert result.code == expected, (args, result)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert not leaks(result.stdout) and not leaks(result.stderr), (args, result)
        for path in state.rglob("*") if state.is_dir() else []:
            if path.is_file():
                found = leaks(path.read_bytes().decode(errors="replace"))
                assert not found, (args, path, found)
    # the secrets did reach the service where they belong (the registry password)
    pool = rig.client().get_pool("relpool")
    registry = pool.virtual_machine_configuration.container_configuration.container_registries[0]
    assert registry.username == FAKES["AZURE_REGISTRY_USERNAME"]
