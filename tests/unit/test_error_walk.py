"""Issue 10, part 2: every failure found by the outside pass is one paragraph, the documented
exit code, and under --json one JSON object on stdout. In-process (click's CliRunner), so the
--json decision is the click context's, not sys.argv's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from superbatch.cli import cli

WORKER = (
    "import joblib, os\nx = joblib.load('inputs.pickle')['x']\n"
    "kind = os.environ.get('KIND', 'num')\n"
    "out = {'num': x, 'str': str(x), 'map': {'x': x}, 'ragged': list(range(x + 1))}[kind]\n"
    "joblib.dump(out, 'outputs.pickle')\n"
)


def invoke(*args, env=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    return result


def check(result, code: int, *words: str, as_json: bool = False):
    """Exit ``code``, one `error:` paragraph naming ``words``, no traceback; JSON if asked."""
    assert result.exit_code == code, (
        result.exit_code,
        result.stdout,
        result.stderr,
        result.exception,
    )
    err = result.stderr
    assert "Traceback" not in err + result.stdout
    assert err.count("error: ") == 1 and err.startswith("error: ") or "\nerror: " in err, err
    for word in words:
        assert word in err, (word, err)
    if as_json:
        body = json.loads(result.stdout)  # exactly one JSON object
        assert body["ok"] is False and body["exit_code"] == code and body["error"]


def spec_file(directory: Path, text: str, name: str = "job.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "w.py").write_text(WORKER)
    path = directory / name
    path.write_text(text)
    return path


def base(reduce: str = "list", extra: str = "", fmt: str = "joblib") -> str:
    return (
        f"name: walk\nworker: {{command: 'python {{worker_dir}}/w.py', format: {fmt}}}\n"
        f"parameters: {{x: [1, 2, 3]}}\ncollect: {{reduce: '{reduce}'}}\n{extra}"
    )


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """A finished local job per output kind; collect is re-run with other reducers."""
    jobs = {}
    for kind in ("num", "str", "map", "ragged"):
        spec = spec_file(tmp_path_factory.mktemp(kind), base())
        for name, source in REDUCERS.items():  # beside the spec before the job runs
            (spec.parent / name).write_text(source)
        result = invoke("run", spec, env={"KIND": kind})
        assert result.exit_code == 0, result.stderr
        jobs[kind] = spec
    return jobs


def with_collect(spec: Path, collect: str) -> Path:
    text = spec.read_text()
    spec.write_text(text[: text.index("collect:")] + f"collect: {collect}\n")
    return spec


@pytest.mark.parametrize(
    "kind, collect, words",
    [
        ("str", "{reduce: sum}", ["'sum' failed at point 0", "TypeError"]),
        ("ragged", "{reduce: stack}", ["'stack' failed", "ValueError"]),
        ("map", "{reduce: mean}", ["'mean' failed", "TypeError"]),
    ],
)
def test_a_reducer_that_cannot_combine_the_outputs(ran, kind, collect, words):
    spec = with_collect(ran[kind], collect)
    check(invoke("collect", spec, "--json"), 2, *words, "and run `superbatch collect", as_json=True)
    with_collect(spec, "{reduce: list}")


REDUCERS = {
    "boom.py": "def f(values):\n    raise KeyError('nope')\n",
    "broken.py": "def f(values:\n",
    "obj.py": "def f(values):\n    return object()\n",
}


def test_custom_reducers_that_raise_or_do_not_import(ran):
    spec = ran["num"]
    check(
        invoke("collect", with_collect(spec, "{reduce: 'boom:f'}"), "--json"),
        2,
        "'boom:f' failed",
        "KeyError",
        as_json=True,
    )
    check(
        invoke("collect", with_collect(spec, "{reduce: 'broken:f'}"), "--json"),
        2,
        "syntax error",
        as_json=True,
    )
    check(
        invoke("validate", with_collect(spec, "{reduce: 'absent_mod:f'}"), "--json"),
        2,
        "cannot import module 'absent_mod'",
        as_json=True,
    )
    with_collect(spec, "{reduce: list}")


def test_results_no_format_can_hold(ran, tmp_path):
    spec = ran["map"]
    check(
        invoke("collect", with_collect(spec, "{reduce: 'obj:f'}"), "--json"),
        2,
        "cannot be written as JSON",
        as_json=True,
    )
    check(
        invoke("collect", with_collect(spec, "{reduce: list}"), "-o", tmp_path / "r.npy"),
        2,
        "cannot be written as .npy",
        ".pkl",
    )
    assert not (tmp_path / "r.npy").exists()


@pytest.mark.parametrize(
    "target, words",
    [("result.txt", ["result.txt", ".json"]), ("/proc/x.json", ["cannot write /proc/x.json"])],
)
def test_unwritable_or_unknown_output_is_refused_before_running(tmp_path, target, words):
    spec = spec_file(tmp_path, base())
    check(invoke("run", spec, "-o", target, "--json"), 2, *words, as_json=True)
    assert not (tmp_path / ".superbatch").exists()  # nothing ran


def test_init_where_nothing_can_be_written(tmp_path):
    check(invoke("init", "/proc/x", "--json"), 2, "/proc/x", as_json=True)


@pytest.mark.parametrize(
    "text, words",
    [
        (
            "name: n\nworker: {command: x}\nparameters: {x: [1]}\nglobals: "
            + "[" * 900
            + "]" * 900,
            ["nested"],
        ),
        (
            "name: n\nworker: {command: x}\nparameters: {x: [1]}\nglobals:\n  ? [a, b]\n  : 1\n",
            ["line 5", "a key must be a plain value"],
        ),
        (
            "name: n\nworker: {command: x}\nparameters: {x: {range: [0, 99999999999999999999999]}}\n",
            ["parameters.x"],
        ),
        ("name: n\nworker: {command: x}\nparameters: {x: {range: [0, .inf]}}\n", ["finite"]),
        ("name: n\nworker: {command: x}\nparameters: {x: {range: [0, 1, .nan]}}\n", ["finite"]),
        ("name: n\nworker: {command: x}\nparameters: {x: {range: [0, 1e400]}}\n", ["finite"]),
        (
            "name: n\nworker: {command: x}\nparameters: {x: {linspace: [0, 1, 100000000000000000000]}}\n",
            ["parameters.x", "more values than can be counted"],
        ),
        (
            "name: n\nworker: {command: x}\nparameters: {x: {linspace: [0, 1, 100000000000]}}\n",
            ["100,000,000,000 points", "tasks.max_points"],
        ),
        (
            "name: n\nworker: {command: x, format: json}\nglobals: {when: 2024-01-02}\n"
            "parameters: {x: [1]}\n",
            ["line 3", "globals.when", "date"],
        ),
        (
            "name: n\nworker: {command: x}\nparameters: {x: [1]}\ntasks: {max_retries: 1000000000000}\n",
            ["tasks.max_retries"],
        ),
        (
            "name: n\nworker: {command: x}\nparameters: {x: [1]}\nazure: {pool: {dedicated_nodes: "
            "1000000000000}}\n",
            ["azure.pool.dedicated_nodes"],
        ),
        (
            "name: n\nworker: {command: x}\nparameters: {x: {range: [1000000000]}}\n",
            ["1,000,000,000 points", "tasks.max_points"],
        ),
        (
            "a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
            "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
            "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
            "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
            ["expands to more than"],
        ),
    ],
)
def test_hostile_or_broken_specs(tmp_path, text, words):
    spec = spec_file(tmp_path, text)
    check(invoke("validate", spec, "--json"), 2, *words, as_json=True)
    check(invoke("submit", spec), 2, *words)
    assert not (tmp_path / ".superbatch").exists()


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("p.csv", b"x\n\xff\xfe\n", ["not UTF-8"]),
        ("p.jsonl", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", ["line 1", "nested"]),
        ("p.csv", b"x,y\n1\n", ["line 2", "1 values for 2 columns"]),
    ],
)
def test_bad_points_files(tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content)
    spec = spec_file(tmp_path, f"name: n\nworker: {{command: x}}\npoints_file: {name}\n")
    check(invoke("validate", spec, "--json"), 2, *words, as_json=True)


def test_points_file_symlink_loop(tmp_path):
    os.symlink(tmp_path / "b.csv", tmp_path / "a.csv")
    os.symlink(tmp_path / "a.csv", tmp_path / "b.csv")
    spec = spec_file(tmp_path, "name: n\nworker: {command: x}\npoints_file: a.csv\n")
    check(invoke("validate", spec, "--json"), 2, "points_file", as_json=True)


def test_a_csv_cell_over_128_kib_and_a_byte_order_mark(tmp_path):
    (tmp_path / "p.csv").write_bytes(b"\xef\xbb\xbfx,text\n1," + b"a" * 200_000 + b"\n")
    spec = spec_file(tmp_path, "name: n\nworker: {command: x}\npoints_file: p.csv\n")
    result = invoke("plan", spec, "--json")
    assert result.exit_code == 0, result.stderr
    point = json.loads(result.stdout)["shown"][0]["inputs"][0]
    assert set(point) == {"x", "text"} and len(point["text"]) == 200_000  # no "\ufeffx"


def test_damaged_state_never_breaks_other_jobs(ran):
    spec = ran["num"]
    root = spec.parent / ".superbatch"
    (root / "zz-damaged").mkdir()
    (root / "zz-damaged" / "record.json").write_text("{ torn")
    result = invoke("collect", spec, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["result"] == [1, 2, 3]
    assert "zz-damaged" in result.stderr  # said once, as a note
    journal = next(root.glob("walk-*/journal.jsonl"))
    journal.write_bytes(journal.read_bytes() + b'{"task": "task-0')
    assert invoke("status", spec).exit_code == 0


def test_a_sas_connection_string_is_refused_before_anything_exists(tmp_path):
    spec = spec_file(tmp_path, base(extra="").replace("worker: {", "worker: {image: r.io/w:1, "))
    env = {
        "AZURE_BATCH_ENDPOINT": "http://127.0.0.1:9",
        "AZURE_BATCH_ACCOUNT": "a",
        "AZURE_BATCH_ACCESS_KEY": "a2V5",
        "AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=http://127.0.0.1:9/a;"
        "SharedAccessSignature=sv=2024&sig=abc",
    }
    result = invoke("submit", spec, "--backend", "azure", "--json", env=env)
    check(result, 2, "shared access signature", "with AccountKey=..., or", as_json=True)
    assert "sig=abc" not in result.stdout + result.stderr
    assert "REDACTED" not in result.stderr  # the advice is not rewritten as if a key
    assert not (tmp_path / ".superbatch").exists()


def test_the_redactor_keeps_placeholders_and_still_redacts_keys():
    from superbatch.util.redact import redact

    advice = "use AccountKey=..., or a SAS (sig=...)"
    assert redact(advice) == advice
    real = "AccountName=a;AccountKey=a2V5Lw==;x=1 https://h/c?sv=1&sig=c2ln%2B&se=2"
    assert (
        redact(real) == "AccountName=a;AccountKey=REDACTED;x=1 https://h/c?sv=1&sig=REDACTED&se=2"
    )


def test_logs_of_a_task_the_job_does_not_have(ran):
    for missing in ("task-99999", "task-00003"):
        result = invoke("logs", ran["num"], missing, "--json")
        check(result, 2, f"has no task '{missing}'", "task-00000 to task-00002", as_json=True)
        assert "has not run" not in result.stderr


def test_usage_errors_are_json_too():
    check(invoke("validate", "--json", "--nope"), 2, "--nope", as_json=True)
    check(
        invoke("status", "x.yaml", "--job-id", "../..", "--json"), 2, "not a job id", as_json=True
    )
