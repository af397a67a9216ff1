"""The state directory: ids that are never paths, submission order, whole journal lines."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from superbatch.errors import UserError
from superbatch.jobs.record import JobRecord
from superbatch.jobs.state import (
    WRITTEN,
    JobState,
    list_jobs,
    next_sequence,
    note_result_written,
    results_written,
)
from superbatch.spec.models import JobSpec
from superbatch.util.files import (
    append_lines,
    atomic_write_bytes,
    new_private_file,
    read_json_lines,
)

SPEC = JobSpec.model_validate(
    {"name": "j", "worker": {"command": "true"}, "parameters": {"x": [1]}}
)


def record(job_id: str, sequence: int, created: float, spec_path: str = "/s/job.yaml"):
    return JobRecord(
        job_id=job_id,
        sequence=sequence,
        token="t",
        backend="local",
        spec_path=spec_path,
        spec=SPEC,
        identity="i",
        created=created,
        point_count=1,
        task_count=1,
        points_per_task=1,
        command="true",
    )


@pytest.mark.parametrize("job_id", ["..", "../x", "/etc", "a/b", "", "a" * 65, "x y", "é"])
def test_a_job_id_is_never_a_path(tmp_path, job_id):
    with pytest.raises(UserError, match="is not a job id"):
        JobState(tmp_path, job_id)


def test_remove_deletes_only_a_jobs_own_directory(tmp_path):
    root = tmp_path / "state"
    state = JobState(root, "j-1")
    state.write_record(record("j-1", 1, time.time()))
    keep = tmp_path / "precious.txt"
    keep.write_text("data")
    stray = JobState(root, "not-a-job")
    stray.dir.mkdir(parents=True)
    with pytest.raises(UserError, match="not a job's state directory"):
        stray.remove()
    assert stray.dir.exists()
    state.remove()
    assert not state.dir.exists() and keep.read_text() == "data"


def test_latest_is_the_order_of_submission_not_the_clock(tmp_path):
    """A clock set back: the later submission has the earlier time, yet it is the latest."""
    first, second = JobState(tmp_path, "j-a"), JobState(tmp_path, "j-b")
    first.write_record(record("j-a", next_sequence(tmp_path), created=2_000_000_000))
    second.write_record(record("j-b", next_sequence(tmp_path), created=1_000_000_000))
    assert [e.job_id for e in list_jobs(tmp_path)] == ["j-a", "j-b"]


def test_a_damaged_job_does_not_hide_the_others(tmp_path):
    JobState(tmp_path, "good").write_record(record("good", 1, 1.0))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "record.json").write_text("{ torn")
    entries = {e.job_id: e for e in list_jobs(tmp_path)}
    assert entries["good"].record is not None
    assert entries["bad"].record is None and "damaged" in entries["bad"].problem


def test_a_torn_journal_line_loses_no_later_entry(tmp_path):
    path = tmp_path / "journal.jsonl"
    append_lines(path, [json.dumps({"task": "t1", "state": "running"})])
    with path.open("ab") as handle:  # a write cut short by a crash or a full disk
        handle.write(b'{"task": "t2", "sta')
    append_lines(path, [json.dumps({"task": "t3", "state": "completed"})])
    assert [e["task"] for e in read_json_lines(path)] == ["t1", "t3"]


def test_files_follow_the_umask_not_0600(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_bytes(target, b"{}")
    mode = stat.S_IMODE(os.stat(target).st_mode)
    from superbatch.util.files import UMASK

    assert mode == 0o666 & ~UMASK and mode & 0o044  # readable by group and others


def test_a_private_file_is_new_and_the_callers_alone(tmp_path, monkeypatch):
    """util.files makes its own temporary files (tempfile costs every command ~3 ms to
    import): 0600, never an existing file, never through a symbolic link."""
    names = iter([b"\x01" * 6, b"\x01" * 6, b"\x02" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(names))
    fd, first = new_private_file(tmp_path, ".x.", ".tmp")
    os.write(fd, b"mine")
    os.close(fd)
    fd, second = new_private_file(tmp_path, ".x.", ".tmp")  # the first name is taken
    os.close(fd)
    assert first == str(tmp_path / ".x.010101010101.tmp")
    assert second == str(tmp_path / ".x.020202020202.tmp")
    assert (tmp_path / ".x.010101010101.tmp").read_bytes() == b"mine"  # not truncated
    assert stat.S_IMODE(os.stat(second).st_mode) == 0o600
    (tmp_path / "elsewhere").write_text("keep")
    os.symlink(tmp_path / "elsewhere", tmp_path / ".y.030303030303")
    monkeypatch.setattr(os, "urandom", lambda n: b"\x03" * 6)
    with pytest.raises(FileExistsError):  # every try meets the link: refused, not followed
        new_private_file(tmp_path, ".y.")
    assert (tmp_path / "elsewhere").read_text() == "keep"


def test_sequence_numbers_stay_above_copied_in_jobs(tmp_path):
    JobState(tmp_path, "old").write_record(record("old", 41, 1.0))
    assert next_sequence(tmp_path) == 42


def test_a_result_file_is_remembered_once(tmp_path):
    """Every collect notes its result file and every collect reads the list: collecting again
    and again must not grow it (it did, a line a collect, each line resolved every time)."""
    result = tmp_path / "results" / "sum.json"
    for _ in range(3):
        note_result_written(tmp_path, result)
    note_result_written(tmp_path, tmp_path / "other.json")
    lines = [line for line in (tmp_path / WRITTEN).read_text().splitlines() if line]
    assert [json.loads(line)["path"] for line in lines] == [
        str(result.resolve()),
        str((tmp_path / "other.json").resolve()),
    ]
    assert results_written(tmp_path) == [result.resolve(), (tmp_path / "other.json").resolve()]
