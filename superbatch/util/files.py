"""File I/O done safely: whole-file writes readers never see half of, appended lines a crash
cannot fuse, exclusive locks with a wait message, and OS errors said in words."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from superbatch.errors import InfraError, UserError

FILE_MODE = 0o666  # before the umask, as ordinary tools create files


def _read_umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # read once at import (single-threaded), then restored
    os.umask(mask)
    return mask


UMASK = _read_umask()
_EXCLUSIVE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def new_private_file(directory: str | Path, prefix: str, suffix: str = "") -> tuple[int, str]:
    """A file no one else has, created and opened (mode 0600): ``tempfile.mkstemp``, which
    every command would pay ~3 ms to import (it imports shutil and random, and they bz2,
    lzma and hashing). Returns the descriptor and the path."""
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(path, _EXCLUSIVE, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for a new file", str(directory))


def atomic_write_bytes(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write ``path`` so that readers see the old file or the new one, never a part.

    The file gets ``mode`` less the umask, like files written by ordinary tools (a
    temporary file alone would be 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = new_private_file(path.parent, f".{path.name}.", ".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode & ~UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def append_lines(path: Path, lines: list[str]) -> None:
    """Append whole lines with O_APPEND, writing until every byte is out.

    Each write starts with a newline, so a line torn by a crash or a full disk stays a
    line of its own (skipped by readers) instead of fusing with the next entry.
    """
    data = "".join("\n" + line + "\n" for line in lines).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def read_json_lines(path: Path) -> Iterator[dict]:
    """The JSON objects of a file written by :func:`append_lines`; torn lines are skipped."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry


@contextlib.contextmanager
def file_lock(
    path: Path, what: str, wait: Callable[[], None] | None = None, timeout: float | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed).

    ``wait`` is called once if the lock is busy (to tell the user why we pause).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise UserError(f"{path} should be a lock file but is a directory; remove it.")
    try:
        handle = path.open("a")
    except OSError as exc:
        raise UserError(f"{path}: cannot open the {what} lock ({exc.strerror}).") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if wait:
                wait()
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        raise InfraError(
                            f"{path}: the {what} lock is still held after {timeout:g} s."
                        ) from None
                    time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def describe_os_error(exc: OSError) -> str:
    """``<path>: <reason>`` for an OSError, naming the path when there is one."""
    where = exc.filename or ""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = (
            "no space left on the device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        )
    return f"{where}: {reason}" if where else reason
