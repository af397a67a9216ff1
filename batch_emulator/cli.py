"""``superbatch emulator``: run the loopback Azure Batch service until SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import time

import click

from . import DEV_ACCOUNT, DEV_KEY
from .deletion import DEFAULT_DELETE_DELAY
from .images import DEFAULT_NODE_PATH

STOP_POLL_S = 0.05  # how soon the emulator notices SIGINT/SIGTERM


def _dirs(path: str) -> list[str]:
    return [os.path.abspath(p) for p in path.split(os.pathsep) if p]


def _delay(ctx, param, value):
    from .latency import parse_delay

    try:
        return parse_delay(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _image(ctx, param, values):
    """``NAME=HOSTDIR[:MOUNTPOINT]``: the image's files are HOSTDIR, at MOUNTPOINT (default /app)."""
    images = {}
    for value in values:
        name, sep, rest = value.rpartition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"expected NAME=HOSTDIR[:MOUNTPOINT], got {value!r}")
        hostdir, _, mount = rest.partition(":")
        if not os.path.isdir(hostdir):
            raise click.BadParameter(f"{hostdir!r} is not a directory")
        images[name] = (os.path.abspath(hostdir), mount or "/app")
    return images


def _check_image_dirs(images_file: str, images: dict) -> None:
    """Refuse an images file whose mounts are missing (every task of the image would fail with
    127, "not found"), and warn of missing PATH directories (a PATH may name optional ones)."""
    from .images import missing_paths

    for name, image in images.items():
        mounts, path = missing_paths(image)
        if mounts:
            raise click.BadParameter(
                f"{images_file}: image {name!r}: the host directory of mount "
                f"{', '.join(mounts)} does not exist. Relative host paths are taken from the "
                "file's own directory; move the file or fix the paths.",
                param_hint="--images",
            )
        if path:
            click.echo(
                f"warning: {images_file}: image {name!r}: PATH directories that do not exist: "
                f"{', '.join(path)}",
                err=True,
            )


@click.command("emulator", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0: a free one)."
)
@click.option("--account", default=DEV_ACCOUNT, show_default=True, help="Batch account name.")
@click.option(
    "--key",
    default=lambda: os.environ.get("SUPERBATCH_EMULATOR_KEY", DEV_KEY),
    show_default="$SUPERBATCH_EMULATOR_KEY or the development key",
    help="Base64 account key checked in SharedKey signatures.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Nodes of an autoscale pool, and a cap on tasks running at once.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory for task directories (default: a temporary one, removed on exit).",
)
@click.option(
    "--image",
    "image_dirs",
    multiple=True,
    callback=_image,
    metavar="NAME=HOSTDIR[:MOUNTPOINT]",
    help="Stand in for container image NAME: its files are HOSTDIR, seen at MOUNTPOINT "
    "(default /app); its PATH is --image-path (repeatable).",
)
@click.option(
    "--image-path",
    default=":".join(DEFAULT_NODE_PATH),
    show_default=True,
    help="PATH of the images given with --image (e.g. a venv's bin first).",
)
@click.option(
    "--images",
    "images_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="YAML/JSON file: {IMAGE_NAME: {mounts: {CPATH: HOSTDIR}, path: [...], env: {...}, "
    "workdir: CPATH}}; relative host paths are relative to the file.",
)
@click.option(
    "--node-path",
    default=":".join(DEFAULT_NODE_PATH),
    show_default=True,
    help="PATH of tasks that run outside containers (pools without containerConfiguration).",
)
@click.option(
    "--fault-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction answered 503/429."
)
@click.option(
    "--drop-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of connections dropped."
)
@click.option(
    "--preempt-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of runs preempted."
)
@click.option(
    "--fault-seed", type=int, default=0, show_default=True, help="Seed of the fault draws."
)
@click.option(
    "--latency",
    default="0",
    callback=_delay,
    metavar="DELAY",
    help="Delay every answer by DELAY (e.g. 50ms), as a round trip to the cloud does.",
)
@click.option(
    "--latency-jitter",
    default="0",
    callback=_delay,
    metavar="DELAY",
    help="Vary each delay uniformly by up to ± DELAY (e.g. 10ms); drawn from --fault-seed.",
)
@click.option(
    "--task-counts-lag",
    default="0",
    callback=_delay,
    metavar="DELAY",
    help="Answer a job's task counts as they were DELAY ago (e.g. 2s), as the service's "
    "counts 'may not always be up to date'.",
)
@click.option(
    "--delete-delay",
    default=f"{DEFAULT_DELETE_DELAY:g}s",
    show_default=True,
    callback=_delay,
    metavar="DELAY",
    help="How long a deleted pool or job stays 'deleting' (409 PoolBeingDeleted/"
    "JobBeingDeleted meanwhile) before it is gone.",
)
@click.option("--no-run", is_flag=True, help="Accept tasks but never run them.")
@click.option("--no-spot", is_flag=True, help="Never allocate low-priority (Spot) nodes.")
def emulator_command(
    port,
    account,
    key,
    workers,
    root,
    image_dirs,
    image_path,
    images_file,
    node_path,
    fault_rate,
    drop_rate,
    preempt_rate,
    fault_seed,
    latency,
    latency_jitter,
    task_counts_lag,
    delete_delay,
    no_run,
    no_spot,
):
    """Serve a loopback Azure Batch endpoint that runs tasks on this machine.

    The first line printed is `endpoint: http://127.0.0.1:PORT`. Container images stand in by
    --image/--images only; nothing is taken from this shell's PATH (see docs/emulator.md).
    """
    from .images import ImageStandIn, load_file
    from .server import BatchEmulator

    images = {}
    if images_file:
        try:
            images.update(load_file(images_file))
        except (ValueError, OSError) as exc:
            raise click.BadParameter(str(exc), param_hint="--images") from None
        _check_image_dirs(images_file, images)
    for name, (hostdir, mount) in image_dirs.items():
        images[name] = ImageStandIn(mounts={mount: hostdir}, path=_dirs(image_path), workdir=mount)
    emu = BatchEmulator(
        account,
        key,
        port=port,
        workers=workers,
        root=root,
        fault_rate=fault_rate,
        drop_rate=drop_rate,
        preempt_rate=preempt_rate,
        fault_seed=fault_seed,
        run_tasks=not no_run,
        no_spot=no_spot,
        images=images,
        node_path=_dirs(node_path),
        latency=latency,
        latency_jitter=latency_jitter,
        task_counts_lag=task_counts_lag,
        delete_delay=delete_delay,
    )
    # The handler only appends: it runs in the main thread between two bytecodes, and
    # Event.set there could wait forever on the lock an interrupted Event.wait holds.
    signalled: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: signalled.append(signum))
    emu.start()
    click.echo(f"endpoint: {emu.endpoint}")
    click.echo(f"account: {account}")
    click.echo(f"root: {emu.root}", nl=True)
    for name in images:
        click.echo(f"image: {name}")
    click.get_text_stream("stdout").flush()
    try:
        while not signalled:
            time.sleep(STOP_POLL_S)
    finally:
        emu.stop()
