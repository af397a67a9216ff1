"""The worker's own modules served to forked points from code compiled once
(superbatch/taskrunner/localimports.py): the module a point gets is the one Python's own
finder would give it, or Python's own finder decides."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys

import pytest

from superbatch.taskrunner.localimports import LocalModules, install


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A script's directory, first on sys.path; what the test imported is forgotten."""
    before, meta = set(sys.modules), list(sys.meta_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.meta_path[:] = meta
    for name in set(sys.modules) - before:
        del sys.modules[name]


def fresh(name: str):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_a_module_is_what_pythons_finder_makes_of_it_and_runs_at_each_import(home):
    (home / "consts.py").write_text("import os\nRUNS = os.environ.get('RUN_MARK')\nSIZE = 3\n")
    (home / "data.txt").write_text("beside it")
    plain = fresh("consts")
    install(str(home))
    served = fresh("consts")
    assert isinstance(served.__loader__, importlib.machinery.SourceFileLoader)
    assert type(served.__loader__) is not type(plain.__loader__)  # ours, compiled once
    for attr in ("__file__", "__cached__", "__name__", "__package__"):
        assert getattr(served, attr) == getattr(plain, attr), attr
    assert served.__spec__.origin == plain.__spec__.origin
    assert served.__loader__.get_data(str(home / "data.txt")) == b"beside it"
    sys.modules.pop("consts")
    import os

    os.environ["RUN_MARK"] = "second"  # what it does at import runs at every import
    try:
        assert fresh("consts").RUNS == "second"
    finally:
        del os.environ["RUN_MARK"]


def test_what_outranks_a_source_file_is_left_to_python(home):
    (home / "pkgmod.py").write_text("WHO = 'module'\n")
    (home / "pkgmod").mkdir()
    (home / "pkgmod" / "__init__.py").write_text("WHO = 'package'\n")
    (home / "broken.py").write_text("def broken(:\n")
    finder = LocalModules(str(home))
    assert "pkgmod" not in finder.code and "broken" not in finder.code
    install(str(home))
    assert fresh("pkgmod").WHO == "package"
    with pytest.raises(SyntaxError):
        fresh("broken")


def test_a_script_that_puts_another_directory_first_gets_that_ones_module(home, tmp_path_factory):
    (home / "shared.py").write_text("WHERE = 'home'\n")
    install(str(home))
    assert fresh("shared").WHERE == "home"
    other = tmp_path_factory.mktemp("other")
    (other / "shared.py").write_text("WHERE = 'other'\n")
    sys.path.insert(0, str(other))
    try:
        assert fresh("shared").WHERE == "other"
    finally:
        sys.path.remove(str(other))


def test_installing_again_replaces_the_finder(home, tmp_path_factory):
    (home / "one.py").write_text("")
    install(str(home))
    install(str(home))
    assert sum(isinstance(f, LocalModules) for f in sys.meta_path) == 1
    assert (
        sys.meta_path.index(importlib.machinery.PathFinder)
        > [i for i, f in enumerate(sys.meta_path) if isinstance(f, LocalModules)][0]
    )


LITERALS_ONLY = '"""Names."""\nA = "x"\nB: int = 3\nC, D = (1, -2.5), {"k": [None, b"b"]}\n'


@pytest.mark.parametrize(
    ("source", "pure"),
    [
        (LITERALS_ONLY, True),
        ("", True),
        ("A = 1\nprint('imported')\n", False),  # a call
        ("import os\nA = 1\n", False),  # an import runs code
        ("A = 1\nB = A\n", False),  # a name is not a literal
        ("A = f'{1}'\n", False),
        ("def f():\n    pass\n", False),
        ("A.b = 1\n", False),
        ("A = [1]\nA[0] = 2\n", False),
        ("X: int\n", False),  # an annotation without a value
    ],
)
def test_only_a_module_that_binds_literals_counts_as_doing_nothing_at_import(home, source, pure):
    (home / "mod.py").write_text(source)
    assert ("mod" in LocalModules(str(home)).pure) is pure


def test_a_literal_module_the_script_imports_first_is_imported_before_the_fork(home):
    (home / "consts.py").write_text(LITERALS_ONLY)
    finder = install(str(home))
    finder.preimport([("os", ()), ("consts", ("A", "B"))])
    made = sys.modules["consts"]
    assert (made.A, made.B, made.C) == ("x", 3, (1, -2.5))
    plain = importlib.util.spec_from_file_location("consts", str(home / "consts.py"))
    assert made.__spec__.origin == plain.origin and made.__file__ == plain.origin
    assert importlib.import_module("consts") is made  # the point's import finds it


@pytest.mark.parametrize(
    "first",
    [
        ("never_imported_anywhere_module", ()),  # its import would run code in the point
        ("os", ("no_such_name",)),  # the point's import fails before
        ("sidefx", ()),  # a module of its own that does something
    ],
)
def test_nothing_is_imported_ahead_after_an_import_that_runs_code(home, first):
    (home / "consts.py").write_text(LITERALS_ONLY)
    (home / "sidefx.py").write_text("import os\nos.environ['SIDEFX'] = '1'\n")
    install(str(home)).preimport([first, ("consts", ())])
    assert "consts" not in sys.modules and "sidefx" not in sys.modules
    assert "SIDEFX" not in __import__("os").environ


def test_a_module_edited_since_is_dropped_before_the_next_fork(home):
    (home / "consts.py").write_text("VALUE = 0\n")
    finder = install(str(home))
    finder.preimport([("consts", ())])
    finder.refresh()
    assert sys.modules["consts"].VALUE == 0  # unchanged: kept
    (home / "consts.py").write_text("VALUE = 10\n")
    finder.refresh()
    assert "consts" not in sys.modules and not finder.imported
    assert importlib.import_module("consts").VALUE == 10


def test_the_next_tasks_finder_forgets_what_the_last_one_imported(home, tmp_path_factory):
    (home / "consts.py").write_text("WHERE = 'first job'\n")
    install(str(home)).preimport([("consts", ())])
    other = tmp_path_factory.mktemp("other")
    (other / "consts.py").write_text("WHERE = 'second job'\n")
    sys.path.insert(0, str(other))
    try:
        install(str(other))
        assert "consts" not in sys.modules
        assert importlib.import_module("consts").WHERE == "second job"
    finally:
        sys.path.remove(str(other))
