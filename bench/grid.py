"""4. A 1,000,000-point grid, given three ways: ``superbatch validate`` (and ``plan --limit
20`` for the product) on ``range`` x ``linspace``, a ``points_file`` CSV and an inline
``points:`` list.

Wall time and peak RSS of the real CLI (``/usr/bin/time -v``); every command is run RUNS
times, round-robin with the others (so a burst of load on a shared machine hits them alike),
and the median is reported with the spread of the runs. Baseline: the same command on the
4-point demo spec, so the ratio shows what a million points add to the fixed start-up cost.
"""

from __future__ import annotations

import resource
import statistics
from pathlib import Path

from bench.common import REPO, Row, Section, check, superbatch

TARGET_S = 10.0  # issue 17: an inline list of 10^6 points
TARGET_CSV_S = 2.0  # issue 17: a 10^6-row points_file
TARGET_MIB = 200.0
RUNS = 3

HEAD = f"""\
name: gridbench
worker:
  command: python {{worker_dir}}/worker.py
  directory: {REPO / "worker"}
globals: {{power: 3, size: [10]}}
collect:
  reduce: list
"""


def write_grid(directory: Path, side: int) -> Path:
    """``range`` x ``linspace``: side x side points."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "grid.yaml"
    spec.write_text(
        HEAD + f"parameters:\n  seed: {{range: [0, {side}]}}\n"
        f"  alpha: {{linspace: [0, 1, {side}]}}\n"
    )
    return spec


def write_points_file(directory: Path, points: int) -> Path:
    """A ``points_file`` CSV with one row per point."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "points.csv", "w") as out:
        out.write("seed,alpha\n")
        out.writelines(f"{i},{i / points!r}\n" for i in range(points))
    spec = directory / "csv.yaml"
    spec.write_text(HEAD + "points_file: points.csv\n")
    return spec


def write_inline(directory: Path, points: int) -> Path:
    """An inline ``points:`` list, one ``- {seed: i, alpha: x}`` per line (as generated)."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "inline.yaml"
    with open(spec, "w") as out:
        out.write(HEAD + "points:\n")
        out.writelines(f"  - {{seed: {i}, alpha: {i / points!r}}}\n" for i in range(points))
    return spec


def measure(commands: dict[str, tuple]) -> dict[str, dict]:
    """Each command RUNS times, round-robin: median, fastest and slowest seconds, largest
    peak RSS (MiB)."""
    runs: dict[str, list] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, args in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = check(superbatch(*args, measure_rss=True, timeout=600), " ".join(map(str, args)))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            runs[name].append((r, cpu))
    return {
        name: {
            "s": statistics.median(r.seconds for r, _ in rs),
            "min": min(r.seconds for r, _ in rs),
            "max": max(r.seconds for r, _ in rs),
            "cpu": statistics.median(cpu for _, cpu in rs),
            "mib": max((r.max_rss_kib or 0) for r, _ in rs) / 1024,
        }
        for name, rs in runs.items()
    }


def run(side: int, tmp: Path) -> Section:
    points = side * side
    sec = Section("grid", f"A {points:,}-point grid, three ways (validate; plan --limit 20)")
    demo = REPO / "jobs" / "sum-of-powers.yaml"
    product = write_grid(tmp, side)
    csv_spec = write_points_file(tmp, points)
    inline = write_inline(tmp, points)
    commands = {
        "demo validate": ("validate", demo),
        "demo plan": ("plan", demo, "--limit", "20"),
        "range x linspace validate": ("validate", product),
        "range x linspace plan": ("plan", product, "--limit", "20"),
        "points_file CSV validate": ("validate", csv_spec),
        "inline points validate": ("validate", inline),
    }
    m = measure(commands)
    cases = [
        ("range x linspace validate", "demo validate", TARGET_S),
        ("range x linspace plan", "demo plan", TARGET_S),
        ("points_file CSV validate", "demo validate", TARGET_CSV_S),
        ("inline points validate", "demo validate", TARGET_S),
    ]
    for name, base, target_s in cases:
        got, ref = m[name], m[base]
        label = f"superbatch {name.split()[-1]}{' --limit 20' if 'plan' in name else ''}"
        label += f", {points:,} points ({' '.join(name.split()[:-1])})"
        spread = (
            f"{RUNS} runs: {got['min']:.2f}-{got['max']:.2f} s; CPU (user+sys) median "
            f"{got['cpu']:.2f} s, demo {ref['cpu']:.2f} s"
        )
        sec.rows.append(
            Row(
                "grid",
                label + " (time)",
                got["s"],
                "s",
                f"same command, 4-point demo spec ({ref['min']:.2f}-{ref['max']:.2f} s)",
                ref["s"],
                got["s"] / ref["s"],
                "x baseline time",
                f"< {target_s:g} s",
                got["s"] < target_s,
                spread,
            )
        )
        sec.rows.append(
            Row(
                "grid",
                label + " (peak RSS)",
                got["mib"],
                "MiB",
                "same command, 4-point demo spec",
                ref["mib"],
                got["mib"] / ref["mib"],
                "x baseline RSS",
                f"< {TARGET_MIB:g} MiB",
                got["mib"] < TARGET_MIB,
            )
        )
    sec.notes.append(
        f"Median of {RUNS} runs each, the commands taking turns; the spread of the runs is "
        f"given per row. Peak RSS is the largest of the runs (`/usr/bin/time -v`, maximum "
        f"resident set size). The inline list is one `- {{seed: i, alpha: x}}` per line "
        f"({inline.stat().st_size / 2**20:.0f} MiB of YAML), the CSV one row per point "
        f"({(tmp / 'points.csv').stat().st_size / 2**20:.0f} MiB). On a shared machine the "
        f"CPU time (user+sys) tells more than the wall time: these commands use one core."
    )
    return sec
