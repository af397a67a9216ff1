"""Issue 13, parts 4-7: past jobs (jobs, prune), watching (status --watch, wait), the
worker's environment, and defaults from the environment."""

from __future__ import annotations

import json

import fakebackend
from clihelp import invoke, write_spec


def spec(tmp_path, command="double", name="hist", extra=""):
    (tmp_path / "worker").mkdir(exist_ok=True)
    return write_spec(
        tmp_path,
        f"name: {name}\nbackend: fake\nworker: {{command: {command}, "
        f"directory: worker}}\nparameters: {{x: [1, 2, 3]}}\n"
        f"collect: {{reduce: sum, output: out.json}}\n{extra}",
        name=f"{name}.yaml",
    )


def test_jobs_lists_every_submission_newest_first(tmp_path, monkeypatch):
    first = spec(tmp_path, name="one")
    second = spec(tmp_path, "fail-on-2", name="two")
    assert invoke("run", first).code == 0
    assert invoke("run", second).code == 1
    assert invoke("submit", first, "--new").code == 0
    monkeypatch.chdir(tmp_path)
    listed = json.loads(invoke("jobs", "--json").stdout)["jobs"]
    assert [j["spec"].rsplit("/", 1)[1] for j in listed] == ["one.yaml", "two.yaml", "one.yaml"]
    assert listed[1]["state"] == "completed" and listed[1]["failed"] == 1
    assert listed[2]["result_file"].endswith("out.json") and listed[2]["succeeded"] == 3
    of_one = json.loads(invoke("jobs", first, "--json").stdout)["jobs"]
    assert len(of_one) == 2 and all(j["spec"].endswith("one.yaml") for j in of_one)
    human = invoke("jobs").stdout
    assert "JOB" in human and "3/3" in human and "2/3 (1 failed)" in human


def test_prune_says_what_goes_then_deletes_finished_jobs_only(tmp_path, monkeypatch):
    from superbatch.util import clock

    done = spec(tmp_path, name="done")
    held = spec(tmp_path, "hold", name="held")
    monkeypatch.setattr(clock, "now", lambda: 1_000_000.0)
    assert invoke("run", done).code == 0
    fakebackend.HELD.add("all")
    assert invoke("submit", held).code == 0
    monkeypatch.setattr(clock, "now", lambda: 1_000_000.0 + 8 * 86400)
    monkeypatch.chdir(tmp_path)
    dry = invoke("prune", "--older-than", "7d", "--json")
    body = json.loads(dry.stdout)
    assert dry.code == 0 and len(body["would_delete"]) == 1 and len(body["kept_unfinished"]) == 1
    assert "--yes" in dry.stderr and len(list(tmp_path.glob(".superbatch/*/record.json"))) == 2
    assert json.loads(invoke("prune", "--older-than", "9d", "--json").stdout)["would_delete"] == []
    gone = invoke("prune", "--older-than", "7d", "--yes", "--json")
    assert gone.code == 0 and body["would_delete"][0] in json.loads(gone.stdout)["deleted"]
    remaining = [p.parent.name for p in tmp_path.glob(".superbatch/*/record.json")]
    assert remaining == body["kept_unfinished"]
    bad = invoke("prune", "--older-than", "a week")
    assert bad.code == 2 and "--older-than" in bad.stderr


def test_wait_and_watch(tmp_path):
    ok = spec(tmp_path, name="ok")
    assert invoke("submit", ok).code == 0
    waited = invoke("wait", ok, "--json")
    assert waited.code == 0 and json.loads(waited.stdout)["succeeded"] == 3
    watched = invoke("status", ok, "--watch", "--interval", "0.1")
    assert watched.code == 0 and "3 succeeded" in watched.stdout
    failing = spec(tmp_path, "fail-on-2", name="failing")
    assert invoke("submit", failing).code == 0
    assert invoke("wait", failing).code == 1


def test_wait_times_out_with_its_own_exit_code(tmp_path):
    held = spec(tmp_path, "hold", name="held")
    fakebackend.HELD.add("all")
    assert invoke("submit", held).code == 0

    original = fakebackend.FakeBackend.wait
    fakebackend.FakeBackend.wait = lambda self, timeout, progress: self.status()
    try:
        result = invoke("wait", held, "--timeout", "0.1", "--json")
    finally:
        fakebackend.FakeBackend.wait = original
    assert result.code == 4 and "not finished" in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 4


def test_worker_env_values_and_names_from_the_environment(tmp_path):
    from superbatch.spec.load import load_spec
    from superbatch.spec.workerenv import resolve_env

    path = spec(tmp_path, extra="")
    path.write_text(
        path.read_text().replace(
            "directory: worker}",
            "directory: worker, env: {MODE: fast, N: 3, FLAG: true, TOKEN: {from_env: MY_TOKEN}}}",
        )
    )
    model = load_spec(path).model.worker
    missing = invoke("validate", path)
    assert missing.code == 2 and "TOKEN (from MY_TOKEN)" in missing.stderr
    env = {"MY_TOKEN": "s3cret-token-value"}
    assert invoke("validate", path, env=env).code == 0
    import os

    os.environ["MY_TOKEN"] = "s3cret-token-value"
    try:
        assert resolve_env(model) == {
            "MODE": "fast",
            "N": "3",
            "FLAG": "true",
            "TOKEN": "s3cret-token-value",
        }
    finally:
        del os.environ["MY_TOKEN"]
    run = invoke("run", path, "--json", env=env)
    assert run.code == 0
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert b"s3cret-token-value" not in file.read_bytes(), file


def test_reserved_and_malformed_env_names_are_refused(tmp_path):
    path = spec(tmp_path)
    for env, word in (
        ("{AZ_BATCH_X: 1}", "set by superbatch"),
        ("{'1X': 1}", "worker.env"),
        ("{X: {from_env: 'not a name'}}", "from_env"),
    ):
        path.write_text(
            path.read_text().split("worker:")[0] + "worker: {command: double, "
            f"directory: worker, env: {env}}}\nparameters: {{x: [1]}}\n"
        )
        result = invoke("validate", path)
        assert result.code == 2 and word in result.stderr, (env, result.stderr)
