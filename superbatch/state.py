"""A job's local state: ``.superbatch/<job-id>/`` beside the spec.

The manifest records what was submitted (never a secret). The journal is an append-only log of
task state changes, written by whoever observes them (the local runner, or ``status`` for the
azure backend's ``retry``); the last entry for a task wins.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from superbatch.errors import UserError

STATE_DIRNAME = ".superbatch"
MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def state_root(spec_dir: Path, override: str | Path | None = None) -> Path:
    """Where job state lives: ``--state-dir``, ``$SUPERBATCH_STATE_DIR`` or beside the spec."""
    chosen = override or os.environ.get("SUPERBATCH_STATE_DIR")
    return Path(chosen).resolve() if chosen else spec_dir / STATE_DIRNAME


def new_job_id(name: str) -> str:
    """``<name>-<UTC yyyymmdd-hhmmss>-<4 hex>``: at most 61 characters, a valid Batch id."""
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


@dataclass
class JobState:
    """The state directory of one job."""

    root: Path
    job_id: str

    @property
    def dir(self) -> Path:
        return self.root / self.job_id

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

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
        return self.tasks_dir / task_id

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def read_manifest(self) -> dict:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise UserError(f"no state for job {self.job_id!r} in {self.root}; submit the "
                            f"job first, or pass the --job-id that submit printed.") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{self.manifest_path}: the job's manifest is unreadable ({exc}); "
                            f"delete the job's state with `superbatch delete` and submit "
                            f"again.") from None

    def write_manifest(self, manifest: dict) -> None:
        atomic_write_json(self.manifest_path, manifest)

    def update_manifest(self, **changes: Any) -> dict:
        manifest = self.read_manifest()
        manifest.update(changes)
        self.write_manifest(manifest)
        return manifest

    def append_journal(self, entries: list[dict]) -> None:
        """Append task state entries; each line is written with one O_APPEND write."""
        if not entries:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries).encode()
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def read_journal(self) -> dict[str, dict]:
        """The latest journal entry of every task that has one."""
        latest: dict[str, dict] = {}
        try:
            with self.journal_path.open("rb") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line torn by a crash mid-write: ignored
                    latest[entry["task"]] = entry
        except FileNotFoundError:
            pass
        return latest

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def list_jobs(root: Path) -> list[dict]:
    """Manifests of every job under ``root``, oldest first."""
    manifests = []
    if not root.is_dir():
        return manifests
    for entry in root.iterdir():
        path = entry / MANIFEST
        try:
            manifests.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(manifests, key=lambda m: (m.get("created", 0), m.get("job_id", "")))


def latest_job_id(root: Path, spec_path: Path, backend: str | None = None) -> str | None:
    """The most recent submission of the spec at ``spec_path`` (to ``backend``)."""
    jobs = [m for m in list_jobs(root) if m.get("spec_path") == str(spec_path)
            and (backend is None or m.get("backend") == backend)]
    return jobs[-1]["job_id"] if jobs else None
