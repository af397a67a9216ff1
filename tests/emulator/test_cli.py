"""``python -m batch_emulator``: prints its endpoint first, serves the SDK, exits 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from emuhelpers import pool_options


def test_module_entry_point(tmp_path):
    env = dict(os.environ, SUPERBATCH_EMULATOR_KEY="Y2xpLXRlc3Qta2V5")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batch_emulator",
            "--port",
            "0",
            "--no-run",
            "--account",
            "cliacct",
            "--root",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("endpoint: http://127.0.0.1:")
        endpoint = first.split(" ", 1)[1]
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        c = BatchClient(endpoint, AzureNamedKeyCredential("cliacct", "Y2xpLXRlc3Qta2V5"))
        c.create_pool(pool_options("pool"))
        assert c.get_pool("pool").state == "active"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_images_are_declared_on_the_command_line(tmp_path):
    """--images FILE (relative paths from the file) and --image NAME=DIR:MOUNT stand in for images;
    the emulator's own PATH (here with an extra tool) never reaches a task."""
    from azure.batch import BatchClient
    from azure.batch import models as m
    from azure.core.credentials import AzureNamedKeyCredential
    from emuhelpers import wait_task

    from batch_emulator import DEV_KEY

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "hi.sh").write_text('echo "hi from $WHO"\n')
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "tool").write_text("#!/bin/sh\necho tool\n")
    (tmp_path / "tools" / "tool").chmod(0o755)
    (tmp_path / "images.yaml").write_text(
        "reg.example/a:1:\n  mounts: {/app: app}\n  path: [tools, /usr/bin, /bin]\n  env: {WHO: yaml}\n"
    )
    env = {"PATH": f"{tmp_path / 'tools'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batch_emulator",
            "--images",
            str(tmp_path / "images.yaml"),
            "--image",
            f"reg.example/b:2={tmp_path / 'app'}:/opt/b",
            "--root",
            str(tmp_path / "n"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        endpoint = proc.stdout.readline().strip().split(" ", 1)[1]
        c = BatchClient(endpoint, AzureNamedKeyCredential("emulator", DEV_KEY))
        c.create_pool(pool_options("docker", container=True))
        c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="docker")))
        for tid, image, command in (
            ("a", "reg.example/a:1", "/bin/sh -c 'sh /app/hi.sh; tool'"),
            ("b", "reg.example/b:2", "/bin/sh -c 'sh /opt/b/hi.sh; tool'"),
        ):
            c.create_task(
                "job",
                m.BatchTaskCreateOptions(
                    id=tid,
                    command_line=command,
                    container_settings=m.BatchTaskContainerSettings(image_name=image),
                ),
            )
        assert wait_task(c, "job", "a").execution_info.exit_code == 0
        assert b"".join(c.download_task_file("job", "a", "stdout.txt")) == b"hi from yaml\ntool\n"
        assert wait_task(c, "job", "b").execution_info.exit_code == 127  # no `tool` on its PATH
        assert b"".join(c.download_task_file("job", "b", "stdout.txt")) == b"hi from \n"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_help_and_bad_image_options(tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "batch_emulator", "-h"], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "--images FILE" in ok.stdout and "--node-path" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "batch_emulator", "--image", f"x={tmp_path / 'missing'}"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "is not a directory" in bad.stderr
