"""The job spec: strict validation with file, line and field in every error (exit 2)."""

import json

import pytest
from clihelp import REPO, invoke, write_spec

from superbatch.errors import SpecError
from superbatch.spec.load import load_spec

GOOD = """\
name: demo
worker:
  command: python {worker_dir}/worker.py
  directory: .
parameters:
  seed: [1, 2]
"""


def error_of(tmp_path, text):
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value), path


def test_demo_spec_is_valid():
    spec = load_spec(REPO / "jobs" / "sum-of-powers.yaml")
    assert spec.model.name == "sum-of-powers"
    assert spec.model.parameters == {"seed": [1, 12, 123, 1234]}
    assert spec.model.collect.reduce == "sum"


def test_unknown_key_suggests_the_closest_and_names_line(tmp_path):
    msg, path = error_of(tmp_path, GOOD + "tasks:\n  max_retrys: 3\n")
    assert f"{path}, line 8" in msg
    assert "tasks.max_retrys" in msg
    assert "did you mean 'max_retries'?" in msg


def test_nested_unknown_key_in_azure_section(tmp_path):
    msg, path = error_of(tmp_path, GOOD + "azure:\n  pool:\n    vm_sise: x\n")
    assert f"{path}, line 9: azure.pool.vm_sise" in msg
    assert "'vm_size'" in msg


def test_missing_required_field_names_its_parent_line(tmp_path):
    msg, path = error_of(tmp_path, "name: demo\nworker:\n  directory: .\nparameters: {a: [1]}\n")
    assert f"{path}, line 2: worker: give exactly one of worker.command" in msg
    msg, path = error_of(tmp_path, "worker:\n  command: x\nparameters: {a: [1]}\n")
    assert f"{path}, line 1: name: required field is missing" in msg


@pytest.mark.parametrize(
    "worker, wanted",
    [
        ("{command: x, function: 'm:f'}", "give exactly one of worker.command"),
        ("{function: 'm:f', isolation: process}", "isolation: process runs a command"),
        ("{command: x, fork: false, isolation: task}", "fork: false (deprecated) means"),
        ("{function: 'my-module:f'}", "worker.function"),
        ("{command: x, isolation: thread}", "worker.isolation"),
    ],
)
def test_how_a_worker_runs_is_checked(tmp_path, worker, wanted):
    msg, path = error_of(tmp_path, f"name: demo\nworker: {worker}\nparameters: {{a: [1]}}\n")
    assert f"{path}, line 2: " in msg and wanted in msg, msg


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    msg, path = error_of(tmp_path, "name: demo\nworker: [unclosed\n")
    assert str(path) in msg and "line 3, column 1" in msg and "YAML syntax error" in msg


def test_duplicate_keys_are_rejected(tmp_path):
    msg, _ = error_of(tmp_path, GOOD + "name: other\n")
    assert "line 7: duplicate key 'name' (first given on line 1)" in msg


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ("name: Bad_Name\n", "name: must be 1-40 lowercase"),
        ("tasks: {points_per_task: 0}\n", "tasks.points_per_task: must be a whole number >= 1"),
        ("tasks: {max_wall_time: 10x}\n", "is not a duration"),
        ("tasks: {max_wall_time: 8d}\n", "7 days"),
        ("collect: {reduce: summ}\n", "did you mean 'sum'?"),
        ("collect: {output: out.txt}\n", "extension must be one of"),
        ("azure: {storage: {container: Bad_Container}}\n", "azure.storage.container"),
        ("azure: {pool: {id: 'bad id'}}\n", "azure.pool.id: must be 1-64 letters"),
        ("points: [{a: 1}]\n", "give only one of parameters, points and points_file"),
    ],
)
def test_invalid_values(tmp_path, snippet, expected):
    text = GOOD if not snippet.startswith("name:") else GOOD.replace("name: demo\n", "")
    msg, _ = error_of(tmp_path, text + snippet)
    assert expected in msg


def test_bad_parameter_shapes(tmp_path):
    msg, _ = error_of(
        tmp_path, GOOD + "  alpha: 5\n  beta: {range: [0, 10, 0]}\n  zip: {a: [1, 2], b: [3]}\n"
    )
    assert "parameters.alpha: expected a list of values" in msg
    assert "parameters.beta.range: the step of a range cannot be 0" in msg
    assert "parameters.zip: zipped keys must have equal lengths (a has 2, b has 1)" in msg


def test_cli_reports_spec_errors_with_exit_2_and_no_traceback(tmp_path):
    path = write_spec(tmp_path, GOOD + "tasks:\n  max_retrys: 3\n")
    for command in ("validate", "plan", "submit", "run"):
        result = invoke(command, path)
        assert result.code == 2, (command, result)
        assert "Traceback" not in result.stderr
        assert "did you mean 'max_retries'?" in result.stderr
    assert not (tmp_path / ".superbatch").exists()  # nothing created


def test_json_error_object_on_stdout(tmp_path):
    path = write_spec(tmp_path, GOOD + "bogus: 1\n")
    result = invoke("validate", path, "--json")
    assert result.code == 2
    body = result.json
    assert body["ok"] is False and body["exit_code"] == 2 and "bogus" in body["error"]


def test_missing_spec_file_is_exit_2(tmp_path):
    result = invoke("validate", tmp_path / "nope.yaml")
    assert result.code == 2 and "no such file" in result.stderr


def test_missing_worker_directory_is_reported_for_local(tmp_path):
    path = write_spec(tmp_path, GOOD.replace("directory: .", "directory: ./missing"))
    result = invoke("validate", path)
    assert result.code == 2
    assert "worker.directory" in result.stderr and "line 4" in result.stderr


def test_azure_without_an_image_ships_the_worker_directory(tmp_path):
    path = write_spec(tmp_path, GOOD)
    assert invoke("validate", path, "--backend", "azure").code == 0  # code mode
    missing = write_spec(tmp_path, GOOD.replace("directory: .", "directory: ./gone"))
    result = invoke("validate", missing, "--backend", "azure")
    assert result.code == 2 and "worker.directory" in result.stderr
    assert "code mode" in result.stderr


def test_schema_is_valid_json_schema_and_checks_the_demo():
    import jsonschema
    import yaml

    result = invoke("schema")
    assert result.code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    demo = yaml.safe_load((REPO / "jobs" / "sum-of-powers.yaml").read_text())
    jsonschema.validate(demo, schema)
    assert "worker" in schema["required"] and "name" in schema["required"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dict(demo, bogus=1), schema)


def test_durations_read_as_the_grammar_says():
    """``1h30m``-style durations: number-unit parts with only blanks around and between them
    (checked against the grammar as one pattern, on every string of these characters)."""
    import itertools
    import re
    from datetime import timedelta

    from superbatch.spec.durations import parse_duration

    grammar = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*([dhms])\s*)+$", re.IGNORECASE)
    for n in range(5):
        for chars in itertools.product(" 1.5hmMx", repeat=n):
            text = "".join(chars)
            try:
                read = parse_duration(text)
            except ValueError:
                read = None
            assert (read is not None) == bool(grammar.match(text.strip())), repr(text)
    assert parse_duration(" 1h 30M ") == timedelta(hours=1, minutes=30)
    assert parse_duration("1.5d2s") == timedelta(days=1.5, seconds=2)
    assert parse_duration("PT1H30M") == parse_duration("P0DT90M") == timedelta(minutes=90)
    for text in ("P", "PT", "1h30", "h", "0s"):
        with pytest.raises(ValueError):
            parse_duration(text)
