"""``superbatch emulator``: run the loopback Azure Batch service until SIGINT/SIGTERM."""
from __future__ import annotations

import os
import signal
import threading

import click

from . import DEV_ACCOUNT, DEV_KEY


def _mount(ctx, param, values):
    mounts = {}
    for value in values:
        cpath, sep, hpath = value.partition("=")
        if not sep or not cpath.startswith("/") or not hpath:
            raise click.BadParameter(f"expected CONTAINER_PATH=HOST_PATH, got {value!r}")
        mounts[cpath] = os.path.abspath(hpath)
    return mounts


@click.command("emulator")
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0: a free one).")
@click.option("--account", default=DEV_ACCOUNT, show_default=True, help="Batch account name.")
@click.option("--key", default=lambda: os.environ.get("SUPERBATCH_EMULATOR_KEY", DEV_KEY),
              show_default="$SUPERBATCH_EMULATOR_KEY or the development key",
              help="Base64 account key checked in SharedKey signatures.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Nodes of an autoscale pool, and a cap on tasks running at once.")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Directory for task directories (default: a temporary one, removed on exit).")
@click.option("--mount", "mounts", multiple=True, callback=_mount, metavar="CONTAINER_PATH=HOST_PATH",
              help="Emulated bind mount for container tasks (repeatable).")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction answered 503/429.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of connections dropped.")
@click.option("--preempt-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of runs preempted.")
@click.option("--fault-seed", type=int, default=0, show_default=True, help="Seed of the fault draws.")
@click.option("--no-run", is_flag=True, help="Accept tasks but never run them.")
@click.option("--no-spot", is_flag=True, help="Never allocate low-priority (Spot) nodes.")
def emulator_command(port, account, key, workers, root, mounts, fault_rate, drop_rate, preempt_rate,
                     fault_seed, no_run, no_spot):
    """Serve a loopback Azure Batch endpoint that runs tasks on this machine.

    The first line printed is `endpoint: http://127.0.0.1:PORT`.
    """
    from .server import BatchEmulator

    emu = BatchEmulator(account, key, port=port, workers=workers, root=root, fault_rate=fault_rate,
                        drop_rate=drop_rate, preempt_rate=preempt_rate, fault_seed=fault_seed,
                        run_tasks=not no_run, mounts=mounts, no_spot=no_spot)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    emu.start()
    click.echo(f"endpoint: {emu.endpoint}")
    click.echo(f"account: {account}")
    click.echo(f"root: {emu.root}", nl=True)
    click.get_text_stream("stdout").flush()
    try:
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
