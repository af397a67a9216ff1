"""6. Bad input to every command gets the contract's exit code and a message that says what to
do, never a traceback."""

from __future__ import annotations

import pytest
from clihelp import superbatch
from relhelpers import job_ids, job_spec
from services import free_port

JOB_COMMANDS = [["status"], ["collect"], ["logs"], ["retry"], ["cancel"], ["delete", "--yes"]]


def check(result, code: int, *words: str):
    assert result.code == code, result
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.stderr.startswith("error: ") or "\nerror: " in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


@pytest.fixture
def local_job(tmp_path):
    spec = job_spec(tmp_path, "bad", 3)
    assert superbatch("run", spec).code == 0
    return spec


def test_missing_spec_and_unsubmitted_job(tmp_path):
    check(superbatch("status", tmp_path / "nope.yaml"), 2, "nope.yaml")
    check(superbatch("run", tmp_path), 2)
    spec = job_spec(tmp_path, "unsubmitted", 3)
    for command in JOB_COMMANDS:
        check(superbatch(command[0], spec, *command[1:]), 2, "superbatch submit")


def test_unknown_job_id_task_id_and_corrupt_state(local_job):
    spec = local_job
    for command in JOB_COMMANDS:
        check(superbatch(command[0], spec, *command[1:], "--job-id", "bad-nope"), 2, "'bad-nope'")
    check(superbatch("logs", spec, "task-99999"), 2, "task-99999", "superbatch status")
    check(superbatch("retry", spec, "task-99999"), 2, "task-99999", "superbatch status")
    check(superbatch("delete", spec), 2, "--yes")
    job_dir = spec.parent / ".superbatch" / job_ids(spec)[0]
    # a corrupt output: exit 1, naming the point and what to do
    (job_dir / "outputs" / "task_1_outputs.pickle").write_bytes(b"not a pickle")
    check(superbatch("collect", spec), 1, "point 1", "the worker writes")
    # an unreadable record: exit 2, saying how to start again
    (job_dir / "record.json").write_text("{ torn")
    check(superbatch("status", spec, "--job-id", job_dir.name), 2, "record", "superbatch delete")


def test_bad_spec_and_arguments_exit_2(tmp_path):
    spec = job_spec(tmp_path, "args", 3)
    spec.write_text(spec.read_text().replace("reduce: list", "reduce: lisst"))
    check(superbatch("validate", spec), 2, "reduce")
    check(superbatch("submit", spec), 2)
    assert not (tmp_path / ".superbatch").exists()
    bad = superbatch("status", spec, "--backend", "cloud")
    assert bad.code == 2 and "Traceback" not in bad.stderr


def test_azure_job_without_credentials_or_service(rig):
    spec = job_spec(rig.root, "azbad", 3, extra="  cleanup: {job: false}\n")
    assert rig.run("run", spec, "--backend", "azure").code == 0
    azure = ["--backend", "azure"]
    check(
        rig.run("status", spec, *azure, env={"AZURE_BATCH_ENDPOINT": ""}), 2, "AZURE_BATCH_ENDPOINT"
    )
    check(
        rig.run("collect", spec, *azure, env={"AZURE_STORAGE_CONNECTION_STRING": ""}),
        2,
        "AZURE_STORAGE",
    )
    check(rig.run("logs", spec, "task-09999", *azure), 2, "task-09999")
    check(rig.run("retry", spec, "task-09999", *azure), 2, "task-09999")
    # another account's endpoint than the job's: exit 2, naming both
    other = {"AZURE_BATCH_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    check(
        rig.run("status", spec, *azure, env=other), 2, "AZURE_BATCH_ENDPOINT", rig.emulator.endpoint
    )
    # the Batch job was deleted behind superbatch's back
    rig.client().begin_delete_job(job_ids(spec)[0], polling_interval=0.1).result()
    check(rig.run("status", spec, *azure), 2, "--new")
    # the service is unreachable: exit 3, saying to run the command again
    rig.emulator.stop()
    quick = {"SUPERBATCH_RETRY_ATTEMPTS": "2", "SUPERBATCH_RETRY_BACKOFF": "0.01"}
    for command in (["status"], ["logs", "task-00000"]):
        check(rig.run(command[0], spec, *command[1:], *azure, env=quick), 3, "again")
