"""collect: fetch every point's output, decode it safely, reduce in point order, write the
result file; and what to say when outputs are missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from superbatch.backends.base import Backend, JobStatus
from superbatch.contract.codec import get_codec
from superbatch.errors import TasksFailed, TimedOut, UserError
from superbatch.jobs.context import Context
from superbatch.jobs.record import JobRecord
from superbatch.jobs.state import JobState, note_result_written
from superbatch.plan.chunks import Chunking, plan_from_record
from superbatch.results import numbers
from superbatch.results.output import write_result
from superbatch.results.reduce import make_reducer
from superbatch.util import clock
from superbatch.util.files import atomic_write_bytes


class Collected(NamedTuple):  # not a dataclass: made at every start-up, ~0.5 ms less
    job_id: str
    result: Any
    points: int
    missing: list[int]
    output: str | None
    status: JobStatus
    notes: list[str]
    cleaned: list[str]


def collect(
    ctx: Context,
    state: JobState,
    wait: bool,
    timeout: float | None = None,
    allow_missing: bool = False,
    output: str | None = None,
) -> Collected:
    """Fetch every point's output, reduce them in point order, write the result file."""
    record = state.read_record()
    backend = ctx.backend_for(state, record)
    status = backend.wait(timeout, ctx.progress) if wait else backend.status()
    try:
        collected = _gather(
            ctx, state, record, backend, status, wait, timeout, allow_missing, output
        )
    except Exception:
        state.remember_status(status)  # for `superbatch jobs`, whatever went wrong
        raise
    state.remember_status(status, collected_at=clock.now(), result_file=collected.output)
    return collected


def _gather(
    ctx: Context,
    state: JobState,
    record: JobRecord,
    backend: Backend,
    status: JobStatus,
    wait: bool,
    timeout: float | None,
    allow_missing: bool,
    output: str | None,
) -> Collected:
    if wait and not status.done:
        raise TimedOut(
            f"job {state.job_id} is not finished after {timeout:g} s "
            f"({status.completed} of {status.total} tasks completed); nothing is "
            f"wrong: `superbatch collect --wait` waits again.",
            details={"status": status.to_json()},
        )
    notes: list[str] = []
    if status.done:
        notes += backend.seal()
        if state.read_progress().finished_at is None:
            state.update_progress(finished_at=clock.now())
    points = record.point_count
    notes += backend.fetch_outputs(range(points), ctx.progress)
    missing = [i for i in range(points) if not backend.has_output(i)]
    if missing and not allow_missing:
        raise TasksFailed(
            _missing_message(state.job_id, status, missing, points),
            details={"status": status.to_json(), "missing_points": missing[:1000]},
        )
    reduction = make_reducer(
        ctx.spec.model.collect.reduce, [ctx.spec.directory, ctx.spec.worker_directory]
    )
    target = output or ctx.spec.model.collect.output
    path = None if not target else (Path(target) if output else ctx.spec.resolve(target))
    if path is not None and reduction.kind != "none":
        note_result_written(ctx.state_root, path)
    result, written = _reduce(
        reduction, backend, record, missing, path, tuple(ctx.spec.model.collect.allow_pickle)
    )
    cleaned = backend.cleanup_after_collect() if not missing and status.done else []
    return Collected(state.job_id, result, points, missing, written, status, notes, cleaned)


class _Cursor:
    """Remembers which point is being decoded or reduced, for error messages."""

    point: int | None = None


MISSING = object()


