"""Install the third-party clients the emulator tests drive, into ``.venv/clients/`` (git-ignored).

The Azure CLI goes into its own virtual environment (``.venv/clients/az-VERSION``), so none of its
many pinned dependencies touch the project's; so does azure-batch 14 (``.venv/clients/
azure-batch-VERSION``), the older generation of the Python SDK. Idempotent: a finished install is reused.
Run by ``make setup-clients`` and, if that was skipped, by the tests' session fixture.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

AZ_VERSION = "2.91.0"
REPO = Path(__file__).resolve().parents[3]
AZ_HOME = REPO / ".venv" / "clients" / f"az-{AZ_VERSION}"  # git-ignored, removed by make clean


def az_binary() -> Path:
    """The ``az`` executable, installing the CLI first if needed."""
    az = AZ_HOME / "bin" / "az"
    marker = AZ_HOME / ".installed"
    if marker.exists() and az.exists():
        return az
    started = time.monotonic()
    base = getattr(sys, "_base_executable", None) or sys.executable
    # --no-compile: byte-compiling the CLI's ~100 packages takes longer than the install itself;
    # az compiles the few modules a command imports on first use.
    subprocess.run([base, "-m", "venv", "--clear", str(AZ_HOME)], check=True)
    subprocess.run(
        [
            str(AZ_HOME / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            f"azure-cli=={AZ_VERSION}",
        ],
        check=True,
    )
    marker.write_text(f"installed in {time.monotonic() - started:.0f} s\n")
    return az


BATCH14_VERSION = "14.2.0"
BATCH14_HOME = REPO / ".venv" / "clients" / f"azure-batch-{BATCH14_VERSION}"


def batch14_python() -> Path:
    """The interpreter of a virtual environment holding azure-batch 14 (the msrest-based
    generation of the Python SDK), installing it first if needed."""
    python = BATCH14_HOME / "bin" / "python"
    marker = BATCH14_HOME / ".installed"
    if marker.exists() and python.exists():
        return python
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(BATCH14_HOME)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            f"azure-batch=={BATCH14_VERSION}",
        ],
        check=True,
    )
    marker.write_text("installed\n")
    return python


if __name__ == "__main__":
    print(az_binary())
    print(batch14_python())
