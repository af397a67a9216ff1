"""Issue 22: the YAML bounds count what the data is, not how it is written. Depth is the
data's (a chain of merge keys is not nesting; an alias is as deep as what it repeats), the
expanded size counts text too (an alias bomb of long strings), and a spec too large to hold
is refused with one paragraph pointing at `points_file`, never a MemoryError traceback."""

from __future__ import annotations

import json
import subprocess
import sys

from clihelp import REPO, invoke, write_spec

HEAD = "name: b\nworker: {command: 'python w.py'}\nparameters: {x: [1]}\n"


def refused(result, *words: str) -> None:
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("error: ") == 1
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def test_seventy_chained_merge_keys_are_three_levels_deep(tmp_path):
    chain = "".join(
        f"    d{i}: &d{i}\n      <<: *d{i - 1}\n      a{i}: {i}\n" for i in range(1, 70)
    )
    text = HEAD + "globals:\n  defs:\n    d0: &d0 {a0: 0}\n" + chain + "  all:\n    <<: *d69\n"
    result = invoke("plan", write_spec(tmp_path, text), "--json")
    assert result.code == 0, result.stderr
    merged = json.loads(result.stdout)["globals"]["all"]
    assert merged == {f"a{i}": i for i in range(70)}


def test_merging_a_list_of_mappings_adds_no_level(tmp_path):
    bases = "".join(f"    m{i}: &m{i} {{k{i}: {i}}}\n" for i in range(3))
    text = HEAD + "globals:\n  defs:\n" + bases + "  all: {<<: [*m0, *m1, *m2], own: 1}\n"
    result = invoke("plan", write_spec(tmp_path, text), "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["globals"]["all"] == {"k0": 0, "k1": 1, "k2": 2, "own": 1}


def test_an_alias_is_as_deep_as_what_it_repeats(tmp_path):
    deep = "[" * 40 + "1" + "]" * 40
    # c is walked before b: the node is first met shallow, then repeated 40 levels down
    text = HEAD + f"globals:\n  a: &a {deep}\n  b: {'[' * 40}*a{']' * 40}\n  c: *a\n"
    refused(invoke("validate", write_spec(tmp_path, text)), "line 5", "nested more than 64")


def test_an_alias_bomb_of_long_strings_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "w.py").write_text("print(1)\n")
    refs = ", ".join(["*s"] * 700)
    text = HEAD + f"globals:\n  big: &s {'x' * 100_000}\n  refs: [{refs}]\n"
    spec = write_spec(tmp_path, text)
    assert spec.stat().st_size < 110_000
    for command in ("validate", "run"):
        refused(invoke(command, spec), "line 6", "expands to more than 64 MiB of text")
    assert not (tmp_path / ".superbatch").exists()


def test_long_strings_without_aliases_are_fine(tmp_path):
    text = HEAD + "globals:\n" + "".join(f"  s{i}: {'y' * 100_000}\n" for i in range(20))
    assert invoke("validate", write_spec(tmp_path, text)).code == 0


def validate_limited(spec, kilobytes: int):
    """`superbatch validate --json` in a subprocess whose address space is limited."""
    command = f"ulimit -v {kilobytes}; exec {sys.executable} -m superbatch validate {spec} --json"
    done = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    return done


def test_a_spec_of_three_million_values_is_refused_in_little_memory(tmp_path):
    values = ", ".join(map(str, range(3_000_000)))
    spec = write_spec(tmp_path, f"name: b\nworker: {{command: c}}\nparameters:\n  x: [{values}]\n")
    assert spec.stat().st_size > 25_000_000
    done = validate_limited(spec, 1_200_000)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("error: ") == 1
    assert "more than 500,000 values" in done.stderr and "points_file" in done.stderr
    body = json.loads(done.stdout)
    assert body["ok"] is False and body["exit_code"] == 2


def test_running_out_of_memory_while_loading_is_one_paragraph(tmp_path):
    values = ", ".join(map(str, range(450_000)))  # below the count, above the memory
    spec = write_spec(tmp_path, f"name: b\nworker: {{command: c}}\nparameters:\n  x: [{values}]\n")
    done = validate_limited(spec, 200_000)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("error: ") == 1
    assert "too large to read in the memory" in done.stderr and "points_file" in done.stderr
    assert json.loads(done.stdout)["exit_code"] == 2
