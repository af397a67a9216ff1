"""Every fenced example of README.md and docs/*.md works as written, or says in the source why
it is not run here (tests/docblocks.py reads the blocks and their markers).

YAML specs and spec fragments validate and plan; Python compiles and runs; shell blocks name
only existing commands and options and run in a sandbox (the azure ones against the emulator
and Azurite); docs/spec.md's key-by-key block names every key of the schema.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
import yaml
from clihelp import REPO, invoke, seed_loop, superbatch
from docblocks import (
    Block,
    blocks,
    command_lines,
    covers,
    schema_paths,
    superbatch_invocations,
    unknown_words,
    written_paths,
)
from rigs import demo_rig, rig  # noqa: F401 - pytest fixtures

from superbatch.spec.load import json_schema

BLOCKS = blocks()
SPEC_DOC = REPO / "docs" / "spec.md"
DEMO = yaml.safe_load((REPO / "jobs" / "sum-of-powers.yaml").read_text())
# The environment the key-by-key spec reads (`{from_env: SWEEP_TOKEN}`).
SPEC_ENV = {"SWEEP_TOKEN": "not-a-secret"}
MINIMAL_SPEC = {
    "name": "doc-example",
    "worker": {"command": "python {worker_dir}/worker.py", "directory": "../worker"},
    "parameters": {"seed": [1, 12]},
}


def ids(selected: list[Block]) -> list[str]:
    return [b.where for b in selected]


def unmarked(*languages: str) -> list[Block]:
    """The blocks of these languages (``shell``: every shell block) that run here."""
    return [
        b
        for b in BLOCKS
        if (b.lang in languages or ("shell" in languages and b.is_shell))
        and (b.marker is None or b.after)
    ]


def yaml_kind(data) -> str:
    """``spec`` (a whole spec), ``fragment`` (some of a spec's top-level keys) or ``other``."""
    top = set(json_schema()["properties"])
    if isinstance(data, dict) and data and set(data) <= top:
        return "spec" if {"name", "worker"} <= set(data) else "fragment"
    return "other"


def merged(base: dict, fragment: dict) -> dict:
    out = dict(base)
    for key, value in fragment.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both else value
    return out


def sandbox(root: Path) -> Path:
    """A clone's layout: jobs/ (the demo spec, also as jobs/sweep.yaml, the name the docs'
    recipes use), worker/ and .venv."""
    shutil.copytree(REPO / "worker", root / "worker", dirs_exist_ok=True)
    (root / "jobs").mkdir(exist_ok=True)
    demo = (REPO / "jobs" / "sum-of-powers.yaml").read_text()
    (root / "jobs" / "sum-of-powers.yaml").write_text(demo)
    (root / "jobs" / "sweep.yaml").write_text(demo.replace("name: sum-of-powers", "name: sweep"))
    if not (root / ".venv").exists():
        (root / ".venv").symlink_to(REPO / ".venv")
    return root


def shell_env(extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), **(extra or {}))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for name in ("SUPERBATCH_STATE_DIR", "SUPERBATCH_BACKEND"):
        env.pop(name, None)
    return env


