"""Collect: ``superbatch collect`` of a job that really ran, against the raw-HTTP GET floor.

Setup (not timed), for every repeat: fresh services (the emulator running tasks), a job of
``points`` points, ``POINTS_PER_TASK`` to a task, submitted and waited for with the CLI; each
task uploads one tar, ``out/<task-id>/superbatch-output.<hex>`` in the job's container, holding
its points' outputs.
The worker is a shell builtin (``echo $SUPERBATCH_POINT > outputs.json``: the point's
index, as JSON) so that running 100,000 points takes seconds, not hours.

Measured: ``superbatch collect --backend azure --job-id J --json`` (the real CLI: the job's
status, the tasks' end times, the output listing, every tar downloaded, checked and unpacked,
each point's output decoded and summed in point order). Floor (``bench/rawhttp.py``): GET of
the same tars by name, ``THREADS`` threads over keep-alive connections, bytes discarded.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import harness
from bench.common import IMAGE, Row, Section, Services, check, superbatch

POINTS_PER_TASK = 100
THREADS = 16
TARGET_RATIO = 0.8
TARGET_DECODED = 1 / 1.5  # the CLI within 1.5x the time of GET + untar + decode + sum
TARGET_SECONDS = 10.0  # for 100,000 points
STORAGE_DELAY = "20ms"


def job_spec(directory: Path, points: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "collect.yaml"
    spec.write_text(f"""\
name: collectbench
worker:
  command: echo $SUPERBATCH_POINT > outputs.json
  image: {IMAGE}
  format: json
parameters:
  i: {{range: [0, {points}]}}
tasks:
  points_per_task: {POINTS_PER_TASK}
  max_retries: 0
collect:
  reduce: sum
azure:
  pool: {{id: benchpool, vm_size: standard_d2s_v3, dedicated_nodes: 2}}
  storage: {{container: collectbench}}
""")
    return spec


class RanJob:
    """Fresh services and a job of ``points`` points that ran to completion on them."""

    def __init__(self, points: int, directory: Path, storage_delay: str | None):
        self.points, self.directory = points, directory
        self.services = Services(run_tasks=True, storage_delay=storage_delay)

    def __enter__(self) -> RanJob:
        self.services.__enter__()
        try:
            self.spec = job_spec(self.directory, self.points)
            env = self.services.env
            sub = check(
                superbatch("submit", self.spec, "--backend", "azure", "--json", env=env), "submit"
            )
            self.job_id = json.loads(sub.stdout)["job_id"]
            check(
                superbatch(
                    "wait", self.spec, "--backend", "azure", "--job-id", self.job_id, env=env
                ),
                "wait",
            )
        except BaseException:
            self.services.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.services.__exit__()

    def output_tars(self) -> tuple[str, list[str]]:
        record = json.loads(
            (self.directory / ".superbatch" / self.job_id / "record.json").read_text()
        )
        container = record["target"]["job_container"]
        return container, [
            b.name
            for b in self.services.blob_service()
            .get_container_client(container)
            .list_blobs(name_starts_with="out/")
        ]


class JobPerRepeat:
    """One ran job per repeat, read by both sides of that repeat (who reads first alternates);
    a new repeat stops the last one's services and starts fresh ones."""

    def __init__(self, points: int, tmp: Path, delay: str | None):
        self.points, self.tmp, self.delay = points, tmp, delay
        self._repeat: int | None = None
        self._job: RanJob | None = None

    def get(self, r: int) -> RanJob:
        if r != self._repeat:
            self.close()
            self._job = RanJob(self.points, self.tmp / f"r{r}", self.delay).__enter__()
            self._repeat = r
        return self._job

    def close(self) -> None:
        if self._job is not None:
            self._job.__exit__()
            self._job, self._repeat = None, None


def measured(jobs: JobPerRepeat):
    def side(r: int) -> harness.Sample:
        job = jobs.get(r)
        with harness.Meter(job.services.pids, client="children") as meter:
            run = superbatch(
                "collect",
                job.spec,
                "--backend",
                "azure",
                "--job-id",
                job.job_id,
                "--json",
                env=job.services.env,
            )
        check(run, "superbatch collect")
        result = json.loads(run.stdout)["result"]
        if result != jobs.points * (jobs.points - 1) // 2:
            raise RuntimeError(f"collect's result {result} is not the sum of 0..{jobs.points - 1}")
        return meter.sample(jobs.points)

    return side


def download(jobs: JobPerRepeat):
    """superbatch's download of the job's tars alone (``BlobStore.download_many``, in this
    process): what the collect CLI does between listing and unpacking."""

    def side(r: int) -> harness.Sample:
        from superbatch.backends.azure.credentials import StorageCredentials
        from superbatch.backends.azure.storage import Storage

        job = jobs.get(r)
        container, names = job.output_tars()
        store = Storage(StorageCredentials(connection_string=job.services.connection_string))
        blobs = store.container(container)
        size = 0

        def done(name: str, fetched) -> None:
            nonlocal size
            size += len(fetched.data) if fetched else 0

        with harness.Meter(job.services.pids, client="self") as meter:
            blobs.download_many(names, done)
        return meter.sample(jobs.points, bytes=size)

    return side


