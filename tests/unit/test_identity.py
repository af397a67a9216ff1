"""What makes two submissions the same job."""

from __future__ import annotations

from pathlib import Path

from superbatch.plan.identity import changed_parts, job_identity
from superbatch.spec.load import load_spec


def make(tmp_path: Path, globals_: str = "{n: 1}") -> Path:
    (tmp_path / "worker").mkdir(exist_ok=True)
    (tmp_path / "worker" / "w.py").write_text("print(1)\n")
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"name: j\nworker: {{command: 'python {{worker_dir}}/w.py', directory: "
        f"worker}}\nglobals: {globals_}\nparameters: {{x: [1, 2]}}\n"
        f"collect: {{reduce: sum}}\n"
    )
    return spec


def test_editing_the_worker_changes_the_identity(tmp_path):
    spec = make(tmp_path)
    before = job_identity(load_spec(spec))
    (tmp_path / "worker" / "w.py").write_text("print(2)\n")
    after = job_identity(load_spec(spec))
    assert before.digest != after.digest
    assert changed_parts(before.parts, after.parts) == ["the worker's files"]


def test_caches_and_ignored_files_do_not(tmp_path):
    spec = make(tmp_path)
    before = job_identity(load_spec(spec)).digest
    (tmp_path / "worker" / "__pycache__").mkdir()
    (tmp_path / "worker" / "__pycache__" / "w.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "worker" / ".superbatchignore").write_text("*.log\n")
    assert job_identity(load_spec(spec)).digest != before  # the ignore file is a file too
    before = job_identity(load_spec(spec)).digest
    (tmp_path / "worker" / "run.log").write_text("noise")
    assert job_identity(load_spec(spec)).digest == before


def test_globals_change_it_and_collect_does_not(tmp_path):
    spec = make(tmp_path)
    before = job_identity(load_spec(spec)).digest
    spec.write_text(spec.read_text().replace("reduce: sum", "reduce: mean"))
    assert job_identity(load_spec(spec)).digest == before
    spec.write_text(spec.read_text().replace("{n: 1}", "{n: 2}"))
    assert job_identity(load_spec(spec)).digest != before


def test_points_file_content_counts(tmp_path):
    (tmp_path / "p.csv").write_text("x\n1\n")
    spec = tmp_path / "job.yaml"
    spec.write_text("name: j\nworker: {command: 'true'}\npoints_file: p.csv\n")
    before = job_identity(load_spec(spec))
    (tmp_path / "p.csv").write_text("x\n2\n")
    after = job_identity(load_spec(spec))
    assert changed_parts(before.parts, after.parts) == ["the points file"]
