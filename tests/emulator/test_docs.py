"""Every example of docs/emulator.md runs as written: the Python snippet, the console line with
the images file, the options table against ``-h``; an images file away from its mounts is
refused. (The rehearsal block between its markers is test_rehearsal.py's.)"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from clients.install import REPO

DOC = (REPO / "docs" / "emulator.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC, re.S | re.M)


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO))


def start(args: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    """The emulator command ``args`` (stderr into ``cwd/stderr.txt``); the process, stopped by
    the caller, and the first line it printed."""
    with open(cwd / "stderr.txt", "w") as err:
        proc = subprocess.Popen(
            args, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True, env=_env()
        )
    return proc, proc.stdout.readline()


def stop(proc: subprocess.Popen) -> str:
    """Stop the emulator with SIGTERM (it exits 0); the rest of what it printed."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    return proc.stdout.read()


def test_the_python_example_runs(tmp_path):
    (code,) = blocks("python")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"


def _images_file(tmp_path: Path) -> Path:
    """The documented images file, in conf/ next to worker/ and .venv/ (as in a clone)."""
    (yaml,) = blocks("yaml")
    (tmp_path / "worker").mkdir()
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "images.yaml").write_text(yaml)
    return tmp_path / "conf" / "images.yaml"


def test_the_console_example_starts_with_the_documented_images_file(tmp_path):
    images = _images_file(tmp_path)
    (console,) = blocks("console")
    first, *expected = console.splitlines()
    command = shlex.split(first.removeprefix("$ ").split("#")[0])
    assert command[:2] == ["superbatch", "emulator"]
    command = [
        "0" if a == "8123" else str(images) if a == "images.yaml" else a for a in command[2:]
    ]
    proc, line = start([sys.executable, "-m", "superbatch", "emulator", *command], tmp_path)
    try:
        assert re.fullmatch(r"endpoint: http://127\.0\.0\.1:\d+\n", line)
    finally:
        out = stop(proc)
    assert "account: emulator" in out and "image: myregistry.azurecr.io/sum-of-powers:v1" in out
    assert [e.split(":")[0] for e in expected] == ["endpoint", "account", "root", "image"]


def test_an_images_file_away_from_its_mounts_is_refused(tmp_path):
    images = _images_file(tmp_path)
    moved = tmp_path / "elsewhere" / "deeper"
    moved.mkdir(parents=True)
    (moved / "images.yaml").write_text(images.read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "superbatch", "emulator", "--images", str(moved / "images.yaml")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "images.yaml" in proc.stderr and "sum-of-powers:v1" in proc.stderr
    assert "/app" in proc.stderr and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_path_directory_is_a_warning(tmp_path):
    images = _images_file(tmp_path)
    (tmp_path / ".venv" / "bin").rmdir()
    proc, line = start(
        [sys.executable, "-m", "superbatch", "emulator", "--port", "0", "--images", str(images)],
        tmp_path,
    )
    try:
        assert line.startswith("endpoint: ")
    finally:
        stop(proc)
    warning = (tmp_path / "stderr.txt").read_text()
    assert "warning:" in warning and str(tmp_path / ".venv" / "bin") in warning


@pytest.mark.parametrize("option", re.findall(r"^\| `(--[a-z-]+)", DOC, re.M))
def test_every_documented_option_exists(option):
    from click.testing import CliRunner

    from batch_emulator.cli import emulator_command

    assert option in CliRunner().invoke(emulator_command, ["-h"]).output


def test_sigterm_as_soon_as_it_listens_always_stops_it(tmp_path):
    # The handler once called Event.set while the main thread waited on the same Event: a
    # signal landing inside that wait deadlocked the emulator (about 1 start in 20 here, so
    # 50 starts catch it 9 times in 10).
    for _ in range(50):
        proc, line = start(
            [sys.executable, "-m", "superbatch", "emulator", "--port", "0"], tmp_path
        )
        assert line.startswith("endpoint: ")
        stop(proc)
