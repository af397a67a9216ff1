"""Errors that end a command, each with the exit code of the contract (README, "Exit codes").

0 success; 1 the job ran but some tasks failed or outputs are missing; 2 bad input (spec,
arguments, credentials, a reducer or result file that cannot take the results); 3 an
infrastructure error after retries (service unreachable, throttled, disk full); 4 a
``--timeout`` passed before the job finished (nothing is wrong: wait again); 5 the job passed
its budget (``azure.budget``) and was stopped; 70 an internal
error (a bug); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_TASKS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRA = 3
EXIT_TIMEOUT = 4
EXIT_BUDGET = 5
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for `cmd | head` cutting cmd short


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
    """The service was unreachable or throttled past the retry budget, or the disk is full."""

    exit_code = EXIT_INFRA


class BudgetExceeded(SuperbatchError):
    """The job's spend passed its budget: it was stopped (and its pool shrunk to zero)."""

    exit_code = EXIT_BUDGET


class TimedOut(SuperbatchError):
    """``--timeout`` passed before the job finished; nothing is wrong."""

    exit_code = EXIT_TIMEOUT
