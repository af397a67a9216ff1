"""docs/emulator.md's rehearsal, run line by line with bash from a shell whose PATH is
``/usr/bin:/bin`` (its ``python``, if any, lacks the project's packages): the demo job on the
azure backend against Azurite and the emulator, with the worker's image declared, not inherited."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
from clihelp import REPO
from services import free_port

DOC = REPO / "docs" / "emulator.md"


def rehearsal_lines() -> list[str]:
    text = DOC.read_text()
    block = text.split("<!-- rehearsal:begin -->", 1)[1].split("<!-- rehearsal:end -->", 1)[0]
    return block.strip().removeprefix("```sh").removesuffix("```").strip().splitlines()


def expected_result() -> float:
    """The demo's loop computed here: sum over the seeds of sum(uniform(size=10) ** 3)."""
    total = 0.0
    for seed in (1, 12, 123, 1234):
        np.random.seed(seed)
        total += float(np.sum(np.power(np.random.uniform(size=[10]), 3)))
    return total


def test_the_documented_rehearsal_runs_the_demo_from_a_bare_shell(tmp_path):
    lines = rehearsal_lines()
    assert lines[0] == "make setup"  # done by the test set-up; every other line runs as written
    script = "\n".join(lines[1:])
    script = re.sub(r"^AZURITE_PORT=\d+$", f"AZURITE_PORT={free_port()}", script, flags=re.M)
    script = re.sub(r"^EMULATOR_PORT=\d+$", f"EMULATOR_PORT={free_port()}", script, flags=re.M)
    clone = tmp_path / "clone"  # a clone's layout, without touching the repository
    clone.mkdir()
    for name in ("jobs", "worker"):
        shutil.copytree(REPO / name, clone / name, ignore=shutil.ignore_patterns(".superbatch"))
    for name in (".venv", "node_modules"):
        (clone / name).symlink_to(REPO / name)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert abs(float(last) - expected_result()) < 1e-9, proc.stdout
    assert (
        not shutil.which("python", path="/usr/bin:/bin")
        or subprocess.run(
            ["python", "-c", "import joblib"], env=env, capture_output=True
        ).returncode
        != 0
    )
