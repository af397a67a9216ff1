"""The operations behind the commands, shared by every backend.

validate/plan -> submit (resume or new) -> wait -> collect; plus finding a job's state.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from superbatch.backends.base import Backend, JobStatus
from superbatch.codec import get_codec
from superbatch.errors import SpecError, TasksFailed, UserError
from superbatch.plan import JobPlan
from superbatch.progress import Progress
from superbatch.reduce import make_reducer
from superbatch.results import write_result
from superbatch.spec import Spec
from superbatch.state import JobState, latest_job_id, new_job_id, state_root

BACKENDS = ("local", "azure")


def choose_backend(spec: Spec, override: str | None) -> str:
    return override or spec.model.backend


def check_for_backend(spec: Spec, backend: str) -> None:
    """Checks that depend on where the job will run (raise SpecError)."""
    worker = spec.model.worker
    if backend == "local":
        directory = spec.worker_directory
        if not directory.is_dir():
            raise SpecError(f"{spec.where('worker', 'directory')}: worker.directory: "
                            f"{directory} does not exist (it is relative to the spec).")
    if backend == "azure" and not worker.image:
        raise SpecError(f"{spec.where('worker')}: worker.image: the azure backend runs the "
                        f"worker in a container; give the image (e.g. "
                        f"myregistry.azurecr.io/my-worker:v1).")


def worker_command(spec: Spec, backend: str) -> str:
    """The worker command with ``{worker_dir}`` resolved for the backend."""
    worker = spec.model.worker
    directory = str(spec.worker_directory) if backend == "local" else worker.image_directory
    directory = directory.rstrip("/") or "/"
    if backend == "local":
        directory = shlex.quote(directory)
    return worker.command.replace("{worker_dir}", directory if directory != "/" else "")


def run_digest(spec: Spec) -> str:
    """A digest of everything that decides what the tasks compute.

    ``collect`` and ``backend`` are left out: changing the reducer re-collects the same job.
    """
    data = spec.model.model_dump(mode="json", exclude={"collect", "backend"})
    if spec.model.points_file:
        data["points_file_sha256"] = hashlib.sha256(
            spec.resolve(spec.model.points_file).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass
class Context:
    """What every command needs: the spec, the backend name and where state lives."""

    spec: Spec
    backend: str
    state_root: Path
    parallel: int | None = None
    progress: Progress = field(default_factory=Progress)

    def state(self, job_id: str) -> JobState:
        return JobState(self.state_root, job_id)

    def find_job(self, job_id: str | None) -> JobState:
        """The job named by ``--job-id``, else the latest submission of this spec."""
        if job_id:
            state = self.state(job_id)
            if not state.exists():
                raise UserError(f"no job {job_id!r} in {self.state_root}; `superbatch status "
                                f"{self.spec.path}` without --job-id shows the latest one.")
            return state
        found = latest_job_id(self.state_root, self.spec.path, self.backend)
        if found is None:
            raise UserError(f"{self.spec.path} has not been submitted to the {self.backend} "
                            f"backend yet (no state in {self.state_root}); run `superbatch "
                            f"submit {self.spec.path}` or `superbatch run` first.")
        return self.state(found)

    def backend_for(self, state: JobState, manifest: dict | None = None) -> Backend:
        manifest = manifest or state.read_manifest()
        name = manifest.get("backend", "local")
        if name == "local":
            from superbatch.backends.local import LocalBackend

            return LocalBackend(state, manifest)
        from superbatch.backends.azure import AzureBackend  # imported only when needed

        return AzureBackend(state, manifest, self.spec)


def make_context(spec: Spec, backend: str | None, state_dir: str | None,
                 parallel: int | None = None, progress: Progress | None = None) -> Context:
    name = choose_backend(spec, backend)
    check_for_backend(spec, name)
    return Context(spec, name, state_root(spec.directory, state_dir), parallel,
                   progress or Progress())


def build_plan(ctx: Context) -> JobPlan:
    slots = ctx.parallel if ctx.backend == "local" else None
    return JobPlan.build(ctx.spec, ctx.backend, slots)


# -- submit ------------------------------------------------------------------------------

@dataclass
class Submission:
    job_id: str
    tasks: int
    points: int
    resumed: bool
    already_submitted: bool


def new_manifest(ctx: Context, plan: JobPlan, job_id: str, digest: str) -> dict:
    model = ctx.spec.model
    wall = model.tasks.max_wall_time
    return {
        "job_id": job_id, "name": model.name, "backend": ctx.backend,
        "spec_path": str(ctx.spec.path), "run_digest": digest, "created": time.time(),
        "format": model.worker.format, "point_count": plan.point_count,
        "task_count": plan.task_count, "points_per_task": plan.points_per_task,
        "task_id_width": plan.id_width, "max_retries": model.tasks.max_retries,
        "max_wall_time_s": wall.total_seconds() if wall else None,
        "command": worker_command(ctx.spec, ctx.backend),
        "submit_state": "submitting", "job_state": "active",
        "local": {"command": worker_command(ctx.spec, "local"), "parallel": ctx.parallel},
    }


def submit(ctx: Context, new: bool = False) -> tuple[Submission, Backend, JobPlan]:
    """Submit the spec, or resume/confirm its latest submission (idempotent)."""
    plan = build_plan(ctx)
    digest = run_digest(ctx.spec)
    existing = None if new else latest_job_id(ctx.state_root, ctx.spec.path, ctx.backend)
    if existing:
        state = ctx.state(existing)
        manifest = state.read_manifest()
        finished = manifest.get("submit_state") == "submitted"
        if manifest.get("run_digest") != digest:
            if not finished or not _job_done(ctx, state, manifest):
                raise UserError(
                    f"{ctx.spec.path} changed since job {existing} was submitted, and that "
                    f"job is not finished. Run `superbatch submit --new` to submit the "
                    f"changed spec as a new job (or `superbatch cancel` the old one first).")
            existing = None  # the old job is done: the changed spec is a new job
        else:
            backend = ctx.backend_for(state, manifest)
            if not finished:
                # `points_per_task: auto` may pick another size now (e.g. other --parallel):
                # resume with the submission's own chunking so task ids stay the same.
                plan = JobPlan(ctx.spec, plan.grid, manifest["points_per_task"])
                backend.submit(plan, ctx.progress)
                state.update_manifest(submit_state="submitted")
            return Submission(existing, plan.task_count, plan.point_count, not finished,
                              finished), backend, plan
    job_id = new_job_id(ctx.spec.name)
    state = ctx.state(job_id)
    manifest = new_manifest(ctx, plan, job_id, digest)
    backend = ctx.backend_for(state, manifest)
    backend.preflight()  # credentials are checked before anything is created
    state.write_manifest(manifest)
    backend.submit(plan, ctx.progress)
    backend.manifest = state.update_manifest(submit_state="submitted")
    return Submission(job_id, plan.task_count, plan.point_count, False, False), backend, plan


def _job_done(ctx: Context, state: JobState, manifest: dict) -> bool:
    try:
        return ctx.backend_for(state, manifest).status(with_failures=False).done
    except Exception:  # noqa: BLE001 - an unreachable job counts as not done
        return False


# -- collect -----------------------------------------------------------------------------

@dataclass
class Collected:
    job_id: str
    result: Any
    points: int
    missing: list[int]
    output: str | None
    status: JobStatus
    cleaned: list[str] = field(default_factory=list)


def collect(ctx: Context, state: JobState, wait: bool, timeout: float | None = None,
            allow_missing: bool = False, output: str | None = None) -> Collected:
    """Fetch every point's output, reduce them in point order, write the result file."""
    manifest = state.read_manifest()
    backend = ctx.backend_for(state, manifest)
    status = backend.wait(timeout, ctx.progress) if wait else backend.status()
    points = manifest["point_count"]
    backend.fetch_outputs(range(points), ctx.progress)
    missing = [i for i in range(points) if not backend.output_path(i).exists()]
    if missing and not allow_missing:
        raise TasksFailed(_missing_message(state.job_id, status, missing, points),
                          details={"status": status.to_json(), "missing_points": missing[:1000]})
    model = ctx.spec.model
    reducer = make_reducer(model.collect.reduce, [ctx.spec.directory, ctx.spec.worker_directory])
    codec = get_codec(manifest["format"])
    if reducer is None:
        result: Any = str(state.outputs_dir)
    else:
        present = (i for i in range(points) if backend.output_path(i).exists()) if missing \
            else range(points)
        for index in present:
            path = backend.output_path(index)
            try:
                value = codec.loads(path.read_bytes())
            except Exception as exc:  # noqa: BLE001 - any decode failure is a corrupt file
                raise TasksFailed(f"the output of point {index} ({path}) cannot be decoded as "
                                  f"{codec.name} ({type(exc).__name__}: {exc}); re-run its "
                                  f"task with `superbatch retry`, or check what the worker "
                                  f"writes.") from None
            reducer.add(value)
        result = reducer.result()
    target = output or model.collect.output
    written = None
    if target and reducer is not None:
        path = Path(target) if output else ctx.spec.resolve(target)
        write_result(result, path)
        written = str(path)
    cleaned = backend.cleanup_after_collect() if not missing and status.done else []
    return Collected(state.job_id, result, points, missing, written, status, cleaned)


def _missing_message(job_id: str, status: JobStatus, missing: list[int], points: int) -> str:
    shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
    parts = [f"job {job_id}: {len(missing)} of {points} outputs are missing (points {shown})."]
    if not status.done:
        parts.append(f"The job is not finished ({status.completed} of {status.total} tasks "
                     f"completed): use `collect --wait`.")
    if status.failures:
        ids = ", ".join(f.task_id for f in status.failures[:5])
        parts.append(f"{status.failed} tasks failed ({ids}{' ...' if status.failed > 5 else ''}):"
                     f" see `superbatch status` and `superbatch logs`, then `superbatch retry`.")
    parts.append("`collect --allow-missing` reduces the outputs that exist.")
    return " ".join(parts)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
