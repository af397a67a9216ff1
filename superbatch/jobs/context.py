"""Where a command works: the spec, its backend, its state directory, and finding its jobs.

"Latest" means the highest submission number (state.next_sequence), never the clock; a job
"for the results" of a spec is one whose identity (identity.py) is the spec's now.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from superbatch.backends.base import Backend
from superbatch.backends.registry import backend_class, names
from superbatch.errors import SpecError, UserError
from superbatch.jobs.state import (
    JobState,
    RecordedJob,
    list_jobs,
    state_root,
    superbatch_files,
)
from superbatch.plan.chunks import JobPlan
from superbatch.spec.load import Spec
from superbatch.util.bars import Progress

if TYPE_CHECKING:
    from superbatch.jobs.codestore import KeptCode
    from superbatch.jobs.record import JobRecord
    from superbatch.plan.identity import Identity


def worker_command(spec: Spec, backend: type[Backend], kept: KeptCode | None = None) -> str:
    """The worker command with ``{worker_dir}`` resolved for the backend (to the kept copy
    of the worker's files, if the backend keeps one)."""
    worker_dir = shlex.quote(str(kept.directory)) if kept else backend.worker_dir(spec)
    command = spec.model.worker.command
    return "" if command is None else command.replace("{worker_dir}", worker_dir)


@dataclass
class Context:
    """What every command needs: the spec, the backend and where state lives."""

    spec: Spec
    backend_name: str
    state_root: Path
    parallel: int | None = None
    progress: Progress = field(default_factory=Progress)
    notes: list[str] = field(default_factory=list)  # side information for the user

    @property
    def backend(self) -> type[Backend]:
        return backend_class(self.backend_name)

    def state(self, job_id: str) -> JobState:
        return JobState(self.state_root, job_id)

    def submissions(self) -> list[RecordedJob]:
        """This spec's jobs on this backend, oldest first (damaged ones reported once)."""
        found = []
        for entry in list_jobs(self.state_root):
            if entry.record is None:
                note = f"skipped {self.state_root / entry.job_id}: {entry.problem}"
                if note not in self.notes:
                    self.notes.append(note)
            elif (
                entry.record.spec_path == str(self.spec.path)
                and entry.record.backend == self.backend_name
            ):
                found.append(RecordedJob(entry.job_id, entry.record))
        return found

    def copy_computing(self, digest: str) -> RecordedJob | None:
        """The latest job submitted from another spec file that computes what this spec does
        (a copy that differs only in ``collect:``, say): jobs are matched by identity."""
        found = None
        for entry in list_jobs(self.state_root):
            record = entry.record
            if (
                record is not None
                and record.backend == self.backend_name
                and record.identity == digest
                and record.spec_path != str(self.spec.path)
            ):
                found = RecordedJob(entry.job_id, record)
        return found

    def using_copy(self, entry: RecordedJob) -> JobState:
        """``entry``'s job (found by :meth:`copy_computing`), with a note saying so."""
        self.notes.append(
            f"job {entry.job_id} was submitted from {entry.record.spec_path}, which "
            f"computes the same as {self.spec.path} (only collect: may differ): using it"
        )
        return self.state(entry.job_id)

    def find_job(self, job_id: str | None, for_results: bool = False) -> JobState:
        """The job named by ``--job-id``; else the latest submission of this spec (with
        ``for_results``, the latest whose computation is the spec's as it is now)."""
        if job_id:
            state = self.state(job_id)
            if not state.exists():
                raise UserError(
                    f"no job {job_id!r} in {self.state_root}; `superbatch status "
                    f"{self.spec.path}` without --job-id shows the latest one."
                )
            return state
        entries = self.submissions()
        identity = self.identity() if for_results else None  # hashes the worker's files: once
        if identity is not None and not any(e.record.identity == identity.digest for e in entries):
            copy = self.copy_computing(identity.digest)
            if copy is not None:
                return self.using_copy(copy)
        if not entries:
            raise UserError(
                f"{self.spec.path} has not been submitted to the {self.backend_name} "
                f"backend yet (no state in {self.state_root}); run `superbatch "
                f"submit {self.spec.path}` or `superbatch run` first."
            )
        if identity is None:
            return self.state(entries[-1].job_id)
        for entry in reversed(entries):
            if entry.record.identity == identity.digest:
                return self.state(entry.job_id)
            state = self.state(entry.job_id)
            if identity.digest in state.read_progress().retried_as:
                self.notes.append(
                    f"job {entry.job_id} ran some tasks before and some after "
                    f"its spec or worker changed (they were retried)"
                )
                return state
        latest = entries[-1].record
        from superbatch.plan.identity import describe_change

        what = describe_change(self.state(latest.job_id), latest, identity)
        raise UserError(
            f"{what} changed since job {latest.job_id} was submitted from "
            f"{self.spec.path}, so that job's results are for another computation. Run "
            f"`superbatch run {self.spec.path}` to compute the current one, or "
            f"pass --job-id {latest.job_id} to collect that job as it was."
        )

    def identity(self) -> Identity:
        """What decides the spec's results now (validate and plan need none of it)."""
        from superbatch.plan.identity import job_identity

        return job_identity(self.spec, superbatch_files(self.state_root))

    def backend_for(self, state: JobState, record: JobRecord | None = None) -> Backend:
        record = record or state.read_record()
        return backend_class(record.backend)(state, record)


def _check_backend_name(spec: Spec, name: str, given: bool) -> None:
    """The spec's ``backend:`` (or the one given instead) names a registered backend."""
    if name in names():
        return
    problem = f"unknown backend {name!r}: use one of {', '.join(names())}."
    if given:
        raise UserError(f"backend: {problem}")
    pos = spec.source.position(("backend",))
    where = f"{spec.path}, line {pos[0]}" if pos else str(spec.path)
    raise SpecError(f"{where}: backend: {problem}")


def make_context(
    spec: Spec,
    backend: str | None,
    state_dir: str | None,
    parallel: int | None = None,
    progress: Progress | None = None,
) -> Context:
    name = backend or spec.model.backend
    _check_backend_name(spec, name, given=backend is not None)
    backend_class(name).check_spec(spec)
    return Context(
        spec, name, state_root(spec.directory, state_dir), parallel, progress or Progress()
    )


def build_plan(ctx: Context) -> JobPlan:
    """The spec's tasks, checked against what the backend's service accepts."""
    backend = ctx.backend
    plan = JobPlan.build(ctx.spec, backend.auto_tasks(ctx.spec, ctx.parallel))
    backend.check_plan(ctx.spec, plan)
    return plan
