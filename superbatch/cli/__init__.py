"""The ``superbatch`` command line: ``app`` (the group, errors, exit codes), ``options``
(shared options) and ``commands`` (one thin function per command)."""
from superbatch.cli import commands  # noqa: F401 - registers the commands on the group
from superbatch.cli.app import cli, main

__all__ = ["cli", "main"]
