"""Small inputs travel inside the task definition (emulator + Azurite): a task of several
points carries its inputs tar gzip-compressed, as a task of one point carries its point, so
neither needs an inputs blob; the task runner reads it as it is, the shell loop unpacks it
with ``gzip``."""

from __future__ import annotations

import os
import shutil

import pytest
from relhelpers import job_spec
from rigs import make_rig, worker_images

from batch_emulator.images import ImageStandIn
from superbatch.backends.azure.definitions import INPUTS_VAR, NO_GZIP_EXIT

SHELL = "example.azurecr.io/shell:v1"
NO_GZIP = "example.azurecr.io/nogzip:v1"
TOOLS = ("sh", "rm", "base64", "od", "tr", "mv", "tar", "ln", "cp", "cat")  # and no Python
SH_WORKER = "echo $(( $(tr -dc 0-9 < inputs.json) * 2 )) > outputs.json\n"


@pytest.fixture
def shell_rig(azurite, tmp_path):
    """A rig with two images without Python: shell tools and gzip, and shell tools only."""
    images = worker_images(tmp_path / "worker")
    app = {"/app": str((tmp_path / "worker").resolve())}
    for image, tools in ((SHELL, (*TOOLS, "gzip")), (NO_GZIP, TOOLS)):
        folder = tmp_path / image.split("/")[1].split(":")[0]
        folder.mkdir()
        for name in tools:
            os.symlink(shutil.which(name, path="/usr/bin:/bin"), folder / name)
        images[image] = ImageStandIn(mounts=app, path=[str(folder)])
    rig = make_rig(azurite, tmp_path, images=images)
    try:
        yield rig
    finally:
        rig.emulator.stop()


def uploaded_inputs(rig, job_id: str) -> list[str]:
    container = rig.container(f"rel{abs(hash(str(rig.root))) % 10**8}")
    return [b.name for b in container.list_blobs(name_starts_with=f"{job_id}/inputs/")]


def carried_inline(rig, job_id: str, task_id: str) -> bool:
    """Whether the task's definition holds its inputs and names no inputs file to fetch."""
    task = rig.client().get_task(job_id, task_id)
    files = {r.file_path for r in task.resource_files}
    env = {e.name: e.value for e in task.environment_settings}
    return INPUTS_VAR in env and not files & {"inputs.tar", "inputs.json", "inputs.pickle"}


def shell_spec(rig, name: str, image: str, points: int = 6):
    spec = job_spec(
        rig.root,
        name,
        points,
        tasks="{points_per_task: 3, max_retries: 0}",
        extra="  cleanup: {job: false}\n",
    )
    (rig.root / "worker" / "w.sh").write_text(SH_WORKER)
    text = spec.read_text().replace("example.azurecr.io/w:v1", image)
    spec.write_text(
        text.replace(
            "  command: python {worker_dir}/w.py\n",
            "  command: sh {worker_dir}/w.sh\n  format: json\n",
        )
    )
    return spec


def test_a_python_task_of_several_points_uploads_no_inputs_blob(rig):
    spec = job_spec(
        rig.root,
        "inlpy",
        7,
        tasks="{points_per_task: 3, max_retries: 0}",
        extra="  cleanup: {job: false}\n",
    )
    done = rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 0, done.stderr
    assert done.json["result"] == [0, 2, 4, 6, 8, 10, 12]
    job_id = done.json["job_id"]
    assert uploaded_inputs(rig, job_id) == []
    assert all(carried_inline(rig, job_id, f"task-{i:05d}") for i in range(3))


def test_a_shell_loop_of_several_points_uploads_no_inputs_blob(shell_rig):
    spec = shell_spec(shell_rig, "inlsh", SHELL)
    done = shell_rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 0, done.stderr
    assert done.json["result"] == [0, 2, 4, 6, 8, 10]
    job_id = done.json["job_id"]
    assert uploaded_inputs(shell_rig, job_id) == []
    assert carried_inline(shell_rig, job_id, "task-00001")


def test_a_shell_loop_in_an_image_without_gzip_fails_naming_it(shell_rig):
    spec = shell_spec(shell_rig, "nogz", NO_GZIP, points=3)
    done = shell_rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 1
    failure = shell_rig.run("status", spec, "--backend", "azure", "--json").json["failures"][0]
    assert failure["exit_code"] == NO_GZIP_EXIT
    assert "the image needs gzip (or set azure.inline_inputs: false)" in failure["stderr_tail"]


def test_inputs_too_large_to_travel_inline_still_go_as_a_blob(rig):
    """Random text does not compress: two points of 2,000 characters a task."""
    length = "import joblib\nx = joblib.load('inputs.pickle')['x']\njoblib.dump(len(x), 'outputs.pickle')\n"
    spec = job_spec(
        rig.root,
        "inlbig",
        4,
        worker=length,
        tasks="{points_per_task: 2, max_retries: 0}",
        extra="  cleanup: {job: false}\n",
    )
    words = ", ".join(os.urandom(1000).hex() for _ in range(4))
    spec.write_text(spec.read_text().replace("{x: {range: [4]}}", f"{{x: [{words}]}}"))
    done = rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 0, done.stderr
    assert done.json["result"] == [2000] * 4
    assert len(uploaded_inputs(rig, done.json["job_id"])) == 2