def run_shell(block: Block, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    script = "\n".join(filter(None, [block.after, *command_lines(block)]))
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"{block.where}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    )
    return proc


# --- every block is checked here, or marked with a reason ----------------------------------


@pytest.mark.parametrize("block", BLOCKS, ids=ids(BLOCKS))
def test_every_block_is_checked_here_or_marked_with_a_reason(block):
    if block.not_run is not None:
        assert block.not_run, f"{block.where}: 'not run' without a reason"
        return
    if block.checked_by is not None:
        test_file = REPO / block.checked_by.split("::")[0]
        assert test_file.is_file(), f"{block.where}: no test file {block.checked_by}"
        assert block.doc.name in test_file.read_text(), (
            f"{block.where}: {block.checked_by} does not read {block.doc.name}"
        )
        return
    assert block.marker is None or block.after, f"{block.where}: unknown marker {block.marker!r}"
    handled = (
        block.lang == "python"
        or block.is_shell
        or (block.lang == "yaml" and yaml_kind(yaml.safe_load(block.text)) != "other")
    )
    assert handled, (
        f"{block.where}: this test cannot check a {block.lang or 'unlabelled'} block like this "
        "one; mark it (<!-- example: not run: why --> or <!-- example: checked by FILE -->)"
    )


SHELLISH = [b for b in BLOCKS if b.is_shell or b.lang == "make"]


@pytest.mark.parametrize("block", SHELLISH, ids=ids(SHELLISH))
def test_every_superbatch_command_line_names_existing_commands_and_options(block):
    for argv in superbatch_invocations(block):
        assert not unknown_words(argv), f"{block.where}: superbatch {' '.join(argv)}"


# --- YAML -------------------------------------------------------------------------------------


YAMLS = [b for b in BLOCKS if b.lang == "yaml"]


@pytest.mark.parametrize("block", YAMLS, ids=ids(YAMLS))
def test_every_yaml_block_parses(block):
    yaml.safe_load(block.text)


def spec_file(block: Block, root: Path) -> Path:
    """A whole spec as written (comments, lines, relative paths) in ``root/jobs``, or a
    fragment merged into a minimal spec."""
    data = yaml.safe_load(block.text)
    if yaml_kind(data) == "spec":
        spec = root / "jobs" / f"{data['name']}.yaml"
        spec.write_text(block.text)
    else:
        spec = root / "jobs" / "doc-example.yaml"
        spec.write_text(yaml.safe_dump(merged(MINIMAL_SPEC, data), sort_keys=False))
    return spec


@pytest.mark.parametrize("block", unmarked("yaml"), ids=ids(unmarked("yaml")))
def test_yaml_specs_and_fragments_validate_and_plan(block, tmp_path):
    kind = yaml_kind(yaml.safe_load(block.text))
    spec = spec_file(block, sandbox(tmp_path))
    for command in ("validate", "plan"):
        result = invoke(command, spec, env=SPEC_ENV)
        assert result.code == 0, f"{block.where} ({kind}): {command}: {result.stderr}"


def run_steps(data) -> list[str]:
    """The ``run:`` scripts of a workflow's steps, wherever they sit."""
    if isinstance(data, dict):
        found = [v for k, v in data.items() if k == "run" and isinstance(v, str)]
        return found + [s for v in data.values() for s in run_steps(v)]
    if isinstance(data, list):
        return [s for v in data for s in run_steps(v)]
    return []


@pytest.mark.parametrize("block", YAMLS, ids=ids(YAMLS))
def test_superbatch_lines_of_workflows_name_existing_commands_and_options(block):
    for script in run_steps(yaml.safe_load(block.text)):
        as_shell = Block(block.doc, block.line, "sh", script, None)
        for argv in superbatch_invocations(as_shell):
            assert not unknown_words(argv), f"{block.where}: superbatch {' '.join(argv)}"


# --- Python -----------------------------------------------------------------------------------


PYTHONS = [b for b in BLOCKS if b.lang == "python"]


@pytest.mark.parametrize("block", PYTHONS, ids=ids(PYTHONS))
def test_every_python_block_compiles(block):
    compile(block.text, block.where, "exec")


def worker_directory(root: Path) -> Path:
    """A task's working directory for the demo's first point: the worker's files and the
    contract's inputs (config from the demo's globals, one point)."""
    from superbatch.contract import names as contract

    shutil.copytree(REPO / "worker", root, dirs_exist_ok=True)
    joblib.dump(DEMO["globals"], root / contract.GLOBAL_CONFIG_FILE)
    joblib.dump({"seed": DEMO["parameters"]["seed"][0]}, root / contract.TASK_INPUTS_FILE)
    return root


@pytest.mark.parametrize("block", unmarked("python"), ids=ids(unmarked("python")))
def test_python_blocks_run(block, tmp_path):
    from superbatch.contract import names as contract

    workdir = worker_directory(tmp_path)
    is_worker = bool(re.search(r"load\((TASK_INPUTS_FILE|.inputs\.)", block.text))
    (tmp_path / "example.py").write_text(block.text)
    proc = subprocess.run(
        [sys.executable, "example.py"],
        cwd=workdir,
        env=shell_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"{block.where}: {proc.stderr}"
    if is_worker:
        out = joblib.load(workdir / contract.TASK_OUTPUTS_FILE)
        assert out == pytest.approx(seed_loop(seeds=(DEMO["parameters"]["seed"][0],)))


@pytest.mark.parametrize("index", [0, 1], ids=["the-loop", "superbatch-map"])
def test_the_readme_loops_print_the_demo_result(tmp_path, index):
    loop = [b for b in PYTHONS if b.doc.name == "README.md"][index]
    proc = subprocess.run(
        [sys.executable, "-c", loop.text],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == pytest.approx(seed_loop())


def test_the_worker_contract_block_is_the_contract():
    from superbatch.contract import names as contract

    (names,) = [
        b for b in PYTHONS if b.doc.name == "worker.md" and "GLOBAL_CONFIG_FILE =" in b.text
    ]
    written: dict = {}
    exec(names.text, written)
    for name, value in written.items():
        if not name.startswith("__"):
            assert getattr(contract, name) == value, name


# --- shell --------------------------------------------------------------------------------------


def is_azure(block: Block) -> bool:
    return "--backend azure" in block.text


LOCAL_SHELL = [b for b in unmarked("shell") if not is_azure(b)]
LOCAL_DOCS = sorted({b.doc for b in LOCAL_SHELL})


@pytest.mark.parametrize("doc", LOCAL_DOCS, ids=[d.name for d in LOCAL_DOCS])
def test_shell_blocks_run_locally_in_one_sandbox_per_file(doc, tmp_path):
    root = sandbox(tmp_path)
    for block in (b for b in LOCAL_SHELL if b.doc == doc):
        run_shell(block, root, shell_env({"HOME": str(tmp_path)}))


def test_azure_shell_blocks_run_against_the_emulator_and_azurite(demo_rig):  # noqa: F811
    selected = [b for b in unmarked("shell") if is_azure(b)]
    assert selected, "no azure shell block left to run: drop this test or its marker"
    (demo_rig.root / ".venv").symlink_to(REPO / ".venv")
    env = shell_env({**demo_rig.env, "HOME": str(demo_rig.root)})
    azure_env = {**demo_rig.env, **SPEC_ENV}
    for block in unmarked("yaml"):  # the fragments and specs also on the azure backend
        data = yaml.safe_load(block.text)
        if "azure" in data or "image" in data.get("worker", {}):
            spec = spec_file(block, sandbox(demo_rig.root / "examples"))
            for command in ("validate", "plan"):
                result = invoke(command, spec, "--backend", "azure", env=azure_env)
                assert result.code == 0, (
                    f"{block.where}: {command} --backend azure: {result.stderr}"
                )
    for block in selected:
        proc = run_shell(block, demo_rig.root, env)
        if "superbatch run " in block.text:
            assert float(proc.stdout.strip().splitlines()[-1]) == pytest.approx(seed_loop())


# --- outputs shown in the docs -----------------------------------------------------------------


def test_the_spec_error_example_is_what_validate_prints(tmp_path):
    (shown,) = [b for b in BLOCKS if b.doc == SPEC_DOC and b.text.startswith("error:")]
    spec = tmp_path / "jobs" / "sweep.yaml"
    spec.parent.mkdir()
    lines = ["name: sweep", "worker:", "  command: python w.py", "parameters:", "  seed: [1]"]
    lines += ["# ..."] * 6 + ["azure:", "  pool:", "    vm_sise: standard_d2s_v3"]
    assert lines[13] == "    vm_sise: standard_d2s_v3"  # line 14, as the example says
    spec.write_text("\n".join(lines) + "\n")
    result = superbatch("validate", "jobs/sweep.yaml", cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.strip().replace(str(tmp_path), "/home/me/sweeps") == shown.text.strip()


def test_the_development_key_shown_is_the_emulators():
    from batch_emulator import DEV_KEY

    doc = REPO / "docs" / "emulator.md"
    (shown,) = [b for b in BLOCKS if b.doc == doc and b.lang == ""]
    assert shown.text.strip() == DEV_KEY


# --- docs/spec.md's key by key ------------------------------------------------------------------


def test_the_key_by_key_block_names_every_key_of_the_schema():
    (key_by_key,) = [b for b in BLOCKS if b.doc == SPEC_DOC and b.lang == "yaml"]
    written = written_paths(key_by_key.text)
    missing = sorted(p for p in schema_paths(json_schema()) if not covers(written, p))
    assert not missing, f"docs/spec.md's key-by-key block lacks: {', '.join(missing)}"
