"""init, schema and emulator: tools around jobs."""

from __future__ import annotations

import json

import click

from superbatch.cli.app import Output, cli
from superbatch.cli.options import (
    json_option,
)

# -- tools ---------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Job name (default: the directory's name).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@json_option
def init(directory, name, force, as_json) -> None:
    """Scaffold a job spec, a worker and a Dockerfile in DIRECTORY."""
    from superbatch.spec.scaffold import scaffold

    out = Output(as_json)
    written = scaffold(directory, name, force)
    for path in written:
        out.line(f"created {path}")
    out.line(f"next: superbatch run {written[0]}")
    out.json({"ok": True, "created": [str(p) for p in written]})


@cli.command()
def schema() -> None:
    """Print the job spec's JSON Schema (for editors and CI checks)."""
    from superbatch.spec.load import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command(
    "emulator",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Serve a loopback Azure Batch emulator (see docs/emulator.md; --help for options)."""
    from batch_emulator.cli import emulator_command

    args = ["--help" if a == "-h" else a for a in ctx.args]
    emulator_command.main(args=args, prog_name="superbatch emulator", standalone_mode=False)
