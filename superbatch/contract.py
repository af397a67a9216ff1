"""The worker file contract: the names the controller and the worker agree on.

These are exactly the seed's names. With ``format: json`` the same names end in ``.json``
and hold JSON, so a worker in any language can take part.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

GLOBAL_CONFIG_FILE = "config.pickle"
TASK_INPUTS_FILE = "inputs.pickle"
TASK_OUTPUTS_FILE = "outputs.pickle"
LOCAL_INPUTS_PATTERN = "task_{}_inputs.pickle"
LOCAL_OUTPUTS_PATTERN = "task_{}_outputs.pickle"

FORMATS = ("joblib", "json")


@dataclass(frozen=True)
class FileNames:
    """The contract's file names for one format."""

    config: str
    inputs: str
    outputs: str
    local_inputs_pattern: str
    local_outputs_pattern: str

    def local_inputs(self, index: int) -> str:
        return self.local_inputs_pattern.format(index)

    def local_outputs(self, index: int) -> str:
        return self.local_outputs_pattern.format(index)


def _with_suffix(name: str, suffix: str) -> str:
    return name[: -len(".pickle")] + suffix


def file_names(fmt: str = "joblib") -> FileNames:
    """The file names for ``fmt`` (``joblib`` keeps the seed's ``.pickle`` names)."""
    names = (
        GLOBAL_CONFIG_FILE,
        TASK_INPUTS_FILE,
        TASK_OUTPUTS_FILE,
        LOCAL_INPUTS_PATTERN,
        LOCAL_OUTPUTS_PATTERN,
    )
    if fmt == "joblib":
        return FileNames(*names)
    if fmt == "json":
        return FileNames(*(_with_suffix(n, ".json") for n in names))
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def inputs_tar(points: Iterable[int], encoded: Iterable[bytes], inputs_name: str) -> bytes:
    """A task's inputs in one tar: ``p<point>/<inputs file>`` per point (deterministic).

    The bytes ``tarfile`` writes for these members (plain ustar, mode 0644, mtime 0, padded
    to its 10 KB records), built here directly: ``tarfile`` takes ~100 us a member, more
    than the rest of a submit of small points."""
    parts: list[bytes] = []
    for point, data in zip(points, encoded):
        name = f"p{point}/{inputs_name}".encode()
        if len(name) > 100:  # never for superbatch's names; tarfile splits long ones
            return _tarfile_inputs(points, encoded, inputs_name)
        parts.append(_ustar_header(name, len(data)))
        parts.append(data)
        parts.append(bytes(-len(data) % _BLOCK))
    parts.append(bytes(2 * _BLOCK))
    size = sum(len(p) for p in parts)
    parts.append(bytes(-size % _RECORD))
    return b"".join(parts)


_BLOCK, _RECORD = 512, tarfile.RECORDSIZE
_FIXED = b"0000644\0" + b"0000000\0" * 2  # mode, uid, gid
_AFTER = b"0" + bytes(100) + b"ustar\x0000"  # type, no link, magic; the rest zeros


def _ustar_header(name: bytes, size: int) -> bytes:
    head = name.ljust(100, b"\0") + _FIXED + b"%011o\0" % size + b"00000000000\0"
    tail = _AFTER.ljust(_BLOCK - 156, b"\0")
    checksum = sum(head) + 8 * 32 + sum(tail)
    return head + b"%06o\0 " % checksum + tail


def _tarfile_inputs(points: Iterable[int], encoded: Iterable[bytes], inputs_name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for point, data in zip(points, encoded):
            info = tarfile.TarInfo(f"p{point}/{inputs_name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
