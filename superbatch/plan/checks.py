"""What can be checked of a spec's worker and values before anything is created: its
environment, values a JSON worker could not read, links out of its directory, a
``worker.function`` that exists. The plan's own checks (the grid and its tasks, with the
backend's limits) are made as it is built; ``results.checks.check_everything`` runs them all."""

from __future__ import annotations

from superbatch.contract.codec import json_problem
from superbatch.errors import SpecError
from superbatch.spec.axes import ZipAxis
from superbatch.spec.load import Spec
from superbatch.spec.workerenv import resolve_env


def check_spec(spec: Spec, running: bool = True) -> None:
    """What the spec says about the worker and its values (SpecError/UserError, exit 2).

    ``running``: tasks may start, so the worker's environment must be complete.
    """
    if running:
        resolve_env(spec.model.worker, f"{spec.where('worker', 'env')}: worker.env")
    if spec.model.worker.format == "json":
        check_json_values(spec)


def check_worker_links(spec) -> None:
    """No symbolic link of the worker's files leads out of its directory (listing only)."""
    from superbatch.spec.workerfiles import worker_files

    if not spec.worker_directory.is_dir():
        return
    try:
        for _ in worker_files(spec.worker_directory, (spec.path,)):
            pass
    except SpecError as exc:
        raise SpecError(f"{spec.where('worker', 'directory')}: {exc.message}") from None
    except OSError:
        pass  # said where the files are read (the job's identity), naming the file


def check_json_values(spec: Spec) -> None:
    """With ``format: json`` the globals and the points travel as JSON: no dates, no sets..."""
    model = spec.model
    sources: list[tuple[tuple, object]] = [(("globals",), model.globals)]
    for name, axis in (model.parameters or {}).items():
        axes = axis.zip.items() if isinstance(axis, ZipAxis) else [(name, axis)]
        for key, values in axes:
            if isinstance(values, list):
                sources.append(
                    (("parameters", name) if key == name else ("parameters", name, key), values)
                )
    if model.points is not None:
        sources.append((("points",), model.points))
    for loc, value in sources:
        found = json_problem(value, loc)
        if found:
            where, reason = found
            raise SpecError(
                f"{spec.where(*where)}: {'.'.join(str(p) for p in where)}: "
                f"{reason}, but worker.format is json (quote a date to keep it "
                f"as text)."
            )
