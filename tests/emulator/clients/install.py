"""Install the third-party clients the emulator tests drive, into ``.venv/clients/`` (git-ignored).

The Azure CLI goes into its own virtual environment (``.venv/clients/az-VERSION``), so none of its
many pinned dependencies touch the project's. Idempotent: a finished install is reused.
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


if __name__ == "__main__":
    print(az_binary())
