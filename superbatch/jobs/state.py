"""Where jobs live on this machine: ``<state root>/<job-id>/``.

A job's directory holds ``record.json`` (the frozen :class:`JobRecord`), ``progress.json``
(its :class:`JobProgress`, changed under the job's lock) and ``journal.jsonl``, an append-only
log of task state changes (the last entry for a task wins). The state root also keeps the
submission counter (``latest`` means the highest sequence number, never the clock) and one
lock per spec, so that two submits of one spec make one job.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from superbatch.errors import UserError
from superbatch.util.files import (
    append_lines,
    atomic_write_bytes,
    atomic_write_json,
    file_lock,
    read_json_lines,
)
from superbatch.util.modelbuild import build

if TYPE_CHECKING:  # imported where used: validate and plan read no job's record
    from superbatch.backends.base import JobStatus
    from superbatch.jobs.record import JobProgress, JobRecord

STATE_DIRNAME = ".superbatch"
RECORD = "record.json"
PROGRESS = "progress.json"
JOURNAL = "journal.jsonl"
LEGACY_MANIFEST = "manifest.json"
WORKER_FILES = "worker-files.json"
MAX_LISTED_FILES = 20_000
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_job_id(job_id: str, where: str = "--job-id") -> str:
    """A job id as Azure Batch allows it; never a path."""
    if not JOB_ID_PATTERN.match(job_id or ""):
        raise UserError(
            f"{where} {job_id!r} is not a job id (1-64 letters, digits, '-' or "
            f"'_'; submit prints the id, `superbatch jobs` lists them)."
        )
    return job_id


def state_root(spec_dir: Path, override: str | Path | None = None) -> Path:
    """Where job state lives: ``--state-dir`` (or $SUPERBATCH_STATE_DIR) or beside the spec;
    a spec inside a state directory (``superbatch.map`` writes its specs there) keeps its
    jobs in that directory."""
    if override:
        return Path(override).resolve()
    for directory in (spec_dir, *spec_dir.parents):
        if directory.name == STATE_DIRNAME:
            return directory
    return spec_dir / STATE_DIRNAME


def new_job_id(name: str) -> str:
    """``<name>-<UTC yyyymmdd-hhmmss>-<4 hex>``: at most 61 characters, a valid Batch id."""
    from superbatch.util import clock

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(clock.now()))
    return f"{name}-{stamp}-{secrets.token_hex(2)}"


@dataclass
class JobState:
    """The state directory of one job."""

    root: Path
    job_id: str

    def __post_init__(self) -> None:
        check_job_id(self.job_id)

    @property
    def dir(self) -> Path:
        return self.root / self.job_id

    @property
    def record_path(self) -> Path:
        return self.dir / RECORD

    @property
    def progress_path(self) -> Path:
        return self.dir / PROGRESS

    @property
    def journal_path(self) -> Path:
        return self.dir / JOURNAL

    @property
    def inputs_dir(self) -> Path:
        return self.dir / "inputs"

    @property
    def outputs_dir(self) -> Path:
        return self.dir / "outputs"

    @property
    def tasks_dir(self) -> Path:
        return self.dir / "tasks"

    def task_dir(self, task_id: str) -> Path:
        return self.tasks_dir / check_job_id(task_id, "task id")

    def exists(self) -> bool:
        return self.record_path.exists() or (self.dir / LEGACY_MANIFEST).exists()

    # -- the record (frozen) and the progress (changes) ---------------------------------

    def read_record(self) -> JobRecord:
        try:
            text = self.record_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if (self.dir / LEGACY_MANIFEST).exists():
                raise UserError(
                    f"job {self.job_id} was submitted by an older superbatch (its state, "
                    f"{self.dir}, has a manifest.json and no record.json). Finish it with "
                    f"that version, or remove the directory and submit again."
                ) from None
            raise UserError(
                f"no state for job {self.job_id!r} in {self.root}; submit the "
                f"job first, or pass the --job-id that submit printed."
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{self.record_path}: cannot be read ({exc}).") from None
        from superbatch.jobs.record import JobRecord

        build(JobRecord)
        try:
            return JobRecord.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise UserError(
                f"{self.record_path}: the job's record is damaged ({where}: "
                f"{first['msg']}); remove {self.dir} (or `superbatch delete "
                f"--job-id {self.job_id} --yes`) and submit again."
            ) from None

    def write_record(self, record: JobRecord) -> None:
        atomic_write_bytes(self.record_path, (record.model_dump_json(indent=2) + "\n").encode())

    def read_progress(self) -> JobProgress:
        from superbatch.jobs.record import JobProgress

        build(JobProgress)
        try:
            return JobProgress.model_validate_json(self.progress_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return JobProgress()
        except (OSError, ValueError) as exc:
            raise UserError(
                f"{self.progress_path}: the job's progress file is damaged "
                f"({str(exc).splitlines()[0]}); remove it to rebuild it from the "
                f"journal, or remove {self.dir}."
            ) from None

    def update_progress(
        self, change: Callable[[JobProgress], JobProgress] | None = None, **fields: Any
    ) -> JobProgress:
        """Change the progress under the job's lock (read, change, write atomically)."""
        with file_lock(self.dir / "progress.lock", "job progress", timeout=30):
            progress = self.read_progress()
            progress = change(progress) if change else progress.model_copy(update=fields)
            atomic_write_bytes(
                self.progress_path, (progress.model_dump_json(indent=2) + "\n").encode()
            )
            return progress

    def remember_status(self, status: JobStatus, **fields: Any) -> None:
        """Keep the status just seen, for `superbatch jobs` (no service needed to list), and
        ``fields`` of the progress, in one write."""
        from superbatch.jobs.record import StatusSnapshot

        self.update_progress(last_status=StatusSnapshot.of(status), **fields)

    # -- the worker's files at submit (to say which changed) ----------------------------

    def write_worker_files(self, files: dict[str, str]) -> None:
        if len(files) <= MAX_LISTED_FILES:
            atomic_write_json(self.dir / WORKER_FILES, files)

    def read_worker_files(self) -> dict[str, str] | None:
        try:
            data = json.loads((self.dir / WORKER_FILES).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # -- the journal --------------------------------------------------------------------

    def append_journal(self, entries: list[dict]) -> None:
        if entries:
            self.dir.mkdir(parents=True, exist_ok=True)
            append_lines(self.journal_path, [json.dumps(e, separators=(",", ":")) for e in entries])

    def read_journal(self) -> dict[str, dict]:
        """The latest journal entry of every task that has one."""
        return {
            e["task"]: e
            for e in read_json_lines(self.journal_path)
            if isinstance(e.get("task"), str)
        }

    def remove(self) -> None:
        """Delete this job's directory, and nothing outside it."""
        target = self.dir.resolve()
        if target.parent != self.root.resolve() or not self.exists():
            raise UserError(f"{self.dir} is not a job's state directory; nothing was deleted.")
        import shutil

        shutil.rmtree(target)


# -- the state root -----------------------------------------------------------------------


class JobEntry(NamedTuple):  # not dataclasses: made at every start-up, ~0.5 ms less each
    """A job found under a state root (its record), or why it could not be read."""

    job_id: str
    record: JobRecord | None
    problem: str | None = None


class RecordedJob(NamedTuple):
    """A job found with its record (the type says it is there)."""

    job_id: str
    record: JobRecord


def list_jobs(root: Path) -> list[JobEntry]:
    """Every job under ``root`` in order of submission (oldest first).

    A damaged or foreign directory does not hide the others: it comes back with a problem.
    """
    entries: list[JobEntry] = []
    try:
        children = sorted(root.iterdir()) if root.is_dir() else []
    except OSError:
        return entries
    for child in children:
        if not child.is_dir() or not JOB_ID_PATTERN.match(child.name):
            continue
        if not (child / RECORD).exists() and not (child / LEGACY_MANIFEST).exists():
            continue
        try:
            entries.append(JobEntry(child.name, JobState(root, child.name).read_record()))
        except UserError as exc:
            entries.append(JobEntry(child.name, None, exc.message))
    return sorted(entries, key=lambda e: (e.record.sequence if e.record else -1, e.job_id))


def next_sequence(root: Path) -> int:
    """The next submission number under ``root`` (under the root's lock)."""
    root.mkdir(parents=True, exist_ok=True)
    counter = root / "sequence"
    with file_lock(root / "sequence.lock", "submission counter", timeout=30):
        try:
            current = int(counter.read_text().strip() or 0)
        except FileNotFoundError:
            current = 0
        except ValueError:
            current = 0
        # Jobs copied in from elsewhere may carry higher numbers: stay above them.
        current = max([current] + [e.record.sequence for e in list_jobs(root) if e.record])
        atomic_write_bytes(counter, f"{current + 1}\n".encode())
        return current + 1


WRITTEN = "results-written.jsonl"


def note_result_written(root: Path, path: Path) -> None:
    """Remember a result file superbatch wrote (it is not one of a worker's files), once:
    every collect reads the list (the job's identity leaves these files out)."""
    path = path.resolve()
    if path in results_written(root):
        return
    root.mkdir(parents=True, exist_ok=True)
    append_lines(root / WRITTEN, [json.dumps({"path": str(path)})])


def results_written(root: Path) -> list[Path]:
    """The result files superbatch wrote under ``root``'s spec, each once, oldest first."""
    found = (e.get("path") for e in read_json_lines(root / WRITTEN))
    return [Path(p) for p in dict.fromkeys(p for p in found if isinstance(p, str))]


def superbatch_files(root: Path) -> tuple[Path, ...]:
    """What superbatch keeps under or from the state root ``root``: the root itself and the
    result files it wrote (none of them is a worker's file)."""
    return (root, *results_written(root))


def spec_lock_path(root: Path, spec_path: Path) -> Path:
    digest = hashlib.sha256(str(spec_path).encode()).hexdigest()[:16]
    return root / "locks" / f"spec-{digest}.lock"
