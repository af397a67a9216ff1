"""The ``superbatch`` group: one paragraph and the contract's exit code for every failure.

Under ``--json`` a failure is also one JSON object on stdout (``ok: false``, ``error``,
``exit_code``). Whether ``--json`` was given is read from the click context (each command's
:class:`Output` records it), so in-process tests see exactly what a shell sees.
"""

from __future__ import annotations

import errno
import gc
import importlib
import json
import os
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import click

from superbatch import __version__
from superbatch.errors import (
    EXIT_BAD_INPUT,
    EXIT_INFRA,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_TERMINATED,
    SuperbatchError,
)

JSON_KEY = "superbatch.json"
RERUN_KEY = "superbatch.rerun"
ARGS_KEY = "superbatch.args"
SPEC_KEY = "superbatch.spec.models"
FLAGS_KEY = "superbatch.flags"
JOB_COMMANDS = (
    "validate",
    "plan",
    "submit",
    "status",
    "collect",
    "run",
    "logs",
    "retry",
    "cancel",
    "delete",
    "wait",
    "report",
)
INFRA_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM}


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that cleanup runs (workers are stopped)."""


class Output:
    """Human lines to stdout, or with ``--json`` exactly one JSON object."""

    def __init__(self, as_json: bool, quiet: bool = False):
        self.as_json = as_json
        self.quiet = quiet
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta[JSON_KEY] = as_json

    def line(self, text: str = "") -> None:
        if not self.as_json and not self.quiet:
            click.echo(hinted(text))

    def result(self, text: str) -> None:
        """The last line: printed unless ``--json`` (which carries it) or ``--quiet``."""
        self.line(text)

    def note(self, text: str) -> None:
        """Side information: stderr, so stdout stays parseable."""
        click.echo(hinted(text), err=True)

    def json(self, data: dict) -> None:
        if self.as_json:
            from superbatch.contract.codec import to_jsonable

            try:
                text = json.dumps(to_jsonable(data))
            except (TypeError, ValueError) as exc:
                from superbatch.errors import UserError

                raise UserError(
                    f"the result cannot be written as JSON ({exc}); drop --json, "
                    f"or write it to a .pkl file with --output."
                ) from None
            click.echo(text)


def set_hint_context(spec: str, flags: list[str]) -> None:
    """The spec and the flags that every suggested command should repeat."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[SPEC_KEY], ctx.meta[FLAGS_KEY] = spec, flags


def hinted(text: str) -> str:
    """``text`` with its suggested commands completed (for notes printed on success)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return text
    return complete_hints(text, ctx.meta.get(SPEC_KEY), ctx.meta.get(FLAGS_KEY, []))


def set_rerun(command: str) -> None:
    """The command line that resumes what this command does (used in hints)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[RERUN_KEY] = command


def _wants_json(ctx: click.Context) -> bool:
    """--json as the command parsed it; for a usage error before that, as it was given."""
    if JSON_KEY in ctx.meta:
        return bool(ctx.meta[JSON_KEY])
    return "--json" in ctx.meta.get(ARGS_KEY, ())


HINT = re.compile(r"`superbatch (" + "|".join(JOB_COMMANDS) + r")\b([^`]*)`")


def complete_hints(message: str, spec: str | None, flags: list[str]) -> str:
    """Make every ``superbatch CMD`` a message suggests name the spec and repeat the flags
    that matter (--backend, --state-dir, --job-id), so that it can be run as it is."""
    if not spec:
        return message

    def complete(match: re.Match) -> str:
        command, rest = match.group(1), match.group(2)
        words = shlex.split(rest) if rest.strip() else []
        if not any(w.endswith((".yaml", ".yml")) or w == spec for w in words):
            words.insert(0, spec)
        for flag, value in zip(flags[::2], flags[1::2]):
            if flag not in words:
                words += [flag, value]
        return "`" + shlex.join(["superbatch", command, *words]) + "`"

    return HINT.sub(complete, message)


def _fail(ctx: click.Context, message: str, code: int, details: dict | None = None) -> None:
    from superbatch.util.redact import redact

    message = redact(complete_hints(message, ctx.meta.get(SPEC_KEY), ctx.meta.get(FLAGS_KEY, [])))
    if _wants_json(ctx):
        from superbatch.contract.codec import to_jsonable

        click.echo(
            json.dumps(
                to_jsonable({"ok": False, "error": message, "exit_code": code, **(details or {})})
            )
        )
    click.echo(f"error: {message}", err=True)
    ctx.exit(code)


