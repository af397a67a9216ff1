"""Code mode's archive: the worker's files, deterministic, content-addressed, bounded."""

from __future__ import annotations

import io
import tarfile

import pytest

from superbatch.errors import SpecError
from superbatch.spec.load import load_spec


def worker(tmp_path, extra: str = ""):
    if not (tmp_path / "worker").exists():
        (tmp_path / "worker").mkdir()
        (tmp_path / "worker" / "w.py").write_text("print(1)\n")
        (tmp_path / "worker" / "run.sh").write_text("#!/bin/sh\n")
        (tmp_path / "worker" / "run.sh").chmod(0o755)
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "name: code\nworker: {command: 'python {worker_dir}/w.py', directory: worker"
        f"{extra}}}\nparameters: {{x: [1]}}\n"
    )
    return load_spec(spec)


def names(bundle) -> dict[str, int]:
    with tarfile.open(fileobj=io.BytesIO(bundle.archive), mode="r:gz") as tar:
        return {m.name: m.mode for m in tar.getmembers()}


def test_same_files_same_archive_and_executable_bits_kept(tmp_path):
    from superbatch.backends.azure.codemode import pack

    first = pack(worker(tmp_path))
    again = pack(worker(tmp_path))
    assert first.archive == again.archive and first.archive_blob == again.archive_blob
    assert names(first) == {"run.sh": 0o755, "w.py": 0o644}
    (tmp_path / "worker" / "w.py").write_text("print(2)\n")
    assert pack(worker(tmp_path)).archive_blob != first.archive_blob


def test_ignored_files_stay_home(tmp_path):
    from superbatch.backends.azure.codemode import pack

    spec = worker(tmp_path)
    (tmp_path / "worker" / "data").mkdir()
    (tmp_path / "worker" / "data" / "big.bin").write_bytes(b"x" * 1000)
    (tmp_path / "worker" / "__pycache__").mkdir()
    (tmp_path / "worker" / "__pycache__" / "w.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "worker" / ".gitignore").write_text("data/\n")
    assert set(names(pack(spec))) == {"w.py", "run.sh", ".gitignore"}


def test_too_much_to_ship_is_refused_naming_the_largest_files(tmp_path):
    from superbatch.backends.azure.codemode import pack

    spec = worker(tmp_path, ", upload_limit_mb: 1")
    (tmp_path / "worker" / "weights.bin").write_bytes(b"x" * 2_000_000)
    with pytest.raises(SpecError) as caught:
        pack(spec)
    message = caught.value.message
    assert "worker.upload_limit_mb (1)" in message and "weights.bin (1.9 MB)" in message
    assert ".superbatchignore" in message


def test_requirements_and_setup_name_the_environment(tmp_path):
    from superbatch.backends.azure.codemode import pack

    spec = worker(tmp_path)
    bare = pack(spec)
    assert bare.requirements is None and bare.requirements_blob is None
    (tmp_path / "worker" / "requirements.txt").write_text("numpy\n")
    with_req = pack(worker(tmp_path))
    assert with_req.requirements == b"numpy\n" and with_req.env_digest != bare.env_digest
    with_setup = pack(worker(tmp_path, ", setup: 'echo hi'"))
    assert with_setup.env_digest != with_req.env_digest
    missing = worker(tmp_path, ", requirements: nope.txt")
    with pytest.raises(SpecError, match="worker.requirements"):
        pack(missing)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../secret.txt", "/tmp"])
def test_a_link_out_of_the_worker_directory_is_refused_never_followed(tmp_path, target):
    from clihelp import invoke

    from superbatch.backends.azure.codemode import pack
    from superbatch.plan.identity import job_identity

    spec = worker(tmp_path)
    (tmp_path / "secret.txt").write_text("secret\n")
    (tmp_path / "worker" / "sub").mkdir()
    (tmp_path / "worker" / "sub" / "link").symlink_to(target)
    result = invoke("validate", spec.path, "--json")
    assert result.code == 2 and "Traceback" not in result.stderr
    assert f"sub/link is a symbolic link to {target}, outside the worker directory" in (
        result.stderr
    )
    assert "line 2" in result.stderr and ".superbatchignore" in result.stderr
    for read in (pack, job_identity):  # every consumer of the worker's files
        with pytest.raises(SpecError, match="sub/link is a symbolic link"):
            read(spec)
    (tmp_path / "worker" / ".superbatchignore").write_text("sub/link\n")
    assert invoke("validate", spec.path).code == 0
    assert set(names(pack(spec))) == {".superbatchignore", "run.sh", "w.py"}


def test_a_link_inside_the_worker_directory_ships_its_target(tmp_path):
    from superbatch.backends.azure.codemode import pack

    spec = worker(tmp_path)
    (tmp_path / "worker" / "also.py").symlink_to("w.py")
    (tmp_path / "worker" / "lib").symlink_to(".", target_is_directory=True)  # not followed
    bundle = pack(spec)
    assert set(names(bundle)) == {"also.py", "run.sh", "w.py"}
    with tarfile.open(fileobj=io.BytesIO(bundle.archive), mode="r:gz") as tar:
        assert tar.extractfile("also.py").read() == b"print(1)\n"
