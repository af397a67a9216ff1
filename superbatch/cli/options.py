"""Options shared by the commands, and the glue from options to a :class:`Context`."""

from __future__ import annotations

import shlex

import click

from superbatch.cli.app import hinted, set_hint_context, set_rerun


class BackendName(click.Choice):
    """A registered backend's name, read from the registry when an option is parsed (or its
    help shown), not when the command is defined: a backend registered later (the tests'
    fake) is a choice too."""

    def __init__(self) -> None:
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self):
        from superbatch.backends.registry import names

        return names()

    @choices.setter
    def choices(self, value) -> None:
        pass  # click.Choice's __init__ sets it; the registry is the answer


def json_option(f):
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON object on stdout (errors too)."
    )(f)


def backend_option(f):
    return click.option(
        "--backend",
        type=BackendName(),
        default=None,
        envvar="SUPERBATCH_BACKEND",
        show_envvar=True,
        help="Where the tasks run (default: the spec's backend).",
    )(f)


def sample_option(f):
    return click.option(
        "--sample",
        type=click.IntRange(min=1, max=1000),
        default=None,
        metavar="N",
        help="Time N points (spread over the grid) here for the cost estimate (this "
        "machine is not the VM).",
    )(f)


def state_dir_option(f):
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False),
        default=None,
        envvar="SUPERBATCH_STATE_DIR",
        show_envvar=True,
        help="Where job state lives (default: .superbatch/ beside the spec).",
    )(f)


def _job_id(ctx, param, value):
    if value is not None:
        from superbatch.jobs.state import JOB_ID_PATTERN

        if not JOB_ID_PATTERN.match(value):
            raise click.BadParameter(
                "not a job id (1-64 letters, digits, '-' or '_'; submit prints the id)", ctx, param
            )
    return value


def job_id_option(f):
    return click.option(
        "--job-id",
        default=None,
        callback=_job_id,
        help="The job (default: the latest submission of the spec).",
    )(f)


def parallel_option(f):
    return click.option(
        "--parallel",
        type=click.IntRange(min=1, max=4096),
        default=None,
        help="Local backend: tasks at once (default: CPU count).",
    )(f)


def new_option(f):
    return click.option(
        "--new", is_flag=True, help="Start a fresh job instead of resuming or reusing the latest."
    )(f)


def _output_path(ctx, param, value):
    if value is None:
        return None
    from pathlib import Path

    from superbatch.spec.models import OUTPUT_SUFFIXES

    if Path(value).suffix.lower() not in OUTPUT_SUFFIXES:
        raise click.BadParameter(
            f"{value}: the result's format comes from its extension, one "
            f"of {', '.join(OUTPUT_SUFFIXES)}",
            ctx,
            param,
        )
    return value


def timeout_option(f):
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        default=None,
        help="Seconds to wait at most; then exit 4 (nothing is wrong).",
    )(f)


def collect_options(f):
    """--timeout, --allow-missing, --reduce, --output and --quiet, shared by collect and run."""
    f = click.option(
        "--reduce",
        "reduce_with",
        metavar="REDUCER",
        default=None,
        help="Reduce with this instead of collect.reduce (sum, mean, list, table, "
        "module:function, ...); the job is not run again, and the result is written only "
        "where --output says.",
    )(f)
    f = click.option(
        "--quiet",
        "-q",
        is_flag=True,
        help="Do not print the result (it is in --output or collect.output).",
    )(f)
    f = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False),
        default=None,
        callback=_output_path,
        help="Write the result here (overrides collect.output; the format "
        "comes from the extension).",
    )(f)
    f = click.option("--allow-missing", is_flag=True, help="Reduce the outputs that exist.")(f)
    return timeout_option(f)


SPEC = click.argument("spec_path", metavar="JOB.yaml", type=click.Path(dir_okay=True))


def load_context(
    spec_path: str,
    backend: str | None,
    state_dir: str | None,
    parallel: int | None = None,
    job_id: str | None = None,
):
    """The spec, checked for its backend, and where its state lives.

    Every command suggested from here on names this spec and repeats --backend, --state-dir
    and --job-id when they were given.
    """
    from superbatch.jobs.context import make_context
    from superbatch.spec.load import load_spec

    flags = []
    for flag, value in (("--backend", backend), ("--state-dir", state_dir), ("--job-id", job_id)):
        if value:
            flags += [flag, value]
    set_hint_context(spec_path, flags)
    return make_context(load_spec(spec_path), backend, state_dir, parallel)


def remember_rerun(command: str, job_id: str | None = None, extra: tuple[str, ...] = ()) -> None:
    """The command that goes on with what this one does, for interruptions and failures."""
    words = ["superbatch", command, *extra] + (["--job-id", job_id] if job_id else [])
    set_rerun(hinted("`" + shlex.join(words) + "`").strip("`"))