def floor(jobs: JobPerRepeat):
    def side(r: int) -> harness.Sample:
        from bench.rawhttp import RawBlobs, container_sas, get_floor

        job = jobs.get(r)
        container, names = job.output_tars()
        if len(names) != -(-jobs.points // POINTS_PER_TASK):
            raise RuntimeError(f"the job wrote {len(names)} output tars")
        service = job.services.blob_service()
        blobs = RawBlobs(
            f"{service.url.rstrip('/')}/{container}", container_sas(service, container)
        )
        with harness.Meter(job.services.pids, client="self") as meter:
            get_floor(blobs, names, THREADS)
        return meter.sample(jobs.points)

    return side


def decode_floor(jobs: JobPerRepeat):
    def side(r: int) -> harness.Sample:
        from bench.rawhttp import RawBlobs, container_sas, get_decode_floor

        job = jobs.get(r)
        container, names = job.output_tars()
        service = job.services.blob_service()
        blobs = RawBlobs(
            f"{service.url.rstrip('/')}/{container}", container_sas(service, container)
        )
        with harness.Meter(job.services.pids, client="self") as meter:
            _, total = get_decode_floor(blobs, names, THREADS)
        if total != jobs.points * (jobs.points - 1) // 2:
            raise RuntimeError(f"the decoding floor summed {total}")
        return meter.sample(jobs.points)

    return side


def compare(
    points: int, tmp: Path, delay: str | None, repeats: int, log
) -> dict[str, harness.Comparison]:
    """The CLI and the download alone, each against the floor, all three on each repeat's job."""
    jobs = JobPerRepeat(points, tmp, delay)
    try:
        sides = {
            "collect": measured(jobs),
            "download": download(jobs),
            "floor": floor(jobs),
            "decoded": decode_floor(jobs),
        }
        samples, load = harness.interleave_many(sides, repeats, log)
    finally:
        jobs.close()
    return {
        "collect": harness.Comparison(samples["collect"], samples["floor"], load),
        "download": harness.Comparison(samples["download"], samples["floor"], load),
        "decoded": harness.Comparison(samples["collect"], samples["decoded"], load),
    }


def rows(points: int, c: dict[str, harness.Comparison], cpus: int, delay: str | None) -> list:
    where = f"{points:,} points" + (f", {delay} storage latency" if delay else "")
    base = f"raw-HTTP GET floor of the same {points // POINTS_PER_TASK:,} tars, {THREADS} threads"
    cli, down = c["collect"], c["download"]
    seconds = harness.Stats([s.seconds for s in cli.measured]).median
    big = points >= 100_000 and not delay
    dec = c["decoded"]
    decoded = Row(
        "collect",
        f"superbatch collect (CLI), {where}, against decoding",
        dec.rates.median,
        "points/s",
        f"raw GET + untar + JSON decode + sum of the same tars, {THREADS} threads",
        dec.baseline_rates.median,
        dec.ratio,
        "x floor rate",
        "" if delay else f">= {TARGET_DECODED:.2f}x floor (1.5x its time)",
        None if delay else dec.ratio >= TARGET_DECODED,
        harness.describe(dec, cpus, delay is not None, "points/s"),
    )
    return [
        decoded,
        Row(
            "collect",
            f"download (BlobStore.download_many), {where}",
            down.rates.median,
            "points/s",
            base,
            down.baseline_rates.median,
            down.ratio,
            "x floor rate",
            f">= {TARGET_RATIO:g}x floor",
            down.ratio >= TARGET_RATIO,
            harness.describe(down, cpus, delay is not None, "points/s"),
        ),
        Row(
            "collect",
            f"superbatch collect (CLI, end to end), {where}",
            cli.rates.median,
            "points/s",
            base,
            cli.baseline_rates.median,
            cli.ratio,
            "x floor rate",
            f"< {TARGET_SECONDS:g} s" if big else "",
            seconds < TARGET_SECONDS if big else None,
            f"{seconds:.1f} s (median; start-up, status, listing, download, unpacking, "
            f"decoding and summing); " + harness.describe(cli, cpus, delay is not None, "points/s"),
        ),
    ]


def run(points: int, latency_points: int, tmp: Path, repeats: int, cpus: int, log=print) -> Section:
    sec = Section("collect", f"Collect from Azurite ({POINTS_PER_TASK} points to a task)")
    tmp.mkdir(parents=True, exist_ok=True)
    log(f"  collect {points:,} points, no added latency")
    plain = compare(points, tmp / "plain", None, repeats, log)
    sec.rows += rows(points, plain, cpus, None)
    log(f"  collect {latency_points:,} points, {STORAGE_DELAY} on every storage request")
    slow = compare(latency_points, tmp / "delay", STORAGE_DELAY, repeats, log)
    sec.rows += rows(latency_points, slow, cpus, STORAGE_DELAY)
    sec.comparisons = {
        "collect CLI": plain["collect"],
        "download": plain["download"],
        f"collect CLI, {STORAGE_DELAY} storage latency": slow["collect"],
        f"download, {STORAGE_DELAY} storage latency": slow["download"],
    }
    return sec
