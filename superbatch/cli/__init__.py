"""The ``superbatch`` command line: ``app`` (the group, errors, exit codes), ``options``
(shared options) and ``commands`` (one thin function per command)."""

from superbatch.cli import commands, costs, history, watching  # noqa: F401 - register them
from superbatch.cli.app import cli, main

__all__ = ["cli", "main"]
