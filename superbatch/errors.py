"""Errors that end a command, each with the exit code of the contract (DESIGN.md)."""
from __future__ import annotations

EXIT_OK = 0
EXIT_TASKS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRA = 3


class SuperbatchError(Exception):
    """An error the CLI reports as one paragraph, without a traceback."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class UserError(SuperbatchError):
    """Bad input (spec, arguments, credentials, state): nothing was created."""

    exit_code = EXIT_BAD_INPUT


class SpecError(UserError):
    """The job spec is invalid; the message names the file, line and field."""


class TasksFailed(SuperbatchError):
    """The job ran but some tasks failed or some outputs are missing."""

    exit_code = EXIT_TASKS_FAILED


class InfraError(SuperbatchError):
    """The service was unreachable or throttled past the retry budget."""

    exit_code = EXIT_INFRA
