"""The ``superbatch`` command line: ``app`` (the group, errors, exit codes), ``options``
(shared options), ``shown`` (how tasks and times are printed) and one module per family of
thin commands: ``planning`` (validate, plan), ``running`` (submit, collect, run), ``watching`` (wait),
``control`` (status, logs, retry, cancel, delete), ``costs`` (doctor and the estimate
lines), ``jobs`` (jobs, prune), ``reporting`` (report) and ``tools`` (init, schema, emulator).
A command's module is imported when the command is looked up (``app.COMMAND_MODULES``)."""

from superbatch.cli.app import cli, main

__all__ = ["cli", "main"]
