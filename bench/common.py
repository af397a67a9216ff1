"""Shared helpers: local services (Azurite, the Batch emulator), the real CLI in a subprocess,
timing, peak memory, machine facts and the Result record every benchmark returns."""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# One Azurite launcher for the tests and the benchmarks (tests/services.py).
sys.path.insert(0, str(REPO / "tests"))
from services import Azurite, start_azurite  # noqa: E402

CLI_TIMEOUT = 900  # seconds; every subprocess is bounded
IMAGE = "bench.invalid/sum-of-powers:v1"


@dataclass
class Row:
    """One line of the results table: a measured figure against its baseline."""

    benchmark: str
    case: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    ratio: float | None = None  # value / baseline (or baseline / value), as `ratio_note`
    ratio_note: str = ""
    target: str = ""
    passed: bool | None = None  # None: informational
    note: str = ""


@dataclass
class Section:
    """What one benchmark measured: rows for the table, prose for the document."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    comparisons: dict = field(default_factory=dict)  # name -> harness.Comparison, for the prose


# -- the machine --------------------------------------------------------------------------


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
                break
    except OSError:
        pass
    versions = {}
    for mod in ("superbatch", "joblib", "numpy", "azure.storage.blob", "azure.batch"):
        try:
            m = __import__(mod, fromlist=["__version__"])
            versions[mod] = getattr(m, "__version__", "?")
        except ImportError:
            versions[mod] = "missing"
    azurite = "?"
    try:
        import json

        azurite = json.loads((REPO / "node_modules" / "azurite" / "package.json").read_text())[
            "version"
        ]
    except (OSError, ValueError, KeyError):
        pass
    versions["azurite"] = azurite
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": versions,
    }


# -- processes ----------------------------------------------------------------------------


def cli_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.pop("SUPERBATCH_STATE_DIR", None)
    # Timed as installed: pip writes bytecode when it installs; without it every run of the
    # CLI compiles superbatch's sources again (main() compiles them once, up front).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class CliRun:
    code: int
    seconds: float
    stdout: str
    stderr: str
    max_rss_kib: int | None = None


def superbatch(
    *args,
    env: dict | None = None,
    cwd=None,
    timeout: float = CLI_TIMEOUT,
    measure_rss: bool = False,
) -> CliRun:
    """Run the real CLI (``python -m superbatch``) and time it (wall clock)."""
    cmd = [sys.executable, "-m", "superbatch", *map(str, args)]
    return run_timed(cmd, env=cli_env(env), cwd=cwd, timeout=timeout, measure_rss=measure_rss)


def run_timed(
    cmd: list[str],
    env: dict | None = None,
    cwd=None,
    timeout: float = CLI_TIMEOUT,
    measure_rss: bool = False,
) -> CliRun:
    """Run ``cmd``; wall time, and with ``measure_rss`` its peak RSS (via /usr/bin/time -v)."""
    time_bin = shutil.which("time") or "/usr/bin/time"
    use_time = measure_rss and os.path.exists(time_bin)
    full = [time_bin, "-v", *cmd] if use_time else cmd
    start = time.perf_counter()
    proc = subprocess.run(
        full,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    stderr, rss = proc.stderr, None
    if use_time:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
        rss = int(m.group(1)) if m else None
        stderr = stderr.split("\tCommand being timed:")[0]
    return CliRun(proc.returncode, seconds, proc.stdout, stderr, rss)


def check(run: CliRun, what: str) -> CliRun:
    if run.code != 0:
        raise RuntimeError(f"{what} failed (exit {run.code}):\n{run.stderr[-3000:]}")
    return run


def median_seconds(cmd: list[str], runs: int, env: dict | None = None, cwd=None) -> float:
    times = []
    for _ in range(runs):
        r = run_timed(cmd, env=env, cwd=cwd, timeout=120)
        if r.code != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr[-2000:]}")
        times.append(r.seconds)
    return statistics.median(times)


# -- services -----------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


class Services:
    """Azurite (npm) and the Batch emulator with ``--no-run``, each its own process.

    Both run out of the benchmark's process so that neither shares its interpreter (or GIL)
    with the code being measured; the measured code talks to them over 127.0.0.1.
    """

    def __init__(
        self,
        run_tasks: bool = False,
        latency: str | None = None,
        storage_delay: str | None = None,
        workers: int | None = None,
    ):
        self.run_tasks = run_tasks
        self.latency = latency  # the emulator's --latency (every Batch request)
        self.storage_delay = storage_delay  # bench/proxy.py in front of Azurite
        self.workers = workers
        self.tmp = Path(tempfile.mkdtemp(prefix="superbatch-bench-"))
        self.azurite: Azurite | None = None
        self.emulator: subprocess.Popen | None = None
        self.proxy: subprocess.Popen | None = None
        self.endpoint = ""
        self._blob_endpoint = ""

    def __enter__(self) -> Services:
        try:
            return self._start()
        except BaseException:
            self.__exit__()
            raise

    def _start(self) -> Services:
        self.azurite = start_azurite()
        self._blob_endpoint = self.azurite.blob_endpoint
        if self.storage_delay:
            self.proxy = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.proxy",
                    "--upstream",
                    f"127.0.0.1:{self.azurite.port}",
                    "--delay",
                    self.storage_delay,
                ],
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=REPO,
                env=cli_env({"PYTHONPATH": str(REPO)}),
            )
            line = self.proxy.stdout.readline().strip()
            if not line.startswith("listening: "):
                raise RuntimeError(f"the latency proxy did not start (said {line!r})")
            port = int(line.split(" ", 1)[1])
            self._blob_endpoint = self._blob_endpoint.replace(f":{self.azurite.port}/", f":{port}/")
        cmd = [
            sys.executable,
            "-m",
            "batch_emulator",
            "--port",
            "0",
            "--root",
            str(self.tmp / "nodes"),
            # The image the bench's specs name: the seed's worker at /app, this interpreter's
            # Python (with numpy and joblib) on its PATH.
            "--image",
            f"{IMAGE}={REPO / 'worker'}:/app",
            "--image-path",
            f"{Path(sys.executable).parent}:/usr/bin:/bin",
        ]
        if not self.run_tasks:
            cmd.append("--no-run")
        if self.latency:
            cmd += ["--latency", self.latency]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        self.emulator = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
            env=cli_env(),
        )
        line = self.emulator.stdout.readline().strip()
        if not line.startswith("endpoint: "):
            stop_process(self.emulator)
            raise RuntimeError(f"the emulator did not start (said {line!r})")
        self.endpoint = line.split(" ", 1)[1]
        return self

    def __exit__(self, *exc) -> None:
        for proc in (self.emulator, self.proxy):
            if proc is not None:
                stop_process(proc)
        if self.azurite is not None:
            self.azurite.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def pids(self) -> dict[str, int]:
        """The services' processes, by the name a report gives them."""
        pids = {"azurite": self.azurite.process.pid, "emulator": self.emulator.pid}
        if self.proxy is not None:
            pids["proxy"] = self.proxy.pid
        return pids

    @property
    def connection_string(self) -> str:
        """Azurite's, through the latency proxy when there is one."""
        return self.azurite.connection_string.replace(
            self.azurite.blob_endpoint, self._blob_endpoint
        )

    @property
    def env(self) -> dict:
        from batch_emulator import DEV_ACCOUNT, DEV_KEY

        return {
            "AZURE_BATCH_ENDPOINT": self.endpoint,
            "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
            "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
            "AZURE_STORAGE_CONNECTION_STRING": self.connection_string,
            "SUPERBATCH_POLL_SECONDS": "0.2",
            "SUPERBATCH_RETRY_BACKOFF": "0.05",
            # Nothing leaves this machine: image checks ask the emulator, prices a closed
            # port (unknown), and no management plane is named.
            "SUPERBATCH_REGISTRY_MIRROR": self.endpoint,
            "SUPERBATCH_PRICES_URL": "http://127.0.0.1:9/api/retail/prices",
            "AZURE_SUBSCRIPTION_ID": "",
            "AZURE_RESOURCE_GROUP": "",
        }

    def blob_service(self, **kwargs):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string, **kwargs)

    def batch_client(self):
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        from batch_emulator import DEV_ACCOUNT, DEV_KEY

        return BatchClient(self.endpoint, AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))


# -- job specs ----------------------------------------------------------------------------


def write_job(
    directory: Path,
    name: str,
    points: int,
    container: str = "superbatch",
    extra_azure: str = "",
    points_per_task: str | int = 1,
    reduce: str = "sum",
    parallel_note: str = "",
) -> Path:
    """A spec for the seed's workload over ``points`` seeds, beside a copy of the worker."""
    directory.mkdir(parents=True, exist_ok=True)
    worker = directory / "worker"
    if not worker.exists():
        shutil.copytree(REPO / "worker", worker)
    spec = directory / f"{name}.yaml"
    spec.write_text(f"""\
name: {name}
worker:
  command: python {{worker_dir}}/worker.py
  directory: worker
  image: {IMAGE}
  image_directory: /app
globals: {{power: 3, size: [10]}}
parameters:
  seed: {{range: [0, {points}]}}
tasks:
  points_per_task: {points_per_task}
  max_retries: 0
collect:
  reduce: {reduce}
azure:
  pool: {{id: benchpool, vm_size: standard_d2s_v3, dedicated_nodes: 1}}
  storage: {{container: {container}}}
{extra_azure}""")
    return spec


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def peak_rss_children_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
