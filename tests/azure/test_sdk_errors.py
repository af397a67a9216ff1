"""An Azure SDK exception the backend does not handle leaves it as superbatch's InfraError:
the CLI says what it always said (exit 3, "the Azure service failed: ..."), without knowing
the SDK."""

from __future__ import annotations

import json

import pytest
from relhelpers import job_spec
from standins import StandIn

from superbatch.backends.azure import AzureBackend
from superbatch.errors import EXIT_INFRA, InfraError
from superbatch.spec.load import load_spec

# What the SDK raises when a 200 answer is not JSON (azure.core.exceptions.DecodeError).
SAID = (
    "the Azure service failed: DecodeError: JSON is invalid: Expecting value: line 1 column 1 "
    "(char 0). Nothing is lost: run the same command again."
)


class NotBatch(StandIn):
    """An endpoint that is not Azure Batch (a proxy's sign-in page, say): 200 and HTML."""

    def answer(self, method, path, query, headers):
        return 200, {"Content-Type": "application/json"}, b"<html>sign in</html>"


@pytest.fixture
def not_batch(rig):
    """The rig's environment with AZURE_BATCH_ENDPOINT pointing at something else."""
    rig.env["AZURE_BATCH_ENDPOINT"] = NotBatch().url
    return rig


def test_an_sdk_error_leaves_the_backend_as_an_infra_error(not_batch, monkeypatch):
    for name, value in not_batch.env.items():
        monkeypatch.setenv(name, value)
    spec = load_spec(job_spec(not_batch.root, "sdkerr", 2))
    with pytest.raises(InfraError) as raised:
        AzureBackend.connect(spec, None, None)
    assert raised.value.message == SAID
    assert raised.value.exit_code == EXIT_INFRA


def test_the_cli_reports_it_as_before(not_batch):
    spec = job_spec(not_batch.root, "sdkerr", 2)
    result = not_batch.run("submit", spec, "--backend", "azure", "--json")
    assert result.code == EXIT_INFRA
    assert result.stderr.startswith(f"error: {SAID}")
    assert "Traceback" not in result.stderr
    answer = json.loads(result.stdout)
    assert (answer["ok"], answer["exit_code"]) == (False, EXIT_INFRA)
    assert answer["error"].startswith(SAID)
    assert not_batch.env["AZURE_BATCH_ACCESS_KEY"] not in result.stdout + result.stderr
