"""The worker file contract: the names the controller and the worker agree on.

These are exactly the seed's names. With ``format: json`` the same names end in ``.json``
and hold JSON, so a worker in any language can take part.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import NamedTuple

from superbatch.taskrunner import ustar

GLOBAL_CONFIG_FILE = "config.pickle"
TASK_INPUTS_FILE = "inputs.pickle"
TASK_OUTPUTS_FILE = "outputs.pickle"
LOCAL_INPUTS_PATTERN = "task_{}_inputs.pickle"
LOCAL_OUTPUTS_PATTERN = "task_{}_outputs.pickle"

FORMATS = ("joblib", "json")


class FileNames(NamedTuple):  # not a dataclass: made at every start-up, ~0.5 ms less
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
    """A task's inputs in one tar: ``p<point>/<inputs file>`` per point (deterministic:
    mtime 0; the bytes ``tarfile`` writes, built without it)."""
    points, encoded = list(points), list(encoded)
    members = ((f"p{point}/{inputs_name}", data) for point, data in zip(points, encoded))
    built = ustar.archive(members)
    return built if built is not None else _tarfile_inputs(points, encoded, inputs_name)


def _tarfile_inputs(points: Iterable[int], encoded: Iterable[bytes], inputs_name: str) -> bytes:
    import tarfile  # the fallback, for a name longer than ustar.archive takes

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for point, data in zip(points, encoded):
            info = tarfile.TarInfo(f"p{point}/{inputs_name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