def _quiet_exit_on_closed_stdout() -> None:
    """``superbatch plan ... | head``: the reader went away, so stop quietly, as Unix tools
    do (Python ignores SIGPIPE, so the write raised instead of ending the process). Standard
    output is pointed at /dev/null so that the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(EXIT_PIPE_CLOSED)


def _stdout_closed(exc: OSError) -> bool:
    """Whether ``exc`` is standard output's reader gone (not a socket's peer, say)."""
    if exc.errno != errno.EPIPE:
        return False
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # not a real file (an in-process runner)
        return False


def _os_error(exc: OSError) -> tuple[str, int]:
    from superbatch.jobs.state import STATE_DIRNAME
    from superbatch.util.files import describe_os_error

    code = EXIT_INFRA if exc.errno in INFRA_ERRNOS else EXIT_BAD_INPUT
    message = describe_os_error(exc) + "."
    denied = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    if denied and STATE_DIRNAME in Path(str(exc.filename or "")).parts:
        message += (
            f" superbatch keeps each job's state in {STATE_DIRNAME}/ beside the spec; where "
            f"that is not writable, give it a directory that is with --state-dir DIR (or "
            f"SUPERBATCH_STATE_DIR), and pass the same to every later command of the job."
        )
    return message, code


def _rerun(ctx: click.Context) -> str:
    command = ctx.meta.get(RERUN_KEY)
    return f" To go on: `{command}`." if command else ""


# Each command's module (superbatch.cli.<module>), imported when the command is looked up:
# a command loads its own family of commands, not all of them (``--help`` lists them all).
COMMAND_MODULES = {
    "validate": "planning",
    "plan": "planning",
    "submit": "running",
    "collect": "running",
    "run": "running",
    "wait": "watching",
    "status": "control",
    "logs": "control",
    "retry": "control",
    "cancel": "control",
    "delete": "control",
    "doctor": "costs",
    "jobs": "jobs",
    "prune": "jobs",
    "report": "reporting",
    "init": "tools",
    "schema": "tools",
    "emulator": "tools",
}


class SuperbatchGroup(click.Group):
    """Turns every failure into one paragraph on stderr and the contract's exit code."""

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"superbatch.cli.{module}")  # registers its commands
        return super().get_command(ctx, cmd_name)  # type: ignore[arg-type]

    def list_commands(self, ctx: click.Context | None) -> list[str]:
        for module in dict.fromkeys(COMMAND_MODULES.values()):
            importlib.import_module(f"superbatch.cli.{module}")
        return super().list_commands(ctx)  # type: ignore[arg-type]

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke(ctx)
        except MemoryError:
            pass  # said below, once the exception's frames (what filled the memory) are gone
        _fail(
            ctx,
            "out of memory: this machine (or `ulimit -v`) allows too little for this "
            "command's input; nothing more was done. A long list of points belongs in a "
            "`points_file` (docs/spec.md)." + _rerun(ctx),
            EXIT_INFRA,
        )

    def _invoke(self, ctx: click.Context) -> Any:
        # The command's own arguments, before click hands them on (for usage errors).
        ctx.meta[ARGS_KEY] = [*(getattr(ctx, "_protected_args", None) or ()), *ctx.args]
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except click.ClickException as exc:
            _fail(ctx, exc.format_message(), exc.exit_code if exc.exit_code else EXIT_BAD_INPUT)
        except SuperbatchError as exc:
            hint = _rerun(ctx) if exc.exit_code == EXIT_INFRA else ""
            _fail(ctx, exc.message + hint, exc.exit_code, exc.details)
        except OSError as exc:
            if _stdout_closed(exc):
                _quiet_exit_on_closed_stdout()
            message, code = _os_error(exc)
            _fail(ctx, message + (_rerun(ctx) if code == EXIT_INFRA else ""), code)
        except RecursionError:
            _fail(ctx, "the input is nested too deeply to process.", EXIT_BAD_INPUT)
        except MemoryError:
            raise  # handled by invoke, where this frame's references are gone
        except KeyboardInterrupt:
            _fail(
                ctx, "interrupted: the job's state is consistent." + _rerun(ctx), EXIT_INTERRUPTED
            )
        except Terminated:
            _fail(ctx, "terminated: the job's state is consistent." + _rerun(ctx), EXIT_TERMINATED)
        except Exception as exc:  # noqa: BLE001 - the last word on anything unexpected
            if os.environ.get("SUPERBATCH_DEBUG"):
                import traceback

                traceback.print_exc()
            _fail(
                ctx,
                f"internal error ({type(exc).__name__}: {exc}); this is a bug in "
                f"superbatch. Set SUPERBATCH_DEBUG=1 for the traceback.",
                EXIT_INTERNAL,
            )


@click.group(cls=SuperbatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="superbatch")
def cli() -> None:
    """Turn a for-loop into an Azure Batch job (or a local one).

    Split the loop into a worker and a YAML job spec, then `superbatch run job.yaml`.

    Exit codes: 0 success; 1 tasks failed or outputs are missing; 2 bad input; 3
    infrastructure error after retries; 4 --timeout passed (nothing wrong); 5 stopped by its
    budget; 130 interrupted.
    Defaults without flags: SUPERBATCH_BACKEND and SUPERBATCH_STATE_DIR.
    """


def _on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Terminated()


def main() -> None:
    """Console entry point."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli.main(prog_name="superbatch")
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_exit_on_closed_stdout()
    except SystemExit as exc:
        code = (
            exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_BAD_INPUT)
        )
        # The command is done: the interpreter's last garbage collection would walk every
        # object made (pydantic's schemas, NumPy's) to free memory the exit frees anyway, a
        # tenth of a short command's time. Frozen objects are left to the exit; atexit hooks
        # run and files are flushed as before (Python never promised to finalize objects
        # still in reference cycles at exit).
        gc.freeze()
        sys.exit(code)
