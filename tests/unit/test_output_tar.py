"""A task's outputs tar is read member by member as tarfile reads it, whatever wrote it."""

from __future__ import annotations

import io
import subprocess
import tarfile

import pytest

from superbatch.backends.tasktars import members


def archive(files: dict[str, bytes], fmt=tarfile.USTAR_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


FILES = {f"p{i}/outputs.pickle": bytes(range(i % 256)) * (i + 1) for i in range(120)}


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_every_member_as_written(fmt):
    assert members(archive(FILES, fmt)) == FILES


def test_long_names_and_pax_headers_too():
    files = {"p1/" + "x" * 150: b"long", "p2/caf\u00e9": b"pax"}
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        assert members(archive(files, fmt)) == files


def test_an_archive_made_by_the_tasks_tar(tmp_path):
    for i in range(3):
        (tmp_path / f"p{i}").mkdir()
        (tmp_path / f"p{i}" / "outputs.json").write_text(str(i))
    subprocess.run(
        ["tar", "-cf", "out.tar", "p0/outputs.json", "p1/outputs.json", "p2/outputs.json"],
        cwd=tmp_path,
        check=True,
    )
    got = members((tmp_path / "out.tar").read_bytes())
    assert got == {f"p{i}/outputs.json": str(i).encode() for i in range(3)}


@pytest.mark.parametrize(
    "data", [b"not a tar" * 100, archive(FILES)[:700], archive(FILES)[:-10_300]]
)
def test_damaged_archives_are_errors(data):
    with pytest.raises(tarfile.TarError):
        members(data)
