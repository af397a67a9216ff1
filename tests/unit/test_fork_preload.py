"""What a fork server preloads for a worker script (superbatch.taskrunner.preload.py)."""

import ast
import sys
import textwrap

import pytest

from superbatch.taskrunner.preload import _imports, preload

SCRIPT = """\
import json as j
import os.path
import extpkg.sub
from extpkg import lazy, value as v
import localmod
from localmod import thing
import failing
import pulls_local
try:
    import optional_one
except ImportError:
    optional_one = None
if j:
    from extpkg import *
from . import relative


def later():
    import insidefunc


print(extpkg.viaattr.deep.x, j.decoder.JSONDecoder)
"""


def test_the_imports_that_run_at_start_and_the_submodules_reached_through_them():
    modules, submodules = _imports(ast.parse(SCRIPT))
    assert modules == [
        "json",
        "os.path",
        "extpkg.sub",
        "extpkg",
        "localmod",
        "failing",
        "pulls_local",
        "optional_one",
    ]
    assert "insidefunc" not in modules  # only when the function runs
    assert set(submodules) == {
        "extpkg.lazy",
        "extpkg.value",
        "localmod.thing",
        "extpkg.viaattr",
        "extpkg.viaattr.deep",
        "extpkg.viaattr.deep.x",
        "json.decoder",
        "json.decoder.JSONDecoder",
    }
    assert submodules.index("extpkg.viaattr") < submodules.index("extpkg.viaattr.deep")


@pytest.fixture
def isolated_modules(monkeypatch):
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_preload_imports_what_is_found_elsewhere_never_the_workers_own(
    tmp_path, monkeypatch, isolated_modules
):
    lib, home = tmp_path / "lib", tmp_path / "worker"
    write(lib / "extpkg" / "__init__.py")
    for name in ("sub", "lazy", "value"):
        write(lib / "extpkg" / f"{name}.py")
    write(lib / "extpkg" / "viaattr" / "__init__.py")
    write(lib / "extpkg" / "viaattr" / "deep.py", "x = 1\n")
    write(lib / "insidefunc.py")
    write(lib / "failing.py", "raise SystemExit('no import for you')\n")
    write(lib / "pulls_local.py", "import helper\n")  # the worker's own helper
    write(home / "localmod.py", "thing = 1\n")
    write(home / "helper.py")
    write(home / "w.py", SCRIPT)
    monkeypatch.syspath_prepend(str(lib))
    monkeypatch.syspath_prepend(str(home))

    preload(str(home / "w.py"), str(home.resolve()))

    for name in ("extpkg", "extpkg.sub", "extpkg.lazy", "extpkg.value", "extpkg.viaattr"):
        assert name in sys.modules, name
    assert "extpkg.viaattr.deep" in sys.modules
    assert "pulls_local" in sys.modules
    for name in ("localmod", "helper", "insidefunc", "failing"):
        assert name not in sys.modules, name


def test_a_script_that_does_not_parse_preloads_nothing(tmp_path, isolated_modules):
    write(tmp_path / "w.py", "import json\nthis is not python\n")
    before = set(sys.modules)
    preload(str(tmp_path / "w.py"), str(tmp_path.resolve()))
    assert set(sys.modules) == before
