"""Every command through the command line, in-process, on the ``fake`` backend: the
commands, the jobs layer and the state directory without a runner or a service."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import fakebackend
import pytest
from clihelp import invoke, write_spec


def fake_spec(
    tmp_path: Path, command: str = "double", points: int = 4, extra: str = "", reduce: str = "list"
) -> Path:
    (tmp_path / "worker").mkdir(exist_ok=True)
    return write_spec(
        tmp_path,
        f"name: fk\nbackend: fake\nworker: {{command: {command}, "
        f"directory: worker}}\nglobals: {{scale: 2}}\n"
        f"parameters: {{x: {{range: [{points}]}}}}\n"
        f"collect: {{reduce: {reduce}}}\n{extra}",
    )


def jobs(spec: Path) -> list[str]:
    return sorted(p.parent.name for p in (spec.parent / ".superbatch").glob("*/record.json"))


def test_run_collect_status_and_reuse(tmp_path):
    spec = fake_spec(tmp_path)
    first = invoke("run", spec, "--json")
    assert first.code == 0 and json.loads(first.stdout)["result"] == [0, 2, 4, 6]
    again = invoke("run", spec, "--json")
    assert json.loads(again.stdout)["result"] == [0, 2, 4, 6]
    assert "reusing job" in again.stderr and len(jobs(spec)) == 1
    status = invoke("status", spec, "--json")
    assert status.code == 0 and json.loads(status.stdout)["succeeded"] == 4
    spec.write_text(spec.read_text().replace("reduce: list", "reduce: sum"))
    assert invoke("collect", spec).stdout.strip() == "12"  # a new reducer: the same job


def test_failures_logs_retry_and_allow_missing(tmp_path):
    spec = fake_spec(tmp_path, "fail-on-2")
    run = invoke("run", spec, "--json")
    assert run.code == 1 and "1 of 4 outputs are missing (points 2)" in run.stderr
    status = invoke("status", spec, "--json")
    body = json.loads(status.stdout)
    assert status.code == 1 and body["failures"][0]["task_id"] == "task-00002"
    assert body["failures"][0]["points"] == [{"x": 2}]
    assert "bad point 2" in invoke("logs", spec).stdout
    for missing in ("task-99999", "task-00004"):  # not "has not run (yet)": it never will
        nope = invoke("logs", spec, missing)
        assert nope.code == 2 and f"has no task '{missing}'" in nope.stderr
        assert "task-00000 to task-00003" in nope.stderr
    partial = invoke("collect", spec, "--allow-missing", "--json")
    assert json.loads(partial.stdout)["result"] == [0, 2, 6]
    bad = invoke("retry", spec, "task-00001")
    assert bad.code == 2 and "not failed" in bad.stderr
    retried = invoke("retry", spec, "--json")
    assert json.loads(retried.stdout)["requeued"] == ["task-00002"]
    assert invoke("status", spec).code == 1  # still failing: the worker did not change


def test_cancel_then_retry_runs_what_never_ran(tmp_path):
    spec = fake_spec(tmp_path, "hold")
    fakebackend.HELD.add("all")
    assert invoke("submit", spec).code == 0
    assert invoke("cancel", spec).code == 0
    collect = invoke("collect", spec)
    assert collect.code == 1 and "cancelled" in collect.stderr and "retry" in collect.stderr
    fakebackend.HELD.clear()
    retried = invoke("retry", spec, "--json")
    assert json.loads(retried.stdout)["requeued"] == [f"task-{i:05d}" for i in range(4)]
    assert json.loads(invoke("collect", spec, "--json").stdout)["result"] == [0, 1, 2, 3]


def test_delete_removes_the_state_and_only_it(tmp_path):
    spec = fake_spec(tmp_path)
    assert invoke("run", spec).code == 0
    refused = invoke("delete", spec)
    assert refused.code == 2 and "--yes" in refused.stderr
    deleted = invoke("delete", spec, "--yes", "--json")
    assert deleted.code == 0 and "fake service job" in json.loads(deleted.stdout)["deleted"]
    assert jobs(spec) == [] and (tmp_path / "worker").is_dir() and spec.exists()


def test_latest_is_the_order_of_submission_even_with_the_clock_set_back(tmp_path, monkeypatch):
    from superbatch.util import clock

    spec = fake_spec(tmp_path)
    monkeypatch.setattr(clock, "now", lambda: 2_000_000_000.0)
    first = json.loads(invoke("submit", spec, "--json").stdout)["job_id"]
    monkeypatch.setattr(clock, "now", lambda: 1_000_000_000.0)  # set back by years
    second = json.loads(invoke("submit", spec, "--new", "--json").stdout)["job_id"]
    assert first != second
    assert json.loads(invoke("status", spec, "--json").stdout)["job_id"] == second


def test_concurrent_submits_join_one_job(tmp_path):
    from superbatch.jobs import lifecycle
    from superbatch.jobs.context import make_context
    from superbatch.spec.load import load_spec

    spec = fake_spec(tmp_path, points=200)
    results, errors = [], []

    def submit():
        try:
            ctx = make_context(load_spec(spec), None, None)
            results.append(lifecycle.submit(ctx)[0].job_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and len(jobs(spec)) == 1


def test_a_changed_computation_is_named_and_never_answered_for(tmp_path):
    spec = fake_spec(tmp_path)
    assert invoke("run", spec).code == 0
    (tmp_path / "worker" / "helper.txt").write_text("new")
    stale = invoke("collect", spec)
    assert stale.code == 2 and "added: helper.txt" in stale.stderr
    assert ".superbatchignore" in stale.stderr
    (tmp_path / "worker" / ".superbatchignore").write_text("helper.txt\n")
    assert invoke("collect", spec).code == 2  # the ignore file itself is new
    fresh = invoke("run", spec, "--json")
    assert fresh.code == 0 and "reusing" not in fresh.stderr and len(jobs(spec)) == 2


def test_environment_defaults_and_flags(tmp_path):
    spec = fake_spec(tmp_path)
    state = tmp_path / "elsewhere"
    result = invoke("run", spec, env={"SUPERBATCH_STATE_DIR": str(state)})
    assert result.code == 0 and list(state.glob("*/record.json"))
    flag = tmp_path / "flagged"
    invoke("run", spec, "--state-dir", flag, env={"SUPERBATCH_STATE_DIR": str(state)})
    assert list(flag.glob("*/record.json"))  # the flag wins over the variable


@pytest.mark.parametrize("command", ["status", "collect", "logs", "retry", "cancel"])
def test_commands_on_an_unsubmitted_spec_say_what_to_do(tmp_path, command):
    spec = fake_spec(tmp_path)
    result = invoke(command, spec, "--json")
    assert result.code == 2 and "has not been submitted" in result.stderr
    assert json.loads(result.stdout)["ok"] is False


def test_ctrl_c_while_the_command_line_loads_is_an_interrupt_not_a_traceback(monkeypatch, capsys):
    """Regression: the console script imported click and pydantic before any handler existed,
    so Ctrl-C in the first tenth of a second printed a KeyboardInterrupt traceback."""
    import builtins
    import sys

    from superbatch import entry

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "superbatch.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "superbatch.cli", raising=False)
    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as ended:
        entry.main()
    assert ended.value.code == 130
    err = capsys.readouterr().err
    assert err == "superbatch: interrupted while starting; nothing was done.\n"


def test_an_allowed_class_that_cannot_be_imported_says_so(tmp_path, monkeypatch):
    """Regression: a class listed in allow_pickle whose module is not importable where
    collect runs was reported as a damaged file ("delete it and collect again")."""
    import sys

    spec = fake_spec(tmp_path, command="foreign", points=2, extra="")
    spec.write_text(
        spec.read_text().replace("reduce: list}", "reduce: list, allow_pickle: [sbforeign.*]}")
    )
    assert invoke("submit", spec).code == 0
    monkeypatch.delitem(sys.modules, "sbforeign", raising=False)
    collected = invoke("collect", spec)
    assert collected.code == 1
    assert "module 'sbforeign'" in collected.stderr
    assert "cannot be imported" in collected.stderr and "PYTHONPATH" in collected.stderr
    assert "delete it" not in collected.stderr


def test_a_state_directory_that_cannot_be_written_points_at_state_dir(tmp_path, monkeypatch):
    """Regression: a read-only spec directory said only "Permission denied". The tests run as
    root, for whom permission bits do not deny, so the refusal is injected (a mock of the one
    system call, for a condition this machine cannot produce)."""
    spec = fake_spec(tmp_path)
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if ".superbatch" in self.parts and not str(self).startswith(str(tmp_path / "elsewhere")):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    denied = invoke("submit", spec)
    assert denied.code == 2
    assert "Permission denied" in denied.stderr and "--state-dir" in denied.stderr
    elsewhere = tmp_path / "elsewhere" / ".superbatch"
    assert invoke("run", spec, "--state-dir", elsewhere).code == 0


def test_collect_and_run_reduce_again_with_another_reducer(tmp_path):
    spec = fake_spec(tmp_path, extra="")
    spec.write_text(spec.read_text().replace("reduce: list}", "reduce: list, output: out.json}"))
    assert json.loads(invoke("run", spec, "--json").stdout)["result"] == [0, 2, 4, 6]
    summed = invoke("collect", spec, "--reduce", "sum", "--json")
    assert summed.code == 0 and json.loads(summed.stdout)["result"] == 12
    assert json.loads((tmp_path / "out.json").read_text()) == [0, 2, 4, 6]  # the spec's own
    mean = invoke("run", spec, "--reduce", "mean", "--output", tmp_path / "mean.json")
    assert mean.code == 0 and mean.last_line == "3.0" and "reusing job" in mean.stderr
    assert json.loads((tmp_path / "mean.json").read_text()) == 3.0
    assert len(jobs(spec)) == 1
    bad = invoke("collect", spec, "--reduce", "summ")
    assert bad.code == 2 and "--reduce: unknown reducer 'summ'" in bad.stderr
    assert "did you mean 'sum'" in bad.stderr


def test_a_copy_of_the_spec_that_differs_in_collect_finds_the_job(tmp_path):
    spec = fake_spec(tmp_path)
    assert invoke("run", spec).code == 0
    copy = tmp_path / "copy.yaml"
    copy.write_text(spec.read_text().replace("reduce: list", "reduce: sum"))
    collected = invoke("collect", copy)
    assert collected.code == 0 and collected.last_line == "12"
    assert f"submitted from {spec}" in collected.stderr
    again = invoke("run", copy, "--json")
    assert json.loads(again.stdout)["result"] == 12 and json.loads(again.stdout)
    assert "reusing job" in again.stderr and len(jobs(spec)) == 1
    other = tmp_path / "other.yaml"  # another computation is not matched
    other.write_text(copy.read_text().replace("scale: 2", "scale: 3"))
    assert invoke("collect", other).code == 2


def test_logs_follow_prints_what_the_task_wrote_and_refuses_json(tmp_path):
    spec = fake_spec(tmp_path, command="fail-on-2")
    assert invoke("run", spec).code == 1
    followed = invoke("logs", spec, "task-00002", "--follow", "--stream", "stderr")
    assert followed.code == 0 and "bad point 2" in followed.stderr
    refused = invoke("logs", spec, "task-00002", "--follow", "--json")
    assert refused.code == 2 and "--follow" in refused.stderr


def test_progress_bars_show_in_a_notebook_and_never_in_ci(monkeypatch):
    import sys
    import types

    from superbatch.util.bars import Progress

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not Progress().enabled  # pytest's stderr is not a terminal
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert Progress().enabled
    monkeypatch.setenv("CI", "true")
    assert not Progress().enabled
