"""A multi-point task's outputs: one tar, ``outputs/<task-id>.tar`` in the job's state
directory, on every backend (the local task runner writes it there; an Azure task uploads it
and collect downloads it there), read here for both.

The task writes a plain ustar/GNU archive of short names (``p<point>/<outputs>``); those
headers are read here directly, which costs a few microseconds a member where
``tarfile`` costs tens (a 100,000-point job has 100,000 members). Anything else (long
names, pax headers, sparse files) goes to ``tarfile``.
"""

from __future__ import annotations

import io
import tarfile
from collections import OrderedDict
from pathlib import Path

from superbatch.errors import TasksFailed
from superbatch.jobs.state import atomic_write_bytes
from superbatch.plan.chunks import Chunking, point_dirname

BLOCK = 512
_PLAIN = (b"0", b"\0", b"5")  # regular file (both spellings), directory


def members(data: bytes, verify: bool = True) -> dict[str, bytes]:
    """Every regular file of the archive, by name; ``tarfile.TarError`` when unreadable.

    ``verify=False`` skips the headers' checksums (half the cost): for an archive that was
    verified when it was stored."""
    found: dict[str, bytes] = {}
    offset, end = 0, len(data)
    view = memoryview(data)
    while offset + BLOCK <= end:
        header = data[offset : offset + BLOCK]
        if header[0] == 0 and header.count(0) == BLOCK:
            return found  # the end-of-archive blocks
        kind = header[156:157]
        if kind not in _PLAIN or header[345:346] != b"\0" or verify and not _checksum_ok(header):
            return _members_slowly(data)
        try:
            size = int(header[124:136].rstrip(b" \0") or b"0", 8)
        except ValueError:
            return _members_slowly(data)
        start = offset + BLOCK
        if start + size > end:
            raise tarfile.ReadError("the archive ends inside a member")
        if kind != b"5":
            name = header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            found[name] = bytes(view[start : start + size])
        offset = start + -(-size // BLOCK) * BLOCK
    if offset < end:
        raise tarfile.ReadError("the archive ends inside a header")
    return found


def _checksum_ok(header: bytes) -> bool:
    try:
        stored = int(header[148:156].rstrip(b" \0") or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(header[:148]) + 8 * 32 + sum(header[156:])


def _members_slowly(data: bytes) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if member.isreg():
                handle = tar.extractfile(member)
                if handle is not None:
                    found[member.name] = handle.read()
    return found


def task_tar(outputs_dir: Path, task_id: str) -> Path:
    """Where a multi-point task's outputs tar is kept."""
    return outputs_dir / f"{task_id}.tar"


class TaskOutputs:
    """Points' outputs read from their tasks' tars, exactly ``p<point>/<outputs>``.

    Parsed tars are held up to ``budget`` bytes of outputs (a whole job of small outputs
    is parsed once), beyond that re-read from disk when needed. A tar is final once it is
    there (written whole, then renamed), so an absent one is looked for again later."""

    def __init__(
        self, outputs_dir: Path, chunks: Chunking, outputs_name: str, budget: int = 64 * 2**20
    ):
        self.outputs_dir = outputs_dir
        self.chunks = chunks
        self.outputs_name = outputs_name
        self.budget = budget
        self._held: OrderedDict[int, dict[str, bytes]] = OrderedDict()
        self._bytes = 0

    def keep(self, index: int, found: dict[str, bytes]) -> None:
        """Hold task ``index``'s parsed tar (while the budget allows)."""
        if index in self._held:
            return
        size = sum(len(v) for v in found.values())
        while self._held and self._bytes + size > self.budget:
            _, dropped = self._held.popitem(last=False)
            self._bytes -= sum(len(v) for v in dropped.values())
        self._held[index] = found
        self._bytes += size

    def read(self, point: int) -> bytes | None:
        index = point // self.chunks.points_per_task
        found = self._held.get(index)
        if found is None:
            found = self._load(index)
            if found:  # an absent tar may come later
                self.keep(index, found)
        return found.get(f"{point_dirname(point)}/{self.outputs_name}")

    def where(self, point: int) -> str:
        """Where point ``point``'s output is, for messages."""
        tar = task_tar(self.outputs_dir, self.chunks.task_id(point // self.chunks.points_per_task))
        return f"{point_dirname(point)}/{self.outputs_name} in {tar}"

    def _load(self, index: int) -> dict[str, bytes]:
        path = task_tar(self.outputs_dir, self.chunks.task_id(index))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return members(data, verify=False)  # verified when it was stored
        except tarfile.TarError as exc:
            raise TasksFailed(
                f"the local copy of task {self.chunks.task_id(index)}'s outputs ({path}) is "
                f"not a readable tar ({exc}); if it was damaged after it was collected, "
                f"delete it and collect again (a cloud backend fetches it again)."
            ) from None

    def write_files(self, path_of) -> None:
        """Each point's output as its own file (``path_of(point)``), for ``reduce: none``."""
        for point in range(self.chunks.point_count):
            data = self.read(point)
            path = path_of(point)
            if data is not None and not path.exists():
                atomic_write_bytes(path, data)
