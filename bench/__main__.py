"""``python -m bench``: run the benchmarks, print the table, write docs/benchmarks.md.

python -m bench                 # full sizes (about 40 minutes on 2 CPUs), writes the doc
python -m bench --quick         # smaller sizes (under 5 minutes); prints only, or --output
python -m bench --only submit,collect
python -m bench --only local --local-points 2000   # the local benchmark at another size
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import collect, grid, local, nodetime, report, reportpage, startup, submit
from bench.common import REPO, Section, machine

FULL = {
    "submit_small": 10_000,
    "submit_large": 100_000,
    "collect": 100_000,
    "collect_latency": 10_000,
    "local": 10_000,
    "nodetime": 10_000,
    "grid_side": 1_000,
    "startup_runs": 30,  # a median of 10 moved by ±20 ms with the load of a shared machine
    "report_tasks": 100_000,
}
QUICK = {
    "submit_small": 1_000,
    "submit_large": 5_000,
    "collect": 3_000,
    "collect_latency": 1_000,
    "local": 60,
    "nodetime": 200,
    "grid_side": 1_000,
    "startup_runs": 5,
    "report_tasks": 100_000,
}
ORDER = ("startup", "grid", "submit", "collect", "local", "nodetime", "report")
REPEATS = 3  # each side of a comparison, interleaved (bench/harness.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under 5 minutes)")
    parser.add_argument(
        "--only", default=",".join(ORDER), help=f"comma-separated subset of {', '.join(ORDER)}"
    )
    parser.add_argument(
        "--local-points",
        type=int,
        default=None,
        help="points for the local benchmark (default: 10,000; quick: 60)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="markdown report (default: docs/benchmarks.md for a full run of "
        "every benchmark; quick or partial runs write none)",
    )
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.local_points:
        sizes["local"] = args.local_points
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(ORDER))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    output = args.output
    if output is None and not args.quick and set(chosen) == set(ORDER):
        output = str(REPO / "docs" / "benchmarks.md")

    compileall.compile_dir(str(REPO / "superbatch"), quiet=1)  # as `pip install` does
    info = machine()
    print(
        f"machine: {info['cpus']} x {info['cpu_model']}, Python {info['python']}, {info['date']}",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="superbatch-bench-"))
    sections: list[Section] = []
    failed = False
    started = time.perf_counter()
    try:
        for name in ORDER:
            if name not in chosen:
                continue
            print(f"[{time.perf_counter() - started:6.0f} s] {name} ...", flush=True)
            t0 = time.perf_counter()
            try:
                sec = run_one(name, sizes, tmp / name)
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                failed = True
                traceback.print_exc()
                sec = Section(name, f"{name} (failed)")
                sec.notes.append(
                    f"The benchmark failed: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}"
                )
            sec.seconds = time.perf_counter() - t0
            sections.append(sec)
            print(report.table([sec]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - started
    print()
    print(report.table(sections))
    print(report.verdicts(sections))
    print(f"total: {total:.0f} s")
    if output:
        Path(output).write_text(report.markdown(sections, info, sizes, args.quick, total, REPEATS))
        print(f"wrote {output}")
    return 1 if failed else 0


def run_one(name: str, sizes: dict, tmp: Path) -> Section:
    if name == "startup":
        return startup.run(sizes["startup_runs"])
    if name == "grid":
        return grid.run(sizes["grid_side"], tmp)
    if name == "submit":
        return submit.run(sizes, tmp, REPEATS, os.cpu_count() or 1)
    if name == "collect":
        return collect.run(
            sizes["collect"], sizes["collect_latency"], tmp, REPEATS, os.cpu_count() or 1
        )
    if name == "local":
        return local.run(sizes["local"], tmp)
    if name == "nodetime":
        return nodetime.run(sizes["nodetime"], sizes["nodetime"] < FULL["nodetime"], tmp)
    if name == "report":
        return reportpage.run(sizes["report_tasks"], tmp)
    raise ValueError(name)


if __name__ == "__main__":
    sys.exit(main())
