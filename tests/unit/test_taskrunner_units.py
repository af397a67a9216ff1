"""Parts of the task runner (superbatch/taskrunner/): exit codes as CPython's, the codecs of
``worker.function`` (what superbatch's restricted loader reads back), the task's inputs tar
and the reused working directory."""

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from taskhelp import script_task_manifest

from superbatch.contract.codec import get_codec
from superbatch.contract.names import inputs_tar
from superbatch.taskrunner import staging, ustar
from superbatch.taskrunner.function import decode, encode
from superbatch.taskrunner.main import _write_inputs
from superbatch.taskrunner.script import exit_code
from superbatch.taskrunner.workdir import WorkDir, read_inputs


@pytest.mark.parametrize(
    "code, status, printed",
    [(None, 0, ""), (0, 0, ""), (7, 7, ""), (256 + 3, 3, ""), (-1, 255, ""), (True, 1, "")]
    + [("a message", 1, "a message\n"), ([1], 1, "[1]\n")],
)
def test_system_exit_codes_are_cpythons(capsys, code, status, printed):
    assert exit_code(code) == status
    assert capsys.readouterr().err == printed


def test_a_functions_joblib_output_is_read_by_the_restricted_loader():
    value = {"sum": np.float64(1.5), "array": np.arange(6.0).reshape(2, 3), "n": [1, (2, 3)]}
    back = get_codec("joblib").loads(encode(value, "joblib"))
    assert back["sum"] == 1.5 and back["n"] == [1, (2, 3)]
    assert np.array_equal(back["array"], value["array"])


def test_a_functions_json_output_turns_numpy_into_numbers():
    assert get_codec("json").loads(encode({"a": np.arange(3), "b": np.float32(2)}, "json")) == {
        "a": [0, 1, 2],
        "b": 2.0,
    }


@pytest.mark.parametrize("fmt", ["joblib", "json"])
def test_what_superbatch_encodes_the_task_runner_decodes(fmt):
    codec = get_codec(fmt)
    for value in ({"seed": 3}, {"power": 3, "size": [10]}):
        assert decode(codec.dumps(value), fmt) == value
    if fmt == "joblib":  # an array in the globals: joblib's own format
        assert np.array_equal(decode(codec.dumps({"a": np.ones(3)}), fmt)["a"], np.ones(3))


def test_the_inputs_tar_gives_each_points_bytes(tmp_path):
    path = tmp_path / "task.tar"
    path.write_bytes(inputs_tar([4, 5, 6], [b"four", b"", b"six"], "inputs.pickle"))
    assert read_inputs(str(path), "inputs.pickle") == {4: b"four", 5: b"", 6: b"six"}
    # the local backend's compressed copy reads the same
    path.write_bytes(gzip.compress(path.read_bytes(), 1, mtime=0))
    assert read_inputs(str(path), "inputs.pickle") == {4: b"four", 5: b"", 6: b"six"}


def test_a_damaged_inputs_header_is_never_read_as_a_point(tmp_path):
    """The header's checksum is checked (through Adler-32's byte sum): a flipped bit in a
    name or a size is not taken for another point's inputs (tarfile then reads the archive,
    and stops at that header)."""
    from superbatch.taskrunner.workdir import _read_ustar

    whole = inputs_tar([4, 5], [b"four", b"five"], "inputs.pickle")
    assert _read_ustar(whole, "inputs.pickle") == {4: b"four", 5: b"five"}
    for at in (1, 124 + 10, 148 + 2, 512 + 512 + 1):  # a name, a size, the checksum, header 2
        damaged = bytearray(whole)
        damaged[at] ^= 0x04
        assert _read_ustar(bytes(damaged), "inputs.pickle") is None, at
        path = tmp_path / "task.tar"
        path.write_bytes(bytes(damaged))
        try:  # tarfile stops at a damaged header: the points past it are missing
            found = read_inputs(str(path), "inputs.pickle")
        except tarfile.TarError:
            continue
        assert found.items() < {4: b"four", 5: b"five"}.items(), at


