"""The ``superbatch`` command line: ``app`` (the group, errors, exit codes), ``options``
(shared options), ``shown`` (how tasks and times are printed) and one module per family of
thin commands: ``planning`` (validate, plan), ``running`` (submit, collect, run), ``watching`` (wait),
``control`` (status, logs, retry, cancel, delete), ``costs`` (doctor and the estimate
lines), ``jobs`` (jobs, prune), ``reporting`` (report) and ``tools`` (init, schema, emulator)."""

from superbatch.cli import (  # noqa: F401 - importing a module registers its commands
    control,
    costs,
    jobs,
    planning,
    reporting,
    running,
    tools,
    watching,
)
from superbatch.cli.app import cli, main

__all__ = ["cli", "main"]
