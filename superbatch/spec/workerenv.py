"""``worker.env``: the worker's environment variables, literal or taken from the environment.

A ``{from_env: NAME}`` value is read where superbatch runs, at the moment it is needed
(submitting, or starting a local runner), and goes only where the worker gets it: the local
worker's environment, or the Azure task's definition. It is never written to the job's state
or printed (the record holds the name); values are also added to the redaction of messages.
They are not part of the job's identity: a rotated token does not make a new job.
"""

from __future__ import annotations

import os

from superbatch.errors import UserError
from superbatch.spec.models import FromEnv, WorkerSpec
from superbatch.util.redact import add_secret


def resolve_env(worker: WorkerSpec, where: str = "worker.env") -> dict[str, str]:
    """The worker's variables as strings; UserError naming what the environment lacks."""
    out: dict[str, str] = {}
    lacking = []
    for name, value in worker.env.items():
        if isinstance(value, FromEnv):
            found = os.environ.get(value.from_env)
            if found is None:
                lacking.append(f"{name} (from {value.from_env})")
                continue
            add_secret(found)
            out[name] = found
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    if lacking:
        raise UserError(
            f"{where}: {', '.join(lacking)}: the variable is not set in this "
            f"environment; export it and run the command again."
        )
    return out
