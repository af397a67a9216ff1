"""Real local services for tests: Azurite (Blob Storage, from npm) on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AZURITE_ACCOUNT = "devstoreaccount1"
# The public, documented Azurite development key (not a secret).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def azurite_binary() -> str:
    override = os.environ.get("SUPERBATCH_TEST_AZURITE")  # another azurite-blob, e.g. newer
    if override:
        return override
    local = REPO / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise RuntimeError(
        "Azurite is not installed: run `npm install` in the repository (or `make setup`)."
    )


@dataclass
class Azurite:
    port: int
    process: subprocess.Popen
    location: str
    scheme: str = "http"

    @property
    def blob_endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.location, ignore_errors=True)


def start_azurite(*extra_args: str) -> Azurite:
    """Start Azurite's blob service on a free loopback port and wait until it listens.

    ``extra_args`` go to azurite-blob as they are; with ``--cert`` it serves HTTPS (e.g.
    ``start_azurite("--oauth", "basic", "--cert", cert, "--key", key)`` for Entra ID tokens).
    """
    location = tempfile.mkdtemp(prefix="azurite-")
    port = free_port()
    cmd = [
        azurite_binary(),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        location,
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        *extra_args,
    ]
    scheme = "https" if "--cert" in extra_args else "http"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Azurite exited: {proc.stderr.read().decode(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Azurite(port=port, process=proc, location=location, scheme=scheme)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("Azurite did not start within 30 s")
