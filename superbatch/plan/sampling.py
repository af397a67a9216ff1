"""``plan --sample N``: time a few points of the grid on this machine, to estimate a job.

The points are spread over the grid (the first, the last, and evenly between), and each runs
as the local backend runs a point (its own directory with the config and its inputs, the
worker's command with ``{worker_dir}`` the local directory, ``python`` the interpreter
superbatch runs under). This machine is not the pool's VM: the time is a hint, said so.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from superbatch.contract.codec import get_codec
from superbatch.contract.names import file_names
from superbatch.errors import UserError
from superbatch.plan.chunks import JobPlan
from superbatch.spec.load import Spec
from superbatch.spec.workerenv import resolve_env

TIMEOUT_S = 3600


def spread(count: int, wanted: int) -> list[int]:
    """``wanted`` point indices spread evenly over ``count`` points (ends included)."""
    wanted = max(1, min(wanted, count))
    if wanted == 1:
        return [0]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def sample(spec: Spec, plan: JobPlan, wanted: int) -> tuple[float, str]:
    """(mean seconds per point, where that figure comes from)."""
    if spec.model.worker.function:
        raise UserError(
            f"{spec.where('worker', 'function')}: plan --sample times the worker's command; "
            f"a worker.function is not sampled (yet): give tasks.estimated_time instead."
        )
    names = file_names(spec.model.worker.format)
    codec = get_codec(spec.model.worker.format)
    command = (spec.model.worker.command or "").replace(
        "{worker_dir}", shlex.quote(str(spec.worker_directory))
    )
    env = dict(os.environ, **resolve_env(spec.model.worker))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    times = []
    indices = spread(plan.point_count, wanted)
    with tempfile.TemporaryDirectory(prefix="superbatch-sample-") as tmp:
        for index in indices:
            point = next(plan.grid.points(index, index + 1))
            wd = Path(tmp) / f"p{index}"
            wd.mkdir()
            (wd / names.config).write_bytes(codec.dumps(spec.model.globals))
            (wd / names.inputs).write_bytes(codec.dumps(point))
            started = time.perf_counter()
            done = subprocess.run(
                command,
                shell=True,
                cwd=wd,
                env={**env, "SUPERBATCH_POINT": str(index)},
                capture_output=True,
                timeout=TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
            elapsed = time.perf_counter() - started
            if done.returncode != 0 or not (wd / names.outputs).is_file():
                tail = done.stderr.decode(errors="replace").strip()[-400:]
                raise UserError(
                    f"plan --sample: point {index} did not run here (exit code "
                    f"{done.returncode}{'; ' + tail if tail else ''}); fix the "
                    f"worker, or give tasks.estimated_time instead."
                )
            times.append(elapsed)
    mean = statistics.fmean(times)
    return mean, (
        f"measured here on {len(times)} point{'s' if len(times) != 1 else ''} "
        f"(this machine is not the pool's VM)"
    )
