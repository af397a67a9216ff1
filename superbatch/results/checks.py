"""Everything that can be checked before anything is created: the grid and its tasks (with
the backend's limits), the worker and its values (``plan.checks``), the reducer (imported)
and the result file (writable). ``validate`` runs exactly these, and so does every command
before it creates or runs anything."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from superbatch.errors import SpecError, UserError
from superbatch.plan.checks import check_spec, check_worker_links
from superbatch.plan.chunks import JobPlan
from superbatch.results.reduce import make_reducer
from superbatch.spec.load import Spec
from superbatch.spec.models import VALUE_SUFFIXES
from superbatch.spec.workerfunction import check_function
from superbatch.util.files import new_private_file


def check_everything(ctx, output: str | None, running: bool = True) -> JobPlan:
    """The spec's plan, once every check passed (SpecError/UserError, exit 2, otherwise).

    ``running``: tasks may start, so the worker's environment must be complete.
    """
    from superbatch.jobs.context import build_plan

    plan = build_plan(ctx)
    spec = ctx.spec
    check_spec(spec, running)
    check_collect(spec, output)
    check_worker_links(spec)
    check_function(spec)
    return plan


def check_collect(spec: Spec, output: str | None) -> None:
    """The reducer can be imported and the result file written (``--output`` wins)."""
    collect = spec.model.collect
    if collect.reduce == "none" and (output or collect.output):
        raise SpecError(
            f"{spec.where('collect', 'reduce')}: collect.reduce: none leaves the "
            f"outputs as files, so no result file is written; remove "
            f"collect.output (and --output) or choose a reducer."
        )
    make_reducer(collect.reduce, [spec.directory, spec.worker_directory])
    path = Path(output) if output else (spec.resolve(collect.output) if collect.output else None)
    where = "--output" if output else f"{spec.where('collect', 'output')}: collect.output"
    if collect.reduce == "table":
        from superbatch.results.tables import check_table_output

        check_table_output(path, where if path else spec.where("collect", "reduce"))
    elif collect.reduce == "grid":
        from superbatch.results.ndgrid import check_grid

        check_grid(spec, path, where if path else spec.where("collect", "reduce"))
    elif path is not None and path.suffix.lower() not in VALUE_SUFFIXES:
        raise UserError(
            f"{where}: reduce: {collect.reduce} gives one value, written as "
            f"{', '.join(VALUE_SUFFIXES)}, not {path.suffix} (that is for "
            f"reduce: table or grid)."
        )
    if path is not None:
        check_writable(path, where)


def check_writable(path: Path, what: str) -> None:
    """Whether a file can be written at ``path`` (its directory may still be created)."""
    if path.is_dir():
        raise UserError(f"{what}: {path} is a directory; give a file name.")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    try:
        if not ancestor.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(ancestor))
        fd, probe = new_private_file(ancestor, ".superbatch-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{what}: cannot write {path} ({exc.strerror or exc}).") from None
