"""Which blob is a task's output (issue 22, item 2): its output directory must hold exactly
one blob, written no later than the task ended; the task's shell draws the name."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta, timezone

from superbatch.backends.azure.definitions import OUTPUT_NAME, _random_name
from superbatch.backends.azure.outputs import TaskEnd, trusted_output
from superbatch.backends.azure.storage import BlobInfo
from superbatch.backends.azure.target import task_of_output

END = datetime(2026, 12, 5, 12, 0, 0, tzinfo=timezone.utc)


def blob(name: str, seconds_after_end: float) -> BlobInfo:
    return BlobInfo(name, 10, None, END + timedelta(seconds=seconds_after_end))


def test_only_blobs_under_a_tasks_directory_belong_to_it():
    assert task_of_output("out/task-00001/superbatch-output.ab") == "task-00001"
    assert task_of_output("out/task-00001/x/y") == "task-00001"
    assert task_of_output("out/task-00001") is None  # the name older versions used
    assert task_of_output("out/task-00001/") is None
    assert task_of_output("logs/j/task-00001/stdout.txt") is None


def test_a_second_blob_beside_the_output_makes_it_unusable():
    ok = TaskEnd(True, END)
    own = blob("out/t/superbatch-output.1", -0.5)
    assert trusted_output(ok, [own]) == (own, "")
    planted = blob("out/t/superbatch-output.2", -1)  # even written before the task's own
    found, why = trusted_output(ok, [own, planted])
    assert found is None and why == "1 blob written beside its output"
    assert trusted_output(ok, [own, planted, planted])[1] == "2 blobs written beside its output"


def test_a_late_lone_blob_and_an_unfinished_task_are_not_read():
    late = trusted_output(TaskEnd(True, END), [blob("out/t/x", 3)])
    assert late[0] is None and late[1].startswith("written after its task ended")
    assert trusted_output(TaskEnd(True, END), [blob("out/t/x", 2)])[0] is not None
    assert trusted_output(TaskEnd(False, END), [blob("out/t/x", 0)]) == (None, "")
    assert trusted_output(None, [blob("out/t/x", 0)]) == (None, "")
    assert trusted_output(TaskEnd(True, None), [blob("out/t/x", 0)])[1]


def test_the_task_shell_renames_its_output_to_128_random_bits(tmp_path):
    (tmp_path / "outputs.pickle").write_bytes(b"mine")
    script = "\n".join(["set -e", *_random_name("outputs.pickle")])
    names = []
    for _ in range(2):
        done = subprocess.run(["/bin/sh", "-c", script], cwd=tmp_path, capture_output=True)
        assert done.returncode == 0 and not done.stdout and not done.stderr
        names += [p.name for p in tmp_path.iterdir() if p.name.startswith(OUTPUT_NAME)]
        (tmp_path / "outputs.pickle").write_bytes(b"mine")
        for p in tmp_path.glob(OUTPUT_NAME + "*"):
            p.unlink()
    assert all(re.fullmatch(re.escape(OUTPUT_NAME) + "[0-9a-f]{32}", n) for n in names)
    assert len(names) == 2 and names[0] != names[1]
