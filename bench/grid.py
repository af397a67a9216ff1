"""4. A 1,000,000-point grid: ``superbatch validate`` and ``superbatch plan --limit 20``.

Wall time and peak RSS of the real CLI (``/usr/bin/time -v``). The grid is counted and
streamed, never materialised. Baseline: the same command on the 4-point demo spec, so the
ratio shows what a million points add to the fixed start-up cost.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.common import REPO, Row, Section, check, superbatch

TARGET_S = 10.0
TARGET_MIB = 200.0
RUNS = 3


def write_grid(directory: Path, side: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "grid.yaml"
    spec.write_text(f"""\
name: gridbench
worker:
  command: python {{worker_dir}}/worker.py
  directory: {REPO / "worker"}
globals: {{power: 3, size: [10]}}
parameters:
  seed: {{range: [0, {side}]}}
  alpha: {{linspace: [0, 1, {side}]}}
collect:
  reduce: list
""")
    return spec


def measure(*args) -> tuple[float, float]:
    """Median wall seconds and the largest peak RSS (MiB) over RUNS runs."""
    runs = [
        check(superbatch(*args, measure_rss=True, timeout=300), " ".join(map(str, args)))
        for _ in range(RUNS)
    ]
    return (
        statistics.median(r.seconds for r in runs),
        max((r.max_rss_kib or 0) for r in runs) / 1024,
    )


def run(side: int, tmp: Path) -> Section:
    points = side * side
    sec = Section("grid", f"A {points:,}-point grid (validate, plan --limit 20)")
    spec = write_grid(tmp, side)
    demo = REPO / "jobs" / "sum-of-powers.yaml"
    for command, extra in (("validate", ()), ("plan", ("--limit", "20"))):
        base_s, base_mib = measure(command, demo, *extra)
        secs, mib = measure(command, spec, *extra)
        label = f"superbatch {command}{' --limit 20' if extra else ''}, {points:,} points"
        sec.rows.append(
            Row(
                "grid",
                label + " (time)",
                secs,
                "s",
                "same command, 4-point demo spec",
                base_s,
                secs / base_s,
                "x baseline time",
                f"< {TARGET_S:g} s",
                secs < TARGET_S,
            )
        )
        sec.rows.append(
            Row(
                "grid",
                label + " (peak RSS)",
                mib,
                "MiB",
                "same command, 4-point demo spec",
                base_mib,
                mib / base_mib,
                "x baseline RSS",
                f"< {TARGET_MIB:g} MiB",
                mib < TARGET_MIB,
            )
        )
    sec.notes.append(
        f"Median of {RUNS} runs each; peak RSS is the largest of the runs "
        f"(`/usr/bin/time -v`, maximum resident set size)."
    )
    return sec
