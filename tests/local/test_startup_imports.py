"""Start-up: a command imports only what its job needs. validate imports no backend's SDK and
no numpy; collecting a local job of numbers imports neither joblib nor NumPy nor the Azure
SDKs nor the local runner (the import-time costs are measured by bench/startup.py; this pins which modules
load, which does not depend on the machine's speed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from inspect import isbuiltin

from clihelp import REPO, superbatch, write_spec

MODEL_MODULES = (
    "superbatch.spec.models",
    "superbatch.jobs.record",
    "superbatch.backends.azure.spec",
    "superbatch.backends.azure.target",
)
PROBE = (
    "import atexit, json, runpy, sys\n"
    "names = ('joblib', 'azure.batch', 'azure.storage.blob', 'superbatch.backends.local.runner',"
    " 'numpy', 'rich', *sys.argv[1].split(','))\n"
    "del sys.argv[1]\n"
    "atexit.register(lambda: print(json.dumps([n for n in names if n in sys.modules]),"
    " file=sys.stderr))\n"
    "sys.argv = ['superbatch', *sys.argv[1:]]\n"
    "runpy.run_module('superbatch', run_name='__main__')\n"
)


def loaded(cwd, *args, also: tuple[str, ...] = ()) -> list[str]:
    """Which of the heavy modules (and ``also``) the command imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(also), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1])


# Modules a local validate and collect of numbers do without, each a few ms of start-up:
# the other commands' modules, logging (the Azure SDKs' log handler: set where their
# clients are made), subprocess (only to start a runner), tarfile (ustar.archive writes the
# inputs), difflib (only for a "did you mean" message), the table and grid reducers,
# importlib.metadata (pydantic's plugin loader's), tempfile (it imports shutil and random,
# and they bz2 and lzma: util.files makes its own temporary files), csv and pickle (only for
# points files and .csv or .pkl results), the inline points' scanner (the demo lists none),
# and (validate) the job record's models, the job's identity and the contract's file names.
UNNEEDED = (
    "pathspec",  # only for an ignore file (the demo's worker has none)
    "superbatch.cli.control",
    "superbatch.cli.tools",
    "logging",
    "subprocess",
    "tarfile",
    "difflib",
    "superbatch.results.tables",
    "superbatch.results.ndgrid",
    "importlib.metadata",
    "tempfile",
    "shutil",
    "csv",
    "pickle",
    "superbatch.spec.pointscan",
)


def test_validate_and_a_local_collect_load_only_what_they_need(tmp_path):
    shutil.copytree(REPO / "worker", tmp_path / "worker")
    shutil.copytree(REPO / "jobs", tmp_path / "jobs")
    spec = tmp_path / "jobs" / "sum-of-powers.yaml"
    also = (
        *UNNEEDED,
        "superbatch.jobs.record",
        "superbatch.plan.identity",
        "superbatch.contract.names",
    )
    assert loaded(tmp_path, "validate", str(spec), also=also) == []
    assert superbatch("run", spec, cwd=tmp_path).code == 0
    # The outputs are NumPy floats, whose numbers are all a printed sum needs.
    assert loaded(tmp_path, "collect", str(spec), also=UNNEEDED) == []


def test_every_command_is_found_in_its_module():
    """A command is imported by name (COMMAND_MODULES): one missing from the map would be
    'No such command' unless another command had imported its module."""
    from superbatch.cli.app import COMMAND_MODULES, cli

    names = cli.list_commands(None)
    modules = {name: cli.commands[name].callback.__module__ for name in names}
    assert modules == {name: f"superbatch.cli.{m}" for name, m in COMMAND_MODULES.items()}


def test_no_model_of_superbatchs_has_a_builtin_default_factory():
    """pydantic reads a default factory's signature when it builds the model; a builtin's
    (``list``, ``dict``) is parsed from its text by the tokenizer, whose pattern alone costs
    a local collect ~7 ms (spec.base's empty_list and empty_dict instead)."""
    import importlib

    from pydantic import BaseModel

    for module in MODEL_MODULES:
        importlib.import_module(module)
    found, todo = [], [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("superbatch."):
                found += [
                    f"{sub.__name__}.{name}"
                    for name, info in sub.model_fields.items()
                    if isinstance(info.default_factory, type) or isbuiltin(info.default_factory)
                ]
    assert found == []


def test_help_builds_no_spec_model(tmp_path):
    """`--help` (and every command's) lists the backends by name without importing their spec
    sections: pydantic and the models cost more than the rest of the help."""
    assert loaded(tmp_path, "--help", also=("pydantic", "pathspec")) == []
    assert loaded(tmp_path, "status", "--help", also=("pydantic",)) == []


def test_a_local_task_runner_imports_no_http_client(tmp_path):
    """The uploader (urllib, http.client, ssl) is the Azure task runner's only: a local warm
    task runner starts without it, before every job's first task."""
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "seen.py").write_text(
        "import sys\n\n\n"
        "def modules(config, inputs):\n"
        "    names = ('superbatch.taskrunner.upload', 'urllib.request', 'http.client', 'ssl')\n"
        "    return [n for n in names if n in sys.modules]\n"
    )
    spec = write_spec(
        tmp_path,
        "name: nohttp\nworker: {function: 'seen:modules', directory: worker, isolation: task,"
        " format: json}\nparameters: {seed: [1, 2]}\ncollect: {reduce: list}\n",
    )
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [[], []]


