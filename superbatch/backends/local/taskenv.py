"""The environment a job's task runners (and so its workers) get from the local runner."""

from __future__ import annotations

import os
import sys

from superbatch.spec.workerenv import resolve_env

# Thread-pool sizes of the common native libraries (OpenMP, OpenBLAS, MKL, ...). With several
# workers at once, each gets its share of the CPUs, as joblib's loky workers do; otherwise
# every numpy import spawns a thread per CPU and the workers oversubscribe the machine. A
# value the user set wins.
THREAD_LIMIT_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def task_env(job_id: str, worker, parallel: int) -> dict[str, str]:
    """This process's environment, with the job's id, the worker's ``env`` and, with
    several slots, each one's share of the CPUs for the native thread pools."""
    env = dict(os.environ)
    # `python` in a worker command means the interpreter superbatch runs under.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["SUPERBATCH_JOB_ID"] = job_id
    env.update(resolve_env(worker))
    if parallel > 1:
        share = str(max(1, (os.cpu_count() or 1) // parallel))
        for var in THREAD_LIMIT_VARS:
            env.setdefault(var, share)
    return env
