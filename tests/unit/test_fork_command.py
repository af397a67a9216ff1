"""Which worker commands the local runner forks (superbatch/backends/local/pycommand.py)."""

import os
import shlex
import sys
import zipfile

import pytest

from superbatch.backends.local.pycommand import python_command

BIN = os.path.dirname(sys.executable)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "my worker" / "w.py"
    path.parent.mkdir()
    path.write_text("print(1)\n")
    return str(path)


def path_with_ours() -> str:
    return BIN + os.pathsep + os.environ.get("PATH", "")


@pytest.mark.parametrize("word", ["python", "python3"])
def test_python_on_a_script_by_absolute_path_is_forked(script, word):
    if not os.path.exists(os.path.join(BIN, word)):
        pytest.skip(f"no {word} beside {sys.executable}")
    found = python_command(f"{word} {shlex.quote(script)} --n 3 'two words'", path_with_ours())
    assert found is not None
    assert found.argv == [word, script, "--n", "3", "two words"]
    assert found.script == script
    assert os.path.samefile(found.executable, sys.executable)


@pytest.mark.parametrize(
    "template",
    [
        "python {s} > log.txt",
        "python {s} | tee log",
        "python {s}; echo done",
        "python {s} && true",
        "python {s} $HOME",
        "python {s} `date`",
        "python {s} *.csv",
        "python {s} ~/data",
        "python {s} # comment",
        "X=1 python {s}",
        "python -u {s}",
        "python -m module",
        "python -c 'print(1)'",
        "python",
        "python w.py",
        "python2 {s}",
        "node {s}",
        "exec python {s}",
        "python {s} 'unclosed",
        "python {s}\npython {s}",
    ],
)
def test_anything_a_shell_reads_specially_keeps_a_process_per_point(script, template):
    assert python_command(template.format(s=shlex.quote(script)), path_with_ours()) is None


def test_a_python_elsewhere_on_path_is_not_ours(script, tmp_path):
    other = tmp_path / "bin"
    other.mkdir()
    (other / "python").symlink_to(sys.executable)  # the same binary, another directory
    assert python_command(f"python {shlex.quote(script)}", str(other)) is None


def test_a_missing_script_or_an_archive_is_not_forked(tmp_path):
    archive = tmp_path / "app.pyz"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("__main__.py", "print(1)\n")
    assert python_command(f"python {archive}", path_with_ours()) is None
    assert python_command(f"python {tmp_path / 'absent.py'}", path_with_ours()) is None
    assert python_command(f"python {tmp_path}", path_with_ours()) is None
