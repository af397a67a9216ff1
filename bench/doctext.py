"""Prose for docs/benchmarks.md, generated from the run: what each benchmark measured (from
the sizes and the modules' settings), whether each target was met (from the measured
ratio), and what bounded each figure (from the CPU each process used). No figure is written
here by hand.
"""

from __future__ import annotations

from bench import collect, grid, local, startup, submit


def shared_machine(info: dict, repeats: int) -> list[str]:
    return [
        f"All services run on this machine ({info['cpus']} CPUs): Azurite (Node), the Batch "
        f"emulator (its own Python process), the latency proxy when there is one, the measured "
        f"process and its baseline. Every comparison runs both sides {repeats} times, "
        f"alternating which goes first, each repeat against freshly started services; the "
        f"table gives the medians, and each row's note the spread of the runs, the load "
        f"average during them and the CPU each process used per second of wall time (what "
        f"bounded the figure: a process near one CPU is the bottleneck; the machine's CPUs "
        f"all busy means they are shared; neither means waiting on round trips).",
    ]


def intro(name: str, sizes: dict, repeats: int) -> list[str]:
    if name == "startup":
        return [
            "`superbatch --help` and `superbatch validate jobs/sum-of-powers.yaml` against "
            "`python -c pass`, round-robin, the median of each; the target for each is "
            f"within {startup.TARGET_S:g} s of the interpreter's own start-up."
        ]
    if name == "grid":
        return [
            f"A grid of {sizes['grid_side'] ** 2:,} points given three ways (`range` x "
            "`linspace`, a `points_file` CSV, an inline `points:` list): wall time and peak "
            f"RSS of `validate` (and `plan --limit 20`), median of {grid.RUNS} runs each, "
            "against the same command on the 4-point demo spec."
        ]
    if name == "submit":
        return [
            "`superbatch submit --backend azure` (the real CLI in a subprocess: start-up, "
            "config upload, pool, job, every task, and the reconciliation at the end: the "
            "job's task counts, and a listing of its tasks only if they fall short) against the emulator with `--no-run` and Azurite. "
            "Baseline: the raw-HTTP add-collection floor (`bench/rawhttp.py`): the same task "
            "bodies, built by superbatch's own code before the clock starts, POSTed 100 to a "
            f"request by {submit.FLOOR_IN_FLIGHT} threads over keep-alive connections, signed "
            "with the account key. With latency, the emulator delays every answer by "
            f"{submit.LATENCY} (`--latency`), for both sides.",
        ]
    if name == "collect":
        return [
            f"A job of {collect.POINTS_PER_TASK} points to a task really runs on the emulator "
            "(not timed; the worker is a shell builtin writing its point's index as JSON), "
            "each task uploading one tar of its points' outputs. Measured: `superbatch "
            "collect --backend azure --job-id J` (the real CLI: status, the tasks' end "
            "times, the listing, every tar downloaded, checked and kept, each point decoded "
            "and summed in point order; the sum is checked), and, as its own row, "
            "superbatch's download of the same tars alone (`BlobStore.download_many`, the "
            "code the CLI downloads with, in the bench's process). Baseline: the raw-HTTP GET "
            f"floor of the same tars, {collect.THREADS} threads over keep-alive connections "
            "(`bench/rawhttp.py`). All three read the same job's blobs in a repeat, in turns. With "
            f"latency, `bench/proxy.py` delays every storage request by "
            f"{collect.STORAGE_DELAY}, for both sides.",
        ]
    if name == "local":
        return [
            f"The seed's worker over {sizes['local']:,} seeds, {local.PARALLEL} at a time: "
            f"`superbatch run --parallel {local.PARALLEL}` (forked points) against "
            f"`joblib.Parallel(n_jobs={local.PARALLEL})` in-process, {local.RUNS} runs each, "
            "alternating; every superbatch result must equal the for-loop's sum."
        ]
    return []


def discussion(section) -> list[str]:
    rows = [r for r in section.rows if r.passed is not None]
    missed = [r.case for r in rows if not r.passed]
    out: list[str] = []
    if rows:
        out.append(
            f"Targets met: {len(rows) - len(missed)} of {len(rows)}"
            + (f"; missed: {'; '.join(missed)}." if missed else ".")
        )
    comparisons = getattr(section, "comparisons", {}) or {}
    if comparisons:
        out.append("")
    for name, c in comparisons.items():
        out.append(
            f"- {name}: measured {c.rates.median:,.0f}/s against {c.baseline_rates.median:,.0f}/s, "
            f"ratio {c.ratio:.2f} (per-run {c.ratios.low:.2f}-{c.ratios.high:.2f})."
        )
    return out


HOW_TO_RUN = [
    "## Running the benchmarks",
    "",
    "<!-- example: not run: the benchmarks take minutes; `make bench` runs them and writes "
    "this page -->",
    "```sh",
    "make bench                                # full sizes; writes this page",
    "python -m bench --quick                   # smaller sizes, prints the table only",
    "python -m bench --only submit,collect --output /tmp/b.md",
    "```",
    "",
    "The benchmarks live in `bench/` (one module per benchmark; `bench/harness.py` "
    "interleaves the sides and meters CPU; `bench/rawhttp.py` holds the floors; "
    "`bench/proxy.py` the storage latency; `bench/common.py` starts Azurite from "
    "`node_modules` and the emulator as separate processes on 127.0.0.1). The command exits "
    "non-zero only if a benchmark fails to run; a missed target is reported, not an error.",
]
