"""The task runner's zipapp (superbatch/backends/azure/runnerapp.py): a node whose Python is
the building one imports its bytecode; any other, or bytecode that does not match its
source, compiles the source; the same files make the same bytes in any process."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

from superbatch.backends.azure.runnerapp import build

LOAD = """
import sys, zipimport
code = zipimport.zipimporter(sys.argv[1] + "/superbatch/taskrunner/").get_code("main")
print(code.co_filename)
sys.path.insert(0, sys.argv[1])
from superbatch.taskrunner.main import main
print(main.__module__)
"""


def _load(path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-I", "-c", LOAD, str(path)], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def _rewritten(data: bytes, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, change(info.filename, source.read(info)))
    return out.getvalue()


def test_the_building_pythons_bytecode_is_what_a_node_of_that_python_imports(tmp_path):
    app = tmp_path / "taskrunner.pyz"
    app.write_bytes(build().data)
    filename, module = _load(app)
    assert filename == "taskrunner.pyz/superbatch/taskrunner/main.py"  # as it was built
    assert module == "superbatch.taskrunner.main"


def test_bytecode_of_another_python_or_another_source_is_left_for_the_source(tmp_path):
    for case, change in {
        "magic": lambda name, data: b"\0\0" + data[2:] if name.endswith(".pyc") else data,
        "source": lambda name, data: data + b"\n# edited\n" if name.endswith("main.py") else data,
    }.items():
        app = tmp_path / f"{case}.pyz"
        app.write_bytes(_rewritten(build().data, change))
        filename, module = _load(app)
        assert filename == f"{app}/superbatch/taskrunner/main.py"  # compiled there
        assert module == "superbatch.taskrunner.main"


def test_the_same_files_make_the_same_bytes_whatever_the_process_imported():
    here = build().sha256
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import numpy, json, pydantic\n"
            "from superbatch.backends.azure.runnerapp import build\nprint(build().sha256)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert other.stdout.strip() == here
