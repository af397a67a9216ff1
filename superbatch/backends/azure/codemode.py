"""Code mode: Azure without a container image. The worker's files travel as an archive and
their Python environment is installed on each node by the job's preparation task.

- The worker's files (the same list that makes the job's identity) are packed into a
  deterministic ``.tar.gz`` named by its content, ``code/<sha256>.tar.gz`` in the spec's
  container: the same files make the same blob, uploaded once.
- The job's preparation task (once per node per job, before its first task there) unpacks the
  archive into its working directory, ``$AZ_BATCH_JOB_PREP_WORKING_DIR/worker`` (what
  ``{worker_dir}`` stands for), and makes sure the environment exists: a virtual environment
  ``$AZ_BATCH_NODE_SHARED_DIR/superbatch/envs/<sha256 of requirements and setup>`` with the
  requirements installed and the setup snippet run. Installing happens once per node per
  distinct environment (a later job with the same one reuses it), under a lock; an install cut
  short is done again.
- Each task puts that environment first on ``PATH``, so ``python`` is its interpreter, as on
  the local backend.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path

from superbatch.backends.azure.spec import PoolImage, azure_worker
from superbatch.errors import SpecError
from superbatch.spec.load import Spec
from superbatch.spec.workerfiles import WorkerFile, worker_files

# A current Ubuntu LTS with Python 3 and no Docker; the node agent that goes with it.
CODE_POOL_IMAGE = PoolImage(
    publisher="canonical",
    offer="ubuntu-24_04-lts",
    sku="server",
    version="latest",
    node_agent_sku_id="batch.node.ubuntu 24.04",
)
WORKER_DIR_ON_NODE = "$AZ_BATCH_JOB_PREP_WORKING_DIR/worker"
ENV_LINK = "$AZ_BATCH_JOB_PREP_WORKING_DIR/env"
ARCHIVE_FILE = "worker.tar.gz"
REQUIREMENTS_FILE = "requirements.txt"
PREP_TASK_ID = "superbatch-prepare"
SETUP_VAR = "SUPERBATCH_SETUP"


@dataclass(frozen=True)
class CodeBundle:
    """What code mode ships: the archive and the environment it needs."""

    archive: bytes
    archive_sha256: str
    files: int
    requirements: bytes | None
    setup: str | None

    @property
    def archive_blob(self) -> str:
        return f"code/{self.archive_sha256}.tar.gz"

    @property
    def requirements_blob(self) -> str | None:
        if self.requirements is None:
            return None
        return f"code/requirements-{hashlib.sha256(self.requirements).hexdigest()}.txt"

    @property
    def env_digest(self) -> str:
        """Names the node's environment: the same requirements and setup share one."""
        h = hashlib.sha256(
            b"requirements\0"
            + (self.requirements or b"")
            + b"\0setup\0"
            + (self.setup or "").encode()
        )
        return h.hexdigest()[:24]


def requirements_path(spec: Spec) -> Path | None:
    """``worker.requirements``, or requirements.txt in the worker's directory if present."""
    given = azure_worker(spec.model.worker).requirements
    if given:
        path = spec.resolve(given)
        if not path.is_file():
            raise SpecError(
                f"{spec.where('worker', 'requirements')}: worker.requirements: "
                f"{path} does not exist (it is relative to the spec)."
            )
        return path
    default = spec.worker_directory / REQUIREMENTS_FILE
    return default if default.is_file() else None


def listed_files(spec: Spec, exclude: tuple[Path, ...]) -> list[WorkerFile]:
    """The worker's files, refusing a directory heavier than ``worker.upload_limit_mb``."""
    files = list(worker_files(spec.worker_directory, exclude))
    limit = azure_worker(spec.model.worker).upload_limit_mb
    total = sum(f.size for f in files)
    if total > limit * 2**20:
        largest = sorted(files, key=lambda f: -f.size)[:3]
        shown = ", ".join(f"{f.relative} ({f.size / 2**20:.1f} MB)" for f in largest)
        raise SpecError(
            f"{spec.where('worker', 'directory')}: worker.directory holds "
            f"{total / 2**20:.1f} MB of files to ship, more than "
            f"worker.upload_limit_mb ({limit}); the largest: {shown}. List what the "
            f"worker does not need in {spec.worker_directory}/.superbatchignore "
            f"(.gitignore syntax), or raise the limit."
        )
    return files


def pack(spec: Spec, exclude: tuple[Path, ...] = ()) -> CodeBundle:
    """The worker's files as a deterministic archive (same files, same bytes)."""
    files = listed_files(spec, exclude)
    raw = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for f in files:
            info = tarfile.TarInfo(f.relative)
            info.size, info.mtime = f.size, 0
            info.mode = 0o755 if f.executable else 0o644
            with f.path.open("rb") as handle:
                tar.addfile(info, handle)
    archive = raw.getvalue()
    req = requirements_path(spec)
    return CodeBundle(
        archive,
        hashlib.sha256(archive).hexdigest(),
        len(files),
        req.read_bytes() if req else None,
        azure_worker(spec.model.worker).setup,
    )


def prep_script(env_digest: str, with_requirements: bool) -> str:
    """The preparation task: unpack the code, make sure the environment is there, link it."""
    env = f'"$AZ_BATCH_NODE_SHARED_DIR/superbatch/envs/{env_digest}"'
    install = (
        f'    "$env/bin/python" -m pip install --quiet --disable-pip-version-check '
        f"--no-input -r {REQUIREMENTS_FILE}\n"
        if with_requirements
        else ""
    )
    return (
        "set -e\n"
        f"env={env}\n"
        'mkdir -p "$AZ_BATCH_NODE_SHARED_DIR/superbatch/envs"\n'
        f"rm -rf worker && mkdir worker && tar -xzf {ARCHIVE_FILE} -C worker\n"
        'exec 9>"$AZ_BATCH_NODE_SHARED_DIR/superbatch/envs/.lock"\n'
        "flock 9\n"
        'if [ ! -f "$env/.ready" ]; then\n'
        "    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then\n"
        "        apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -qq python3-venv\n"
        "    fi\n"
        '    rm -rf "$env" && python3 -m venv "$env"\n'
        f"{install}"
        f'    if [ -n "${SETUP_VAR}" ]; then\n'
        f'        (cd worker && PATH="$env/bin:$PATH" && export PATH && sh -ec "${SETUP_VAR}")\n'
        "    fi\n"
        '    touch "$env/.ready"\n'
        "fi\n"
        'ln -sfn "$env" env\n'
    )


def prep_task(
    env_digest: str, setup: str | None, archive_url: str, requirements_url: str | None
) -> dict:
    """The REST document of the job's preparation task (admin, to install python3-venv)."""
    resources = [{"httpUrl": archive_url, "filePath": ARCHIVE_FILE}]
    if requirements_url:
        resources.append({"httpUrl": requirements_url, "filePath": REQUIREMENTS_FILE})
    script = prep_script(env_digest, requirements_url is not None)
    task = {
        "id": PREP_TASK_ID,
        "commandLine": "/bin/sh -c " + shlex.quote(script),
        "resourceFiles": resources,
        "waitForSuccess": True,
        "rerunOnNodeRebootAfterSuccess": True,
        "constraints": {"maxTaskRetryCount": 2},
        "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "admin"}},
    }
    if setup:
        task["environmentSettings"] = [{"name": SETUP_VAR, "value": setup}]
    return task


def task_prologue() -> str:
    """The first line of every task's script: the environment's interpreter first on PATH."""
    return f'PATH="{ENV_LINK}/bin:$PATH"; export PATH'
