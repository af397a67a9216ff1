"""The working directory a task's points run in: one per task runner, reused point after
point (emptied, and renamed ``p<point>`` for a task of several points, as the runtime
contract names it), with the config linked in once and each point's inputs written."""

from __future__ import annotations

import errno
import os
import shutil
import tarfile


def read_inputs(path: str, inputs_name: str) -> dict[int, bytes]:
    """Each point's encoded inputs from the task's tar (``p<point>/<inputs file>``)."""
    found = {}
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            folder, _, name = member.name.partition("/")
            if name == inputs_name and folder[:1] == "p" and folder[1:].isdigit():
                found[int(folder[1:])] = tar.extractfile(member).read()
    return found


class WorkDir:
    def __init__(self, root: str, multi_point: bool, config_source: str, config_name: str):
        self.root = root
        self.multi_point = multi_point
        self.config_source = config_source
        self.config_name = config_name
        self.current = None

    def next(self, point: int) -> str:
        """The empty directory (but for the config) that point ``point`` runs in."""
        path = os.path.join(self.root, f"p{point}") if self.multi_point else self.root
        if self.current is None:
            shutil.rmtree(self.root, ignore_errors=True)
            os.makedirs(path)
        else:
            self._empty(self.current)
            if self.current != path:
                os.rename(self.current, path)
        self.current = path
        config = os.path.join(path, self.config_name)
        if not os.path.exists(config):
            _link_or_copy(self.config_source, config)
        return path

    def _empty(self, path: str) -> None:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name == self.config_name and entry.is_file(follow_symlinks=False):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, target)
