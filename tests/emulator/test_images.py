"""Image names as Docker normalises them: the registry API the emulator serves for its declared
images and the stand-in a container task gets, whatever spelling of the name is used."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from azure.batch import models as m
from emuhelpers import client_for, pool_options, wait_task

from batch_emulator.images import ImageStandIn, canonical, reference
from superbatch.backends.azure.registryapi import check_image


@pytest.mark.parametrize(
    "name,full",
    [
        ("python:3.12", "docker.io/library/python:3.12"),
        ("python", "docker.io/library/python:latest"),
        ("mc/worker:v1", "docker.io/mc/worker:v1"),
        ("docker.io/python:3.12", "docker.io/library/python:3.12"),
        ("index.docker.io/library/python:3.12", "docker.io/library/python:3.12"),
        ("localhost:5000/w:v1", "localhost:5000/w:v1"),
        ("localhost/w", "localhost/w:latest"),
        ("myregistry.azurecr.io/team/w:v1", "myregistry.azurecr.io/team/w:v1"),
        ("w@sha256:" + "a" * 64, "docker.io/library/w@sha256:" + "a" * 64),
    ],
)
def test_names_are_normalised_as_docker_does(name, full):
    assert canonical(name) == full
    assert reference(full) == reference(name)


def _head(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_registry_api_answers_for_names_without_a_registry(
    make_emulator, tmp_path, monkeypatch
):
    image = ImageStandIn(mounts={"/app": str(tmp_path)})
    declared = ["mc/worker:v1", "python:3.12", "myregistry.azurecr.io/sum:v1", "docker.io/busybox"]
    emu = make_emulator(images=dict.fromkeys(declared, image))
    # what a Docker-speaking client asks for each name
    for path in (
        "mc/worker/manifests/v1",
        "library/python/manifests/3.12",
        "sum/manifests/v1",
        "library/busybox/manifests/latest",
    ):
        assert _head(f"{emu.endpoint}/v2/{path}") == 200, path
    for path in ("worker/manifests/v1", "python/manifests/3.12", "mc/worker/manifests/v2"):
        assert _head(f"{emu.endpoint}/v2/{path}") == 404, path
    # and superbatch's pre-flight check through the emulator as its mirror
    monkeypatch.setenv("SUPERBATCH_REGISTRY_MIRROR", emu.endpoint)
    for name in ("mc/worker:v1", "python:3.12", "docker.io/library/python:3.12", "busybox"):
        assert check_image(name, None, None).status == "ok", name
    verdict = check_image("mc/worker:v2", None, None)
    assert verdict.status == "problem" and "not in docker.io" in verdict.detail


def test_a_task_finds_its_image_under_another_spelling(make_emulator, tmp_path):
    (tmp_path / "hi.sh").write_text("echo from-image\n")
    image = ImageStandIn(mounts={"/app": str(tmp_path)}, path=["/usr/bin", "/bin"])
    c = client_for(make_emulator(images={"docker.io/library/python:3.12": image}))
    c.create_pool(pool_options("docker", container=True))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="docker")))
    settings = m.BatchTaskContainerSettings(image_name="python:3.12")
    c.create_task(
        "job",
        m.BatchTaskCreateOptions(
            id="t", command_line="/bin/sh /app/hi.sh", container_settings=settings
        ),
    )
    t = wait_task(c, "job", "t")
    assert t.execution_info.result == "success", t.execution_info.failure_info
    out = b"".join(c.download_task_file("job", "t", "stdout.txt")).decode()
    assert out == "from-image\n"
