"""What makes two submissions "the same job": the digest of everything that decides results.

The digest covers the spec (except ``collect``, so a new reducer re-collects the same job, and
``backend``, which is where it runs), the content of the points file and of the worker's
files, and the image reference. Editing the worker's code therefore makes a new job.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, NamedTuple

from superbatch.errors import SpecError

if TYPE_CHECKING:
    from superbatch.spec.load import Spec


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Identity(NamedTuple):  # not a dataclass: made at every start-up, ~0.5 ms less
    """The digest, and one digest per part (to say which part changed)."""

    digest: str
    parts: dict[str, str]
    points_sha256: str | None
    files: dict[str, str]  # the worker's files, each digested


PART_NAMES = {
    "spec": "the spec's worker, globals, grid, tasks or azure settings",
    "points_file": "the points file",
    "worker_files": "the worker's files",
}


def _sha(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


POINTS_CHUNK = 10_000
_MARK = "\x00superbatch: the inline points go here\x00"


def spec_sha(spec: Spec) -> str:
    """``_sha`` of the spec's JSON form less ``collect`` and ``backend``, with the inline
    points (there may be millions) encoded a chunk at a time: the same digest as encoding
    the whole at once, without holding the whole."""
    model = spec.model
    exclude = {"collect", "backend"}
    if model.points is None or len(model.points) <= POINTS_CHUNK:
        return _sha(model.model_dump(mode="json", exclude=exclude))
    from pydantic import TypeAdapter

    data = model.model_dump(mode="json", exclude=exclude | {"points"})
    data["points"] = _MARK
    before, after = json.dumps(data, sort_keys=True).split(json.dumps(_MARK))
    h = hashlib.sha256(before.encode())
    adapter = TypeAdapter(list[dict[str, Any]])  # the points field's own serialization
    points = model.points
    h.update(b"[")
    for start in range(0, len(points), POINTS_CHUNK):
        chunk = adapter.dump_python(points[start : start + POINTS_CHUNK], mode="json")
        text = json.dumps(chunk, sort_keys=True)[1:-1]
        h.update((", " + text if start else text).encode())
    h.update(b"]")
    h.update(after.encode())
    return h.hexdigest()


def job_identity(spec: Spec, superbatch_files: tuple = ()) -> Identity:
    """What names the computation ``spec`` describes (file, line on errors).
    ``superbatch_files``: paths superbatch keeps that may lie in the worker's directory
    (the state directory, result files), which are not the worker's."""
    from superbatch.spec.workerfiles import digest_files, worker_files

    parts = {"spec": spec_sha(spec)}
    points_sha = None
    if spec.model.points_file:
        path = spec.resolve(spec.model.points_file)
        try:
            points_sha = parts["points_file"] = file_sha256(path)
        except OSError as exc:
            raise SpecError(
                f"{spec.where('points_file')}: points_file: cannot read {path} ({exc.strerror})."
            ) from None
    directory = spec.worker_directory
    if directory.is_dir():
        try:
            parts["worker_files"], files = digest_files(
                list(worker_files(directory, not_the_workers(spec, superbatch_files)))
            )
        except OSError as exc:
            raise SpecError(
                f"{spec.where('worker', 'directory')}: worker.directory: cannot "
                f"read {exc.filename} ({exc.strerror})."
            ) from None
    else:
        files = {}
    return Identity(_sha(parts), parts, points_sha, files)


def not_the_workers(spec: Spec, superbatch_files: tuple = ()) -> tuple:
    """Paths that may lie in the worker's directory but are not the worker's files: the spec,
    the points file, the result file and ``superbatch_files`` (the state directory and the
    result files superbatch wrote, ``jobs.state.superbatch_files``)."""
    exclude = [spec.path, *superbatch_files]
    if spec.model.points_file:
        exclude.append(spec.resolve(spec.model.points_file))
    if spec.model.collect.output:
        exclude.append(spec.resolve(spec.model.collect.output))
    return tuple(exclude)


def changed_parts(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Human names of the parts that differ between two identities."""
    return [PART_NAMES.get(k, k) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def describe_change(state, record, identity: Identity) -> str:
    """What changed between a job's submission and the spec now, as precisely as known."""
    from superbatch.spec.workerfiles import describe_changes

    what = " and ".join(changed_parts(record.identity_parts, identity.parts)) or "the spec"
    if record.identity_parts.get("worker_files") != identity.parts.get("worker_files"):
        old = state.read_worker_files()
        if old is not None:
            detail = describe_changes(old, identity.files)
            if detail:
                what += (
                    f" ({detail}; files that are not the worker's can be listed in "
                    f".superbatchignore)"
                )
    return what
