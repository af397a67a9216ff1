"""The task runner as it reaches a node: a zipapp of ``superbatch/taskrunner/``, built from
the package's files with fixed timestamps, modes and order (stored, not compressed: no zlib
version changes its bytes), so the same files make the same bytes. It is named by its
content, ``code/taskrunner-<sha256>.pyz`` in the spec's container, uploaded once per
container and given to each task as a resource file through a read-only SAS.

Beside each module's source it holds its bytecode for the Python that builds it: zipimport
never writes bytecode, so each task would compile the task runner again (~40 ms of every
task's start). A node whose Python is another version skips it (another magic number) and
compiles the source; the bytecode is checked against its source's hash (PEP 552) and
marshalled without back-references, so it is the same bytes whatever the building process
imported."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import marshal
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import superbatch.taskrunner as taskrunner_package

APP_FILE = "taskrunner.pyz"
# The node's Python may be older than this package's: nothing runs unless it is 3.8+
# (written in syntax any Python 3 parses). A task that finds it older runs the shell loop.
TOO_OLD_MARKER = "superbatch-python-too-old"
MAIN = f"""import sys
if sys.version_info < (3, 8):
    open({TOO_OLD_MARKER!r}, "w").close()
    sys.stderr.write("superbatch: the task runner needs Python 3.8 or later; %s is %s\\n"
                     % (sys.executable, sys.version.split()[0]))
    sys.exit(2)
from superbatch.taskrunner.main import main
sys.exit(main(sys.argv[1:]))
"""
PACKAGE_INIT = '"""superbatch\'s task runner only (shipped to the node as a zipapp)."""\n'
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class RunnerApp:
    data: bytes
    sha256: str

    @property
    def blob(self) -> str:
        return f"code/taskrunner-{self.sha256}.pyz"


@functools.lru_cache(maxsize=1)
def build() -> RunnerApp:
    """The zipapp of this installation's task runner (deterministic)."""
    source = Path(taskrunner_package.__file__).parent
    files = {"__main__.py": MAIN.encode(), "superbatch/__init__.py": PACKAGE_INIT.encode()}
    for path in sorted(source.glob("*.py")):
        name = f"superbatch/taskrunner/{path.name}"
        files[name] = path.read_bytes()
        files[name[:-3] + ".pyc"] = _bytecode(files[name], name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, whatever system builds it
            archive.writestr(info, files[name])
    data = buffer.getvalue()
    return RunnerApp(data, hashlib.sha256(data).hexdigest())


def _bytecode(source: bytes, name: str) -> bytes:
    """``name``'s .pyc, checked against its source's hash (flags 0b11)."""
    code = compile(source, f"{APP_FILE}/{name}", "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + (0b11).to_bytes(4, "little")
    # marshal version 2: no back-references, whose use depends on reference counts
    return header + importlib.util.source_hash(source) + marshal.dumps(code, 2)


def ship(session) -> RunnerApp:
    """Upload the task runner to the spec's container unless its name is already there."""
    app = build()
    held = session.call(lambda: session.inputs.list(app.blob), "list the task runner")
    if not any(b.name == app.blob for b in held):
        session.call(lambda: session.inputs.upload(app.blob, app.data), "upload the task runner")
    return app


def url(session, app: RunnerApp, expiry: datetime) -> str:
    return session.inputs.read_url(app.blob, expiry)
