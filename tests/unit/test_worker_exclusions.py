"""Without an ignore file the worker's default exclusions are matched without pathspec,
exactly as pathspec's .gitignore reading of the same patterns matches them."""

import itertools

import pathspec
import pytest

from superbatch.spec.workerfiles import ALWAYS_EXCLUDED, DefaultExclusions, ignore_spec

NAMES = [
    "w.py",
    "data",
    ".git",
    "__pycache__",
    "m.pyc",
    "x.pyc.txt",
    ".DS_Store",
    "venv",
    ".venv",
    "node_modules",
    "sub",
    "git",
    "a.pyc",
]


def _paths():
    for depth in (1, 2, 3):
        for parts in itertools.product(NAMES, repeat=depth):
            path = "/".join(parts)
            yield path
            yield path + "/"


def test_the_default_exclusions_match_as_pathspec_does():
    reference = pathspec.GitIgnoreSpec.from_lines(list(ALWAYS_EXCLUDED))
    ours = DefaultExclusions()
    differ = [p for p in _paths() if ours.match_file(p) != reference.match_file(p)]
    assert differ == []


@pytest.mark.parametrize("ignore_file", [".superbatchignore", ".gitignore"])
def test_an_ignore_file_is_read_with_pathspec(tmp_path, ignore_file):
    (tmp_path / ignore_file).write_text("*.csv\n")
    spec = ignore_spec(tmp_path)
    assert spec.match_file("data/big.csv") and spec.match_file("__pycache__/")
    assert not spec.match_file("w.py")
    assert isinstance(ignore_spec(tmp_path / "missing"), DefaultExclusions)
