"""The working directory a task's points run in: one per task runner, reused point after
point (emptied, and renamed ``p<point>`` for a task of several points, as the runtime
contract names it), with the config linked in once and each point's inputs written; and the
task's inputs tar (gzip-compressed locally, plain on Azure), read in memory."""

from __future__ import annotations

import errno
import gzip
import io
import os
import shutil
import tarfile
import zlib

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
ADLER_MOD = 65521  # the largest prime below 2**16
GZIP_MAGIC = b"\x1f\x8b"  # never the start of a tar: its first member's name


def read_inputs(path: str, inputs_name: str) -> dict[int, bytes]:
    """Each point's encoded inputs from the task's tar (``p<point>/<inputs file>``)."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == GZIP_MAGIC:
        data = gzip.decompress(data)
    found = _read_ustar(data, inputs_name)
    if found is None:  # not the plain ustar superbatch writes: let tarfile read it
        found = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                point = _point_of(member.name, inputs_name)
                if point is not None:
                    found[point] = _read_member(tar, member)
    return found


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:  # a folder or link named like a point's inputs file
        raise ValueError(f"{member.name} in the task's inputs is not a file")
    return handle.read()


def _read_ustar(data: bytes, inputs_name: str) -> dict[int, bytes] | None:
    """The members of a plain ustar archive of regular files and folders, read in memory
    (tarfile builds a TarInfo per member); None for anything else (pax or GNU headers,
    sizes in base 256, a bad checksum)."""
    found: dict[int, bytes] = {}
    at = 0
    while at + BLOCK <= len(data):
        header = data[at : at + BLOCK]
        if header == ZERO_BLOCK:
            return found
        if header[257:262] != b"ustar" or header[156:157] not in (b"0", b"\0", b"5"):
            return None
        try:
            size = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
            checksum = int(header[148:156].rstrip(b"\0 "), 8)
        except ValueError:
            return None
        if not _checksum_matches(header, checksum):
            return None
        name = header[:100].split(b"\0", 1)[0]
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
        start = at + BLOCK
        if start + size > len(data):
            return None
        point = _point_of(name.decode("utf-8", "surrogateescape"), inputs_name)
        if point is not None:
            found[point] = data[start : start + size]
        at = start + -(-size // BLOCK) * BLOCK
    return found


def _checksum_matches(header: bytes, checksum: int) -> bool:
    """The header's bytes, its checksum field counted as spaces, add up to ``checksum``.
    Checked modulo 65521, through Adler-32's byte sum (``sum()`` over 512 bytes costs 4 us,
    a point's share of the whole task's input): a header that is off by exactly 65521 and
    still parses is the one corruption this lets through."""
    byte_sum = (zlib.adler32(header) & 0xFFFF) - 1  # (1 + the bytes' sum) mod 65521
    return (byte_sum - sum(header[148:156]) + 8 * 32 - checksum) % ADLER_MOD == 0


def _point_of(member: str, inputs_name: str) -> int | None:
    """The point whose inputs file ``member`` is (``p<point>/<inputs file>``), if it is one."""
    folder, _, name = member.partition("/")
    if name == inputs_name and folder[:1] == "p" and folder[1:].isdigit():
        return int(folder[1:])
    return None


class WorkDir:
    def __init__(
        self, root: str, multi_point: bool, config_source: str, config_name: str, inputs_name: str
    ):
        self.root = root
        self.multi_point = multi_point
        self.config_source = config_source
        self.config_name = config_name
        self.inputs_name = inputs_name
        self.current: str | None = None
        self._fd: int | None = None  # once()'s directory, entered through it

    def next(self, point: int) -> str:
        """The directory point ``point`` runs in: empty but for the config and (a regular
        file the caller overwrites, so its inode is reused) the last point's inputs."""
        path = os.path.join(self.root, f"p{point}") if self.multi_point else self.root
        has_config = False
        if self.current is None:
            shutil.rmtree(self.root, ignore_errors=True)
            os.makedirs(path)
        else:
            has_config = self._empty(self.current)
            if self.current != path:
                os.rename(self.current, path)
        self.current = path
        if not has_config:
            _link_or_copy(self.config_source, os.path.join(path, self.config_name))
        return path

    def once(self) -> str:
        """One directory for all of the task's points (a function's: it needs no files)."""
        if self.current is None:
            shutil.rmtree(self.root, ignore_errors=True)
            os.makedirs(self.root)
            self.current = self.root
            self._fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)  # not inherited
        return self.current

    def enter(self, path: str) -> None:
        """``chdir`` into ``path``: ``once()``'s directory through its descriptor (this runs
        once a point, and a path's walk costs a few microseconds, a fifth of a small
        function's point)."""
        if self._fd is not None and path == self.current:
            os.fchdir(self._fd)
        else:
            os.chdir(path)

    def _empty(self, path: str) -> bool:
        """Remove what a point left but the config and inputs files; whether the config is
        there."""
        has_config = False
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name in (self.config_name, self.inputs_name) and entry.is_file(
                    follow_symlinks=False
                ):
                    has_config = has_config or entry.name == self.config_name
                elif entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
        return has_config

    def sharer(self, index: int) -> WorkDir:
        """The working directory of a process running some of the task's points."""
        return WorkDir(
            os.path.join(self.root, f"s{index}"),
            self.multi_point,
            self.config_source,
            self.config_name,
            self.inputs_name,
        )

    def remove(self) -> None:
        self.release()
        self.current = None
        shutil.rmtree(self.root, ignore_errors=True)

    def release(self) -> None:
        """Close ``once()``'s descriptor (a failed task's directory is kept, not removed)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, target)
