"""Azure rigs for tests: Azurite (npm) plus the project's Batch emulator, and the env the CLI needs.

Imported by the conftest files of tests/azure and tests/reliability (their fixtures).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clihelp import REPO, superbatch

from batch_emulator import DEV_ACCOUNT, DEV_KEY
from batch_emulator.images import ImageStandIn
from batch_emulator.server import BatchEmulator

# The images the azure tests' specs name (the demo's and the tests' own).
TEST_IMAGES = ("myregistry.azurecr.io/sum-of-powers:v1", "example.azurecr.io/w:v1")
# The project's interpreter stands in for the image's Python (with numpy and joblib, as the
# worker's Dockerfile installs them): declared here, never taken from the caller's PATH.
VENV_BIN = str(Path(sys.executable).parent)


def worker_images(worker_dir: Path) -> dict[str, ImageStandIn]:
    """Every test image as the worker's Dockerfile builds it: the worker at /app, Python on PATH."""
    image = ImageStandIn(
        mounts={"/app": str(Path(worker_dir).resolve())},
        path=[VENV_BIN, "/usr/bin", "/bin"],
        workdir="/app",
    )
    return {name: image for name in TEST_IMAGES}


@dataclass
class AzureRig:
    """A job directory wired to Azurite + an emulator, and the env the CLI needs."""

    emulator: BatchEmulator
    connection_string: str
    root: Path
    env: dict = field(default_factory=dict)

    def run(self, *args, **kwargs):
        return superbatch(*args, env={**self.env, **kwargs.pop("env", {})}, **kwargs)

    def client(self):
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        return BatchClient(self.emulator.endpoint, AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))

    def container(self, name: str = "superbatch"):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(
            self.connection_string
        ).get_container_client(name)


def make_rig(azurite, root: Path, **emulator_options) -> AzureRig:
    (root / "worker").mkdir(parents=True, exist_ok=True)
    emulator_options.setdefault("images", worker_images(root / "worker"))
    emulator_options.setdefault("root", root / "nodes")
    emulator_options.setdefault("delete_delay", 0.3)  # 'deleting' briefly, not for seconds
    emu = BatchEmulator(DEV_ACCOUNT, DEV_KEY, **emulator_options).start()
    env = {
        "AZURE_BATCH_ENDPOINT": emu.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "SUPERBATCH_POLL_SECONDS": "0.2",
        "SUPERBATCH_RETRY_BACKOFF": "0.05",
        # Nothing leaves this machine: the image checks ask the emulator (which answers the
        # registry API for the images it declares), prices go to a closed port (unknown),
        # and the management plane is not named.
        "SUPERBATCH_REGISTRY_MIRROR": emu.endpoint,
        "SUPERBATCH_PRICES_URL": "http://127.0.0.1:9/api/retail/prices",
        "AZURE_SUBSCRIPTION_ID": "",
        "AZURE_RESOURCE_GROUP": "",
    }
    return AzureRig(emu, azurite.connection_string, root, env)


@pytest.fixture
def rig(azurite, tmp_path):
    """Azurite + a fresh emulator whose test images stand in as ``worker/`` at /app."""
    rig = make_rig(azurite, tmp_path)
    try:
        yield rig
    finally:
        rig.emulator.stop()


@pytest.fixture
def demo_rig(rig):
    """The demo job and the seed's worker, copied into the rig's directory."""
    shutil.copytree(REPO / "worker", rig.root / "worker", dirs_exist_ok=True)
    (rig.root / "jobs").mkdir()
    spec = rig.root / "jobs" / "sum-of-powers.yaml"
    shutil.copy(REPO / "jobs" / "sum-of-powers.yaml", spec)
    text = spec.read_text().replace(
        "container: superbatch", f"container: sb{abs(hash(str(rig.root))) % 10**8}"
    )
    spec.write_text(text)
    rig.spec = spec
    return rig