def _outputs(
    backend: Backend,
    record: JobRecord,
    missing: list[int],
    cursor: _Cursor,
    keep_missing: bool,
    allow: tuple[str, ...],
) -> Iterator[tuple[int, Any]]:
    """(point, decoded output) in point order; MISSING for absent ones if ``keep_missing``."""
    from superbatch.contract.safepickle import UntrustedPickle

    codec = get_codec(record.format)
    absent = set(missing)
    for index in range(record.point_count):
        cursor.point = index
        if index in absent:
            if keep_missing:
                yield index, MISSING
            continue
        try:
            data = backend.read_output(index)
            if data is None:
                raise FileNotFoundError(index)
            value = codec.loads(data, allow)
        except TasksFailed:
            raise
        except UntrustedPickle as exc:
            path = backend.output_where(index)
            raise TasksFailed(
                f"the output of point {index} ({path}) references {exc}, which superbatch "
                f"does not unpickle: a pickle can run code on this machine. If your worker "
                f"returns such objects and you trust everyone who can write the job's "
                f'storage, list it in collect.allow_pickle (e.g. ["{exc.module}.*"]); '
                f"see docs/worker.md."
            ) from None
        except ImportError as exc:  # allowed by collect.allow_pickle, but not importable here
            path = backend.output_where(index)
            module = exc.name or str(exc)
            raise TasksFailed(
                f"the output of point {index} ({path}) holds an object of a class from module "
                f"'{module}', which collect.allow_pickle allows but which cannot be imported "
                f"where superbatch collects ({type(exc).__name__}: {exc}). The file is fine: make "
                f"the module importable here (install its package, e.g. `pip install -e` of the "
                f"worker's project, or put the directory that holds it on PYTHONPATH) and "
                f"collect again; see docs/worker.md."
            ) from None
        except Exception as exc:  # noqa: BLE001 - any decode failure is a corrupt file
            path = backend.output_where(index)
            raise TasksFailed(
                f"the output of point {index} ({path}) cannot be decoded as "
                f"{codec.name} ({type(exc).__name__}: {exc}). Check what "
                f"the worker writes; if the file was damaged after it was "
                f"collected, delete it and collect again (a cloud backend "
                f"fetches it again)."
            ) from None
        yield index, value


def _reduce(
    reduction,
    backend: Backend,
    record: JobRecord,
    missing: list[int],
    path: Path | None,
    allow: tuple[str, ...],
) -> tuple[Any, str | None]:
    """Apply the reduction; write the result file. Returns (result, the file written)."""
    cursor = _Cursor()
    kind = reduction.kind
    try:
        if kind == "none":
            backend.output_files()
            return str(backend.state.outputs_dir), None
        if kind == "values":
            result = numbers.reduce_float64s(
                reduction, backend, record.format, record.point_count, missing, path
            )
            if result is numbers.NOT_FLOAT64S:
                result = reduction(
                    v for _, v in _outputs(backend, record, missing, cursor, False, allow)
                )
        elif kind == "points":
            plan = plan_from_record(record)
            pairs = list(_outputs(backend, record, missing, cursor, False, allow))
            points = list(plan.grid.points())
            result = reduction.function([points[i] for i, _ in pairs], [v for _, v in pairs])
        elif kind == "table":
            from superbatch.results import tables

            plan = plan_from_record(record)
            chunks = Chunking(record.point_count, record.points_per_task)
            outputs = _outputs(backend, record, missing, cursor, True, allow)
            items = (
                (
                    i,
                    chunks.task_of_point(i).id,
                    params,
                    tables.MISSING if value is MISSING else value,
                )
                for params, (i, value) in zip(plan.grid.points(), outputs)
            )
            assert path is not None  # the spec check requires an output for a table
            return tables.write_table(items, path), str(path)
        else:  # grid
            from superbatch.results import ndgrid

            outputs = _outputs(backend, record, missing, cursor, False, allow)
            grid = ndgrid.build_grid(record.spec, outputs)
            if path is None:
                return grid.json(), None
            atomic_write_bytes(path, ndgrid.grid_bytes(grid, path.suffix.lower()))
            return grid.summary() | {"output": str(path)}, str(path)
    except (TasksFailed, UserError):
        raise
    except Exception as exc:  # noqa: BLE001 - the reducer met values it cannot combine
        where = f" at point {cursor.point}" if cursor.point is not None else ""
        raise UserError(
            f"collect.reduce {reduction.name!r} failed{where}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            f". The outputs are kept: change collect.reduce (e.g. to list) and "
            f"run `superbatch collect` again."
        ) from None
    if path is not None:
        write_result(result, path)
    return result, str(path) if path else None


def _missing_message(job_id: str, status: JobStatus, missing: list[int], points: int) -> str:
    shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
    parts = [f"job {job_id}: {len(missing)} of {points} outputs are missing (points {shown})."]
    if status.blocked:
        parts.append(f"Its tasks cannot run: {status.blocked}.")
    elif status.cancelled:
        parts.append(
            "The job was cancelled; `superbatch retry` runs its unfinished and failed tasks."
        )
    elif not status.done:
        parts.append(
            f"The job is not finished ({status.completed} of {status.total} tasks "
            f"completed): use `collect --wait`."
        )
    if status.failures:
        ids = ", ".join(f.task_id for f in status.failures[:5])
        parts.append(
            f"{status.failed} task{'s' if status.failed != 1 else ''} failed "
            f"({ids}{' ...' if status.failed > 5 else ''}): see `superbatch status` "
            f"and `superbatch logs`, then `superbatch retry`."
        )
    parts.append("`collect --allow-missing` reduces the outputs that exist.")
    return " ".join(parts)