PLUGIN_PROBE = """
import atexit, json, os, runpy, sys
from pydantic.plugin import _loader
scans = []
real = _loader.entry_points
_loader.entry_points = lambda **kw: scans.append(kw) or real(**kw)

def report():
    during = len(scans)
    from pydantic import BaseModel
    class Users(BaseModel):
        x: int
    Users(x=1)
    print(json.dumps([during, len(scans), os.environ.get("PYDANTIC_DISABLE_PLUGINS")]),
          file=sys.stderr)

atexit.register(report)
sys.argv = ["superbatch", *sys.argv[1:]]
runpy.run_module("superbatch", run_name="__main__")
"""


def probed(probe: str, *args, cwd, exit_code: int = 0) -> str:
    """The last line a probe printed on stderr, running the command line ``args`` (with
    pydantic's plugins as a user's environment leaves them)."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    done = subprocess.run(
        [sys.executable, "-c", probe, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )
    assert done.returncode == exit_code, done.stderr
    return done.stderr.strip().splitlines()[-1]


def scans(cwd, *args) -> list:
    """[entry-point scans during the command, scans after a user's model was built too,
    PYDANTIC_DISABLE_PLUGINS afterwards]."""
    return json.loads(probed(PLUGIN_PROBE, *args, cwd=cwd))


def test_superbatchs_models_are_built_without_pydantics_plugin_scan(tmp_path):
    """Looking for pydantic plugins reads every installed distribution's entry points: not
    for superbatch's own models (the spec, the job's record and progress). A model of the
    user's, built later in the process, still looks (the switch is set for superbatch's
    builds only, and the environment is left as it was)."""
    shutil.copytree(REPO / "worker", tmp_path / "worker")
    shutil.copytree(REPO / "jobs", tmp_path / "jobs")
    spec = str(tmp_path / "jobs" / "sum-of-powers.yaml")
    assert scans(tmp_path, "validate", spec) == [0, 1, None]
    assert superbatch("run", spec, cwd=tmp_path).code == 0
    assert scans(tmp_path, "collect", spec) == [0, 1, None]


FRESH_PLUGIN_PROBE = """
import atexit, json, runpy, sys

def report():
    before = [n for n in ("pydantic.plugin._loader", "importlib.metadata") if n in sys.modules]
    from pydantic import BaseModel
    class Users(BaseModel):
        x: int
    Users(x=1)
    from pydantic.plugin import _loader
    print(json.dumps([before, _loader._plugins is not None]), file=sys.stderr)

atexit.register(report)
sys.argv = ["superbatch", *sys.argv[1:]]
runpy.run_module("superbatch", run_name="__main__")
"""


def test_pydantics_plugin_loader_is_left_to_the_users_models(tmp_path):
    """Imported at the first validator pydantic builds, the plugin loader imports
    importlib.metadata (a sixth of validate's start-up): superbatch's models are built
    without it, and a model of the user's built later in the process imports the real loader
    and looks for its plugins."""
    spec = write_spec(tmp_path, "name: fresh\nworker: {command: 'true'}\nparameters: {a: [1]}\n")
    assert json.loads(probed(FRESH_PLUGIN_PROBE, "validate", spec, cwd=tmp_path)) == [[], True]


def test_the_stand_in_loader_hands_anything_else_to_the_real_one():
    code = (
        "import sys; from superbatch.util import modelbuild as m; "
        "stand_in = sys.modules[m.LOADER] = m._NoPlugins(m.LOADER); "
        "print(list(stand_in.get_plugins()), stand_in.PYDANTIC_ENTRY_POINT_GROUP, "
        "sys.modules[m.LOADER] is not stand_in, hasattr(sys.modules[m.LOADER], 'get_plugins'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "pydantic", "True", "True"]


GC_PROBE = (
    "import atexit, gc, runpy, sys\n"
    "runs = []\n"
    "gc.callbacks.append(lambda phase, info: phase == 'stop' and runs.append(info))\n"
    "atexit.register(lambda: print(len(runs), file=sys.stderr))\n"
    "sys.argv = ['superbatch', *sys.argv[1:]]\n"
    "runpy.run_module('superbatch', run_name='__main__')\n"
)


def test_starting_a_command_runs_no_cyclic_collection(tmp_path):
    """The ~40,000 objects a command's start-up makes live until it ends: the collector
    scanned them ~60 times (a tenth of validate's time) for nothing to free."""
    shutil.copytree(REPO / "worker", tmp_path / "worker")
    shutil.copytree(REPO / "jobs", tmp_path / "jobs")
    spec = tmp_path / "jobs" / "sum-of-powers.yaml"
    assert int(probed(GC_PROBE, "validate", spec, cwd=tmp_path)) == 0


FREEZE_PROBE = (
    "import atexit, gc, runpy, sys\n"
    "atexit.register(lambda: print(gc.get_freeze_count(), file=sys.stderr))\n"
    "sys.argv = ['superbatch', *sys.argv[1:]]\n"
    "runpy.run_module('superbatch', run_name='__main__')\n"
)


def test_a_command_leaves_its_objects_to_the_exit(tmp_path):
    """The interpreter's last garbage collection walks every object the command made (a
    tenth of validate's time) to free what the exit frees anyway: the command line freezes
    them first, and its atexit hooks still run (this probe's is one), also after a failure."""
    spec = write_spec(tmp_path, "name: frozen\nworker: {command: 'true'}\nparameters: {a: [1]}\n")
    for args, code in ((("validate", spec), 0), (("validate", "missing.yaml"), 2)):
        assert int(probed(FREEZE_PROBE, *args, cwd=tmp_path, exit_code=code)) > 10_000
