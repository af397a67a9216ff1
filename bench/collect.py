"""2. Collecting outputs from Azurite: ``superbatch collect`` against a raw download floor.

Setup (not timed): submit the job with the emulator's ``--no-run`` (tasks accepted, never
run), then upload ``<job-id>/outputs/task_{i}_outputs.pickle`` for every point, as Batch's
output-file rule would. Timed: ``superbatch collect --backend azure --job-id J`` (the real CLI:
list, download with checks, write the files, decode, reduce, print) against 16 threads that
download the same blobs by name with azure-storage-blob and write each to a file.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import Row, Section, Services, check, superbatch, write_job

THREADS = 16
TARGET = 0.8


def _encoded(i: int) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(float(i) * 0.5, buf)
    return buf.getvalue()


def download_floor(container, names: list[str], target: Path) -> float:
    target.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> None:
        data = container.download_blob(name).readall()
        (target / name.rsplit("/", 1)[-1]).write_bytes(data)

    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, names))
    return time.perf_counter() - start


def run(points: int, tmp: Path) -> Section:
    sec = Section("collect", f"Collect {points:,} outputs from Azurite")
    tmp.mkdir(parents=True, exist_ok=True)
    with Services() as services:
        spec = write_job(tmp / "job", "collectbench", points, container="collectbench")
        sub = check(
            superbatch("submit", spec, "--backend", "azure", "--json", env=services.env), "submit"
        )
        job_id = json.loads(sub.stdout)["job_id"]
        container = services.blob_service().get_container_client("collectbench")
        names = [f"{job_id}/outputs/task_{i}_outputs.pickle" for i in range(points)]
        with ThreadPoolExecutor(THREADS) as pool:
            list(
                pool.map(
                    lambda i: container.upload_blob(names[i], _encoded(i), overwrite=True),
                    range(points),
                )
            )
        floors = [download_floor(container, names, tmp / "floor1")]
        col = check(
            superbatch(
                "collect",
                spec,
                "--backend",
                "azure",
                "--job-id",
                job_id,
                "--json",
                env=services.env,
            ),
            "collect",
        )
        floors.append(download_floor(container, names, tmp / "floor2"))
        t0 = time.perf_counter()
        listed = sum(1 for _ in container.list_blobs(name_starts_with=f"{job_id}/outputs/"))
        t_list = time.perf_counter() - t0
    result = json.loads(col.stdout)["result"]
    expected = sum(float(i) * 0.5 for i in range(points))
    if abs(result - expected) > 1e-9 * max(1.0, expected):
        raise RuntimeError(f"collect's result {result} differs from {expected}")
    floor = min(floors)
    r_sb, r_floor = points / col.seconds, points / floor
    sec.rows.append(
        Row(
            "collect",
            f"superbatch collect, {points:,} outputs",
            r_sb,
            "outputs/s",
            f"raw parallel download floor ({THREADS} threads)",
            r_floor,
            r_sb / r_floor,
            "x floor rate",
            f">= {TARGET}x",
            r_sb / r_floor >= TARGET,
            f"{col.seconds:.1f} s vs {floor:.1f} s (best of {len(floors)} floor runs)",
        )
    )
    sec.notes.append(
        f"superbatch collect: {col.seconds:.1f} s for {points:,} outputs including the CLI's "
        f"start-up, listing the job's outputs, size/MD5 checks, atomic file writes, decoding "
        f"and reducing; the floor only downloads blobs whose names it already knows and writes "
        f"them (floor runs: {', '.join(f'{f:.1f} s' for f in floors)})."
    )
    sec.notes.append(
        f"Listing the job's {listed:,} output blobs alone (what superbatch does before "
        f"downloading, and the floor does not need to) took {t_list:.1f} s, "
        f"{t_list / col.seconds:.0%} of superbatch's collect."
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return sec
