"""A task's outputs while its points run: kept until every point succeeded, then published
(moved into the outputs directory) or handed to the upload; dropped if a point failed.

A script's output file is moved (renamed) into the ``staged`` directory; a function's encoded
return value stays in memory (no file per point) up to ``MEMORY_BUDGET`` bytes a task, and
beyond that is written to ``staged`` too, so a task of large outputs holds at most that much.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time

MEMORY_BUDGET = 64 << 20


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

    def keep_file(self, point: int, produced: str) -> None:
        """Move the file a point wrote (raises FileNotFoundError if it wrote none)."""
        os.replace(produced, self.path(point))

    def keep_bytes(self, point: int, data: bytes) -> None:
        if self.held_bytes + len(data) <= MEMORY_BUDGET:
            self.held[point] = data
            self.held_bytes += len(data)
            return
        with open(self.path(point), "wb") as handle:
            handle.write(data)

    def publish(self, outputs: str) -> None:
        """Every output into ``outputs`` (the task counts as done only after this: a file cut
        short by the task runner's death is written again when the task runs again)."""
        os.makedirs(outputs, exist_ok=True)
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
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            for point in points:
                name = self.pattern.format(point)
                data = self.held.get(point)
                if data is None:
                    with open(os.path.join(self.directory, name), "rb") as handle:
                        data = handle.read()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(data))
