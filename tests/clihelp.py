"""Run the real `superbatch` command line in a subprocess, as users and CI do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


def sigint_default() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C: a shell's background job (``cmd &``)
    starts with SIGINT ignored, and Python keeps an inherited SIG_IGN."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def superbatch(*args, cwd=None, env=None, timeout=120) -> Result:
    full_env = dict(os.environ)
    full_env.pop("SUPERBATCH_STATE_DIR", None)
    full_env.pop("SUPERBATCH_BACKEND", None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "superbatch", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def invoke(*args, env=None) -> Result:
    """The command line in this process (click's CliRunner): fast, and what --json, exit
    codes and messages are is decided exactly as in a shell."""
    from click.testing import CliRunner

    from superbatch.cli import cli

    full_env = {"SUPERBATCH_STATE_DIR": None, "SUPERBATCH_BACKEND": None, **(env or {})}
    result = CliRunner().invoke(cli, [str(a) for a in args], env=full_env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def seed_loop(seeds=(1, 12, 123, 1234), power=3, size=(10,)):
    """The seed document's loop, computed directly."""
    import numpy as np

    out = np.zeros((len(seeds),))
    for i, seed in enumerate(seeds):
        np.random.seed(seed)
        tmp = np.random.uniform(size=size)
        out[i] = sum(np.power(tmp, power))
    return sum(out)


def write_spec(directory: Path, text: str, name: str = "job.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path
