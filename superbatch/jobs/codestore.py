"""Worker snapshots: the worker's files as a job was submitted, kept where its tasks run them,
so that editing the files while the job runs (or before a retry) cannot change what it computes.

A snapshot is ``<state root>/code/<digest>/``, named by the job identity's own digest of the
worker's files (``workerfiles.digest_files``): jobs whose files are equal share one. It is a
copy, never a hard link (an in-place edit would change a linked file), of read-only files. It is
made in a temporary directory and renamed into place, so a killed submit leaves nothing under a
digest; the digest is of the bytes copied, and a copy that disagrees with the job's identity (a
file edited during the submit) is refused. ``remove_unused`` deletes the snapshots no job's
record names; it and a submit (from making the snapshot to writing the record) hold one lock.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from superbatch.errors import InfraError, UserError
from superbatch.jobs.state import list_jobs
from superbatch.spec.workerfiles import WorkerFile, digest_files
from superbatch.util.files import UMASK, describe_os_error, file_lock

STORE = "code"
DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class KeptCode:
    """A new job's snapshot: its digest (kept in the record) and its directory."""

    digest: str
    directory: Path


def snapshot_dir(root: Path, digest: str) -> Path:
    if not DIGEST.match(digest):
        raise UserError(f"{digest!r} does not name a snapshot of worker files.")
    return root / STORE / digest


@contextlib.contextmanager
def holding(root: Path) -> Iterator[None]:
    """The store's lock: a snapshot being recorded is never taken for an unused one."""
    with file_lock(root / "locks" / "code.lock", "worker snapshots", timeout=600):
        yield


def keep(files: list[WorkerFile], root: Path, digest: str) -> KeptCode:
    """The snapshot of ``files``, whose digest must be ``digest`` (made unless present).

    Call it while ``holding(root)``, and record the job before letting go.
    """
    target = snapshot_dir(root, digest)
    if target.is_dir():
        return KeptCode(digest, target)
    store = root / STORE
    try:
        store.mkdir(parents=True, exist_ok=True)
        made = Path(tempfile.mkdtemp(prefix=".tmp-", dir=store))
    except OSError as exc:
        raise InfraError(_cannot(store, exc)) from None
    try:
        copied, _ = digest_files(files, copy_to=made)
        if copied != digest:
            raise UserError(
                "the worker's files changed while the job was being submitted (the copy "
                "superbatch keeps for its tasks differs from what the job's identity read); "
                "nothing was submitted: run the same command again."
            )
        made.chmod(0o777 & ~UMASK)  # mkdtemp made it private
        made.rename(target)
    except OSError as exc:
        shutil.rmtree(made, ignore_errors=True)
        if target.is_dir():  # made meanwhile by a submit that did not hold the lock
            return KeptCode(digest, target)
        raise InfraError(_cannot(store, exc)) from None
    except BaseException:
        shutil.rmtree(made, ignore_errors=True)
        raise
    return KeptCode(digest, target)


def _cannot(store: Path, exc: OSError) -> str:
    return (
        f"cannot keep a copy of the worker's files in {store}: {describe_os_error(exc)}. "
        f"Nothing was submitted; fix that and run the same command again."
    )


def remove_unused(root: Path) -> list[str]:
    """Delete the snapshots no job under ``root`` runs; says what went.

    While a job's record cannot be read (it may name one), nothing is deleted.
    """
    store = root / STORE
    if not store.is_dir():
        return []
    removed = []
    with holding(root):
        jobs = list_jobs(root)
        if any(job.record is None for job in jobs):
            return []
        used = {job.record.code for job in jobs if job.record is not None and job.record.code}
        for child in sorted(store.iterdir()):
            if child.name not in used and child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
                if DIGEST.match(child.name):
                    removed.append(f"worker snapshot {child}")
    return removed