@pytest.mark.parametrize(
    "points", [range(0), range(3), range(9998, 10003), range(10**7, 10**7 + 40)]
)
def test_the_inputs_tar_is_what_tarfile_writes(points):
    """Written without tarfile: the same bytes as tarfile's plain ustar (mode 0644, mtime 0),
    sizes across a block's edge included."""
    sizes = [0, 1, 511, 512, 513, 5000]
    encoded = [bytes([p % 251]) * sizes[p % len(sizes)] for p in points]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for point, data in zip(points, encoded):
            info = tarfile.TarInfo(f"p{point}/inputs.pickle")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    assert inputs_tar(points, encoded, "inputs.pickle") == buffer.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_an_inputs_tar_of_any_format_and_long_names_is_read(tmp_path, fmt):
    """superbatch writes plain ustar (read without tarfile); any other tar reads the same."""
    path = tmp_path / "task.tar"
    long_dir = "d" * 120  # a ustar prefix; pax and GNU use their own headers
    with tarfile.open(path, "w", format=fmt) as tar:
        for name, data in (("p7/inputs.pickle", b"seven"), (f"{long_dir}/x", b"other")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("p8/inputs.pickle")
        info.size = 700  # past one block
        tar.addfile(info, io.BytesIO(bytes(range(256)) * 2 + b"z" * 188))
    assert read_inputs(str(path), "inputs.pickle") == {
        7: b"seven",
        8: bytes(range(256)) * 2 + b"z" * 188,
    }


def test_the_working_directory_is_one_directory_emptied_and_renamed(tmp_path):
    config = tmp_path / "config.pickle"
    config.write_bytes(b"config")
    wd = WorkDir(str(tmp_path / "wd"), True, str(config), "config.pickle", "inputs.pickle")
    first = wd.next(10)
    assert first.endswith("/wd/p10")
    inode = os.stat(first).st_ino
    (tmp_path / "wd" / "p10" / "left.txt").write_text("x")
    (tmp_path / "wd" / "p10" / "sub").mkdir()
    (tmp_path / "wd" / "p10" / "inputs.pickle").write_text("the last point's")
    second = wd.next(11)
    assert second.endswith("/wd/p11") and not os.path.exists(first)
    assert os.stat(second).st_ino == inode  # the same directory, renamed
    # the inputs file is left for the task runner to overwrite (its inode reused)
    assert sorted(os.listdir(second)) == ["config.pickle", "inputs.pickle"]
    assert os.stat(os.path.join(second, "config.pickle")).st_ino == config.stat().st_ino
    single = WorkDir(str(tmp_path / "one"), False, str(config), "config.pickle", "inputs.pickle")
    assert single.next(3) == str(tmp_path / "one")


def test_staged_outputs_past_the_memory_budget_go_to_files_and_all_are_published(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(staging, "MEMORY_BUDGET", 10)
    staged = staging.Staged(str(tmp_path / "staged"), "p{}.outputs.pickle")
    for point, data in ((3, b"12345678"), (4, b"too big now"), (5, b"ab")):
        staged.keep_bytes(point, data)
    assert os.listdir(tmp_path / "staged") == ["p4.outputs.pickle"]  # only the spilled one
    staged.tar(str(tmp_path / "all.tar"), range(3, 6))
    with tarfile.open(tmp_path / "all.tar") as tar:
        assert [(m.name, tar.extractfile(m).read()) for m in tar] == [
            ("p3.outputs.pickle", b"12345678"),
            ("p4.outputs.pickle", b"too big now"),
            ("p5.outputs.pickle", b"ab"),
        ]
    staged.publish(str(tmp_path / "outputs"), None, range(3, 6))
    published = {p.name: p.read_bytes() for p in (tmp_path / "outputs").iterdir()}
    assert published == {
        "p3.outputs.pickle": b"12345678",
        "p4.outputs.pickle": b"too big now",
        "p5.outputs.pickle": b"ab",
    }
    assert not (tmp_path / "staged").exists()


# Lists, as its output, what the task's directory holds besides the working directory.
SEES_TASK_DIR = """import json, os
task_dir = os.path.dirname(os.path.dirname(os.getcwd()))
seen = sorted(
    os.path.relpath(os.path.join(top, name), task_dir)
    for top, dirs, files in os.walk(task_dir)
    for name in dirs + files
    if not os.path.relpath(top, task_dir).startswith("wd") and name != "wd"
)
x = json.load(open("inputs.json"))["x"]
json.dump({"x": x, "seen": seen}, open("outputs.json", "w"))
"""


def run_task(tmp_path, worker_source: str, inputs: dict, budget: int | None = None) -> dict:
    """Run a task of ``inputs`` (point -> encoded JSON) through the task runner (isolation
    point, forked; ``budget``: its memory budget for outputs); each point's output."""
    worker = tmp_path / "worker"
    worker.mkdir()
    (worker / "w.py").write_text(worker_source)
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "inputs.tar").write_bytes(
        inputs_tar(list(inputs), list(inputs.values()), "inputs.json")
    )
    manifest = script_task_manifest(tmp_path, worker / "w.py", min(inputs), len(inputs))
    set_budget = f"staging.MEMORY_BUDGET = {budget}; " if budget else ""
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from superbatch.taskrunner import staging; "
            f"{set_budget}from superbatch.taskrunner.main import main; "
            "sys.exit(main(sys.argv[1:]))",
            str(manifest),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    with tarfile.open(tmp_path / "out" / "task-00001.tar") as published:  # the task's one tar
        return {x: json.loads(published.extractfile(f"p{x}/outputs.json").read()) for x in inputs}


@pytest.mark.parametrize("budget", [None, 1])
def test_a_tasks_points_leave_no_file_or_folder_per_point_while_it_runs(tmp_path, budget):
    """A forked point's output is read back into memory (within the memory budget), not
    moved into a folder of its own per point; past the budget it is moved, and either way
    every output is published."""
    outputs = run_task(tmp_path, SEES_TASK_DIR, {x: b'{"x": %d}' % x for x in (3, 4, 5)}, budget)
    assert [outputs[x]["x"] for x in (3, 4, 5)] == [3, 4, 5]
    seen = [outputs[x]["seen"] for x in (3, 4, 5)]
    if budget is None:
        assert seen == [[], [], []]  # nothing beside the working directory, at any point
    else:  # past the budget the earlier points' outputs wait as files
        assert seen == [
            [],
            ["staged", "staged/p3", "staged/p3/outputs.json"],
            [
                "staged",
                "staged/p3",
                "staged/p3/outputs.json",
                "staged/p4",
                "staged/p4/outputs.json",
            ],
        ]


ECHO_AND_LOCK_INPUTS = """import json, os
raw = open("inputs.json", "rb").read().decode()
os.chmod("inputs.json", 0o444)  # a point may leave its inputs read-only
json.dump(raw, open("outputs.json", "w"))
"""


def test_each_point_reads_exactly_its_inputs_after_a_longer_or_read_only_one(tmp_path):
    """The inputs file is rewritten in place from point to point: a shorter point's
    inputs leave nothing of the longer one's behind, a read-only one is replaced."""
    inputs = {0: b'{"x": "' + b"long " * 200 + b'"}', 1: b'{"x": 1}', 2: b'{"x": 22}', 3: b"[]"}
    outputs = run_task(tmp_path, ECHO_AND_LOCK_INPUTS, inputs)
    assert outputs == {point: data.decode() for point, data in inputs.items()}


def test_a_scripts_output_file_is_held_in_memory_and_a_task_publishes_one_tar(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(staging, "MEMORY_BUDGET", 10)
    staged = staging.Staged(str(tmp_path / "staged"), "p{}/outputs.pickle")
    wd = tmp_path / "wd"
    wd.mkdir()
    for point, data in ((3, b"12345678"), (4, b"too big now"), (5, b"ab")):
        (wd / "outputs.pickle").write_bytes(data)
        staged.keep_file(point, str(wd / "outputs.pickle"))
        assert not (wd / "outputs.pickle").exists()  # read, or moved past the budget
    # only the output past the budget is a file
    assert os.listdir(tmp_path / "staged") == ["p4"]
    outputs = tmp_path / "outputs"
    staged.publish(str(outputs), "task-00001.tar", range(3, 6))
    assert os.listdir(outputs) == ["task-00001.tar"]  # no temporary file left either
    assert (outputs / "task-00001.tar").read_bytes()[257:263] == b"ustar\x00"
    with tarfile.open(outputs / "task-00001.tar") as tar:
        assert [(m.name, tar.extractfile(m).read()) for m in tar] == [
            ("p3/outputs.pickle", b"12345678"),
            ("p4/outputs.pickle", b"too big now"),
            ("p5/outputs.pickle", b"ab"),
        ]
    assert not (tmp_path / "staged").exists()


def test_an_outputs_tar_is_what_tarfile_writes_and_long_names_are_left_to_it():
    members = [(f"p{p}/outputs.pickle", bytes([p]) * (p * 100)) for p in range(12)]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    assert ustar.archive(members, 1_700_000_000) == buffer.getvalue()
    assert ustar.archive([("d" * 101, b"")]) is None


def test_a_task_cut_short_while_publishing_leaves_no_tar(tmp_path, monkeypatch):
    staged = staging.Staged(str(tmp_path / "staged"), "p{}/outputs.pickle")
    staged.keep_bytes(0, b"zero")
    staged.keep_bytes(1, b"one")

    real_open = open

    def half_written(path, mode="r", *args, **kwargs):  # the disk fills up halfway
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode and path.endswith(".tmp"):
            handle.write(b"part of a tar")
            handle.close()
            raise OSError(28, "No space left on device")
        return handle

    monkeypatch.setattr("builtins.open", half_written)
    outputs = tmp_path / "outputs"
    with pytest.raises(OSError, match="No space"):
        staged.publish(str(outputs), "task-00000.tar", range(2))
    assert os.listdir(outputs) == []  # neither the tar nor the part written of it


def test_a_points_inputs_overwrite_the_last_ones_exactly(tmp_path):
    """In place (no truncation to 0, which ext4 answers with a flush to disk at close):
    a shorter file leaves nothing of the longer one; a read-only one is replaced."""
    path = tmp_path / "inputs.pickle"
    _write_inputs(str(path), b"a longer point's inputs")
    inode = path.stat().st_ino
    _write_inputs(str(path), b"short")
    assert path.read_bytes() == b"short" and path.stat().st_ino == inode
    path.chmod(0o444)
    _write_inputs(str(path), b"after a read-only one")
    assert path.read_bytes() == b"after a read-only one"
