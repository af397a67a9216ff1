"""What a fork server preloads for a worker script (superbatch.taskrunner.preload.py)."""

import ast
import sys
import textwrap

import pytest

from superbatch.taskrunner.preload import _imports, preload, preload_reached

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
    modules, submodules, reached_only = _imports(ast.parse(SCRIPT))
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
    assert reached_only == set(submodules) - {"extpkg.lazy", "extpkg.value", "localmod.thing"}


LAZY_PACKAGE = """\
import importlib


def __getattr__(name):
    return importlib.import_module(f"{__name__}.{name}")
"""


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
    write(lib / "extpkg" / "__init__.py", LAZY_PACKAGE)  # as numpy loads numpy.random
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
    # viaattr loads no submodule lazily: reaching viaattr.deep fails in a point, so it must
    assert "extpkg.viaattr.deep" not in sys.modules
    assert "pulls_local" in sys.modules
    for name in ("localmod", "helper", "insidefunc", "failing"):
        assert name not in sys.modules, name


def test_a_script_that_does_not_parse_preloads_nothing(tmp_path, isolated_modules):
    write(tmp_path / "w.py", "import json\nthis is not python\n")
    before = set(sys.modules)
    preload(str(tmp_path / "w.py"), str(tmp_path.resolve()))
    assert set(sys.modules) == before


def test_a_functions_module_gets_the_lazily_loaded_submodules_its_code_reaches(
    tmp_path, monkeypatch, isolated_modules
):
    """worker.function: numpy.random is imported with the module, not in the first point;
    a package that loads nothing lazily is left as Python leaves it."""
    write(tmp_path / "lazypkg" / "__init__.py", LAZY_PACKAGE)
    write(tmp_path / "lazypkg" / "rng.py", "seed = 1\n")
    write(tmp_path / "plainpkg" / "__init__.py")
    write(tmp_path / "plainpkg" / "hidden.py")
    write(
        tmp_path / "fmod.py",
        """\
        import lazypkg
        import plainpkg


        def point(config, inputs):
            return lazypkg.rng.seed, plainpkg.hidden
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    preload_reached(importlib.import_module("fmod"))

    assert "lazypkg.rng" in sys.modules
    assert "plainpkg.hidden" not in sys.modules
    with pytest.raises(AttributeError):  # as without superbatch
        sys.modules["fmod"].point({}, {})
