"""The worker's files: which files of ``worker.directory`` belong to the worker.

One list serves the job's identity (editing a file makes a new job), the local backend's
snapshot of the files a job runs (``codestore``) and, on Azure without an image, the archive
that ships the code. Excluded: the patterns of ``.superbatchignore`` in the
worker directory if it exists, else of its ``.gitignore`` (both in .gitignore syntax), plus
caches, virtual environments and superbatch's own state.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

if TYPE_CHECKING:
    import pathspec


ALWAYS_EXCLUDED = (
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    "*.pyc",
    ".superbatch/",
    ".venv/",
    "venv/",
    "node_modules/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    ".DS_Store",
)
IGNORE_FILES = (".superbatchignore", ".gitignore")


class WorkerFile(NamedTuple):  # not a dataclass: made at every start-up, ~0.5 ms less
    path: Path  # on this machine
    relative: str  # POSIX path inside the worker directory
    size: int
    executable: bool


def ignore_spec(directory: Path) -> pathspec.PathSpec | DefaultExclusions:
    """What is not the worker's: the ignore file's patterns and ``ALWAYS_EXCLUDED``. Without
    an ignore file the fixed patterns are matched here (importing pathspec costs more than
    listing a small worker directory, and validate and collect both list it)."""
    lines = list(ALWAYS_EXCLUDED)
    for name in IGNORE_FILES:
        path = directory / name
        if path.is_file():
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
            break
    else:
        return DefaultExclusions()
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


class DefaultExclusions:
    """``ALWAYS_EXCLUDED`` as .gitignore reads it (``match_file`` as pathspec's): ``name/``
    is a directory of that name at any depth, with everything below it; ``*.pyc`` and
    ``.DS_Store`` a file or directory of that name at any depth, with everything below it."""

    DIRECTORIES = frozenset(p[:-1] for p in ALWAYS_EXCLUDED if p.endswith("/"))
    NAMES = frozenset(p for p in ALWAYS_EXCLUDED if "/" not in p and "*" not in p)
    SUFFIXES = tuple(p[1:] for p in ALWAYS_EXCLUDED if p.startswith("*") and "/" not in p)

    def match_file(self, path: str) -> bool:
        """``path``: POSIX, relative to the worker directory; a directory's ends with "/"."""
        parts = [p for p in path.split("/") if p]
        directories = parts if path.endswith("/") else parts[:-1]
        return any(p in self.NAMES or p.endswith(self.SUFFIXES) for p in parts) or any(
            d in self.DIRECTORIES for d in directories
        )


def worker_files(directory: Path, also_exclude: tuple[Path, ...] = ()) -> Iterator[WorkerFile]:
    """The worker's files in a stable order. A symbolic link to a file inside the directory
    is that file's content; one to a directory inside is not followed; one that leads out of
    the directory is refused (SpecError), never followed, unless the ignore file lists it.

    ``also_exclude`` are paths of this machine (the spec file, the state directory, the
    result file) that may lie inside the worker directory but are not the worker's.
    """
    directory = directory.resolve()
    spec = ignore_spec(directory)
    skip = {p.resolve() for p in also_exclude}
    for current, dirs, files in os.walk(directory):
        base = Path(current)
        rel_dir = base.relative_to(directory).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirs[:] = sorted(
            d
            for d in dirs
            if not spec.match_file(prefix + d + "/")
            and _inside(base / d, directory, prefix + d) not in skip
        )
        for name in sorted(files):
            relative = prefix + name
            path = base / name
            if spec.match_file(relative) or _inside(path, directory, relative) in skip:
                continue
            try:
                st = path.stat()
            except OSError:
                continue  # a dangling link is not a file of the worker
            if not os.path.isfile(path):
                continue
            yield WorkerFile(path, relative, st.st_size, bool(st.st_mode & 0o111))


def _inside(path: Path, directory: Path, relative: str) -> Path:
    """Where ``path`` leads; a symbolic link leading out of ``directory`` is refused."""
    resolved = path.resolve()
    if path.is_symlink() and not resolved.is_relative_to(directory):
        from superbatch.errors import SpecError

        raise SpecError(
            f"worker.directory: {relative} is a symbolic link to {os.readlink(path)}, outside "
            f"the worker directory {directory}; superbatch never ships files from outside it. "
            f"Copy what the worker needs into the directory, or list {relative} in "
            f"{directory / IGNORE_FILES[0]} (.gitignore syntax)."
        )
    return resolved


def digest_files(
    files: list[WorkerFile], copy_to: Path | None = None
) -> tuple[str, dict[str, str]]:
    """SHA-256 over every file's path, executable bit and content; and each file's own.

    With ``copy_to``, each file's bytes are also written below that directory (read-only) as
    they are digested: the digest is then that of the copy, whatever happens to the originals.
    """
    total = hashlib.sha256()
    each: dict[str, str] = {}
    for f in files:
        total.update(f.relative.encode() + b"\0" + (b"x" if f.executable else b"-") + b"\0")
        h = hashlib.sha256()
        with f.path.open("rb") as handle, _copy_of(f, copy_to) as copy:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
                if copy is not None:
                    copy.write(block)
        total.update(h.digest())
        each[f.relative] = h.hexdigest() + ("x" if f.executable else "")
    return total.hexdigest(), each


@contextlib.contextmanager
def _copy_of(f: WorkerFile, directory: Path | None) -> Iterator[BinaryIO | None]:
    if directory is None:
        yield None
        return
    target = directory / f.relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb") as copy:
        yield copy
    os.chmod(target, 0o555 if f.executable else 0o444)


def describe_changes(old: dict[str, str], new: dict[str, str], limit: int = 5) -> str:
    """``changed: a.py; added: b.py`` (the first few of each)."""
    parts = []
    for label, names in (
        ("changed", [n for n in new if n in old and old[n] != new[n]]),
        ("added", [n for n in new if n not in old]),
        ("removed", [n for n in old if n not in new]),
    ):
        if names:
            more = f" and {len(names) - limit} more" if len(names) > limit else ""
            parts.append(f"{label}: {', '.join(sorted(names)[:limit])}{more}")
    return "; ".join(parts)
