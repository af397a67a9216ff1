"""A task's outputs while its points run: kept until every point succeeded, then published
into the outputs directory or handed to the upload; dropped if a point failed.

Every point's output (a function's encoded return value, or the file a script wrote, read
and removed) stays in memory, up to ``MEMORY_BUDGET`` bytes a task; beyond that it is kept as
a file in the ``staged`` directory, so a task of large outputs holds at most that much.
Published, a one-point task's output is one file; a multi-point task's outputs are one tar,
``<task-id>.tar``, exactly the archive an Azure task uploads (written whole, then renamed).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time

from superbatch.taskrunner import ustar

MEMORY_BUDGET = 64 << 20


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _read_all(fd: int, size: int) -> bytes:
    """The file's bytes to its end (``size``: its length as ``fstat`` gave it)."""
    chunks = [os.read(fd, size + 1)]
    while chunks[-1]:
        chunks.append(os.read(fd, 1 << 16))
    return b"".join(chunks)


class Staged:
    def __init__(self, directory: str, pattern: str):
        self.directory = directory  # created when the first file is staged
        self.pattern = pattern  # the outputs file's name for a point, e.g. p{}.outputs.pickle
        self.held: dict[int, bytes] = {}
        self.held_bytes = 0
        self.made = False

    def reset(self) -> None:
        self.held.clear()
        self.held_bytes = 0
        shutil.rmtree(self.directory, ignore_errors=True)
        self.made = False

    def path(self, point: int) -> str:
        """Where point ``point``'s output is staged as a file (its folder created)."""
        path = os.path.join(self.directory, self.pattern.format(point))
        if not self.made:
            os.makedirs(self.directory, exist_ok=True)
            self.made = True
        if os.path.dirname(path) != self.directory:  # a pattern such as p{}/outputs.pickle
            os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def scratch(self, point: int) -> str:
        """A file a forked point may write its output to (the folder made, once)."""
        if not self.made:
            os.makedirs(self.directory, exist_ok=True)
            self.made = True
        return os.path.join(self.directory, f".p{point}")

    def keep_file(self, point: int, produced: str) -> None:
        """Keep the file a point wrote, in memory if the budget allows, else moved into
        ``staged`` (raises FileNotFoundError if it wrote none)."""
        # os-level calls: open() adds an fstat and an ioctl (is it a terminal?), read()
        # another fstat, and each system call costs a small point a few microseconds
        fd = os.open(produced, os.O_RDONLY | _CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if self.held_bytes + size > MEMORY_BUDGET:
                data = None
            else:
                data = _read_all(fd, size)
        finally:
            os.close(fd)
        if data is None or self.held_bytes + len(data) > MEMORY_BUDGET:
            os.replace(produced, self.path(point))
            return
        os.unlink(produced)  # a file creation per point costs more than the point's work
        self.held[point] = data
        self.held_bytes += len(data)

    def keep_bytes(self, point: int, data: bytes) -> None:
        if self.held_bytes + len(data) <= MEMORY_BUDGET:
            self.held[point] = data
            self.held_bytes += len(data)
            return
        with open(self.path(point), "wb") as handle:
            handle.write(data)

    def publish(self, outputs: str, tar_name: str | None, points: range) -> None:
        """Every output into ``outputs``: as ``tar_name`` (a multi-point task), else a file
        per point. The task counts as done only after this: a file cut short by the task
        runner's death is written again when the task runs again."""
        os.makedirs(outputs, exist_ok=True)
        if tar_name is not None:
            temporary = os.path.join(outputs, f".{tar_name}.{os.getpid()}.tmp")
            try:
                self.tar(temporary, points)
                os.replace(temporary, os.path.join(outputs, tar_name))
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
            self.reset()
            return
        for point, data in self.held.items():
            target = os.path.join(outputs, self.pattern.format(point))
            if os.path.dirname(target) != outputs:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
        if self.made:
            for name in os.listdir(self.directory):
                os.replace(os.path.join(self.directory, name), os.path.join(outputs, name))
        self.reset()

    def file_of(self, point: int) -> str:
        """Point ``point``'s output as a file (for the upload of a one-point task)."""
        data = self.held.pop(point, None)
        if data is not None:
            with open(self.path(point), "wb") as handle:
                handle.write(data)
        return self.path(point)

    def tar(self, path: str, points: range) -> None:
        """``p<point>/<outputs file>`` for each point, in order (plain ustar: short names)."""
        members = [(self.pattern.format(point), self._data(point)) for point in points]
        built = ustar.archive(members, int(time.time()))
        if built is not None:
            with open(path, "wb") as handle:
                handle.write(built)
            return
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(data))

    def _data(self, point: int) -> bytes:
        data = self.held.get(point)
        if data is None:
            with open(os.path.join(self.directory, self.pattern.format(point)), "rb") as handle:
                data = handle.read()
        return data
