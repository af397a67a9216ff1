"""docs/recipes.md: the Makefile rule and the shell completion lines work as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from clihelp import REPO

RECIPES = (REPO / "docs" / "recipes.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", RECIPES, re.S)


def env_with_superbatch() -> dict:
    return dict(
        os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    )


def test_the_makefile_rule_runs_again_only_when_the_worker_changes(tmp_path):
    shutil.copytree(REPO / "worker", tmp_path / "worker")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "sweep.yaml").write_text(
        (REPO / "jobs" / "sum-of-powers.yaml")
        .read_text()
        .replace("name: sum-of-powers", "name: sweep")
    )
    (tmp_path / "Makefile").write_text(blocks("make")[0])
    env = env_with_superbatch()

    def make():
        return subprocess.run(
            ["make", "results/sweep.json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    first = make()
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "results" / "sweep.json").read_text()) == 9.532962532158818
    assert "is up to date" in make().stdout
    with (tmp_path / "worker" / "worker.py").open("a") as handle:
        handle.write("out = out * 2\njoblib.dump(out, TASK_OUTPUTS_FILE)\n")
    again = make()
    assert again.returncode == 0 and "reusing" not in again.stderr
    assert json.loads((tmp_path / "results" / "sweep.json").read_text()) == 2 * 9.532962532158818


def test_shell_completion_lines_print_a_script():
    for block in blocks("sh")[:3]:
        line = next(line for line in block.splitlines() if "_SUPERBATCH_COMPLETE" in line)
        variable = re.search(r"_SUPERBATCH_COMPLETE=(\w+)", line).group(1)
        done = subprocess.run(
            ["superbatch"],
            env=dict(env_with_superbatch(), _SUPERBATCH_COMPLETE=variable),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and "superbatch" in done.stdout and len(done.stdout) > 200, (
            variable,
            done.stderr,
        )


def test_a_pipe_closed_early_ends_quietly_as_unix_tools_do(tmp_path):
    """Regression: `superbatch plan job.yaml | head` printed "error: Broken pipe." (exit 2)."""
    spec = tmp_path / "many.yaml"
    spec.write_text(
        "name: many\nworker: {command: 'true', directory: .}\n"
        "parameters:\n  seed: {range: [0, 100000]}\n"
    )
    for extra in ([], ["--json"]):
        proc = subprocess.run(
            f"{shlex.quote(sys.executable)} -m superbatch plan {spec} {' '.join(extra)} | head -0",
            shell=True,
            capture_output=True,
            text=True,
            executable="/bin/bash",
        )
        assert proc.stderr == ""
        assert proc.returncode == 0  # head's; superbatch's own is 141, as `seq 1e9 | head` gives
    proc = subprocess.run(
        f"{shlex.quote(sys.executable)} -m superbatch plan {spec} | head -0; "
        'echo "${PIPESTATUS[0]}" >&2',
        shell=True,
        capture_output=True,
        text=True,
        executable="/bin/bash",
    )
    assert proc.stderr.strip() == "141"
