"""The store of worker snapshots (codestore.py): named by the digest of the bytes copied."""

from __future__ import annotations

import pytest

from superbatch.errors import UserError
from superbatch.jobs.codestore import keep, remove_unused
from superbatch.spec.workerfiles import digest_files, worker_files


def test_an_edit_racing_the_copy_is_refused_and_leaves_nothing(tmp_path):
    worker = tmp_path / "worker"
    worker.mkdir()
    (worker / "w.py").write_text("print(1)\n")
    files = list(worker_files(worker))
    digest, _ = digest_files(files)
    (worker / "w.py").write_text("print(2)\n")  # between the identity and the copy
    root = tmp_path / "state"
    with pytest.raises(UserError, match="changed while the job was being submitted"):
        keep(files, root, digest)
    assert list((root / "code").iterdir()) == []


def test_the_copy_is_named_by_its_content_and_unused_ones_go(tmp_path):
    worker = tmp_path / "worker"
    (worker / "sub").mkdir(parents=True)
    (worker / "w.py").write_text("print(1)\n")
    (worker / "sub" / "m.py").write_text("X = 1\n")
    files = list(worker_files(worker))
    digest, _ = digest_files(files)
    root = tmp_path / "state"
    kept = keep(files, root, digest)
    assert kept.directory == root / "code" / digest
    assert (kept.directory / "sub" / "m.py").read_text() == "X = 1\n"
    assert digest_files(list(worker_files(kept.directory)))[0] == digest
    assert keep(files, root, digest) == kept  # present: not made again
    (root / "code" / ".tmp-left-by-a-kill").mkdir()
    assert remove_unused(root) == [f"worker snapshot {kept.directory}"]
    assert list((root / "code").iterdir()) == []
