"""Prose for docs/benchmarks.md, generated from the run: what each benchmark measured (from
the sizes and the modules' settings), whether each target was met (from the measured
ratio), and what bounded each figure (from the CPU each process used). No figure is written
here by hand.
"""

from __future__ import annotations

from bench import collect, grid, local, nodetime, startup, submit


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
            "`superbatch --help` against `python -c pass` (target: within "
            f"{startup.HELP_TARGET_S:g} s), and `superbatch validate` and a local "
            '`superbatch collect` of the demo against `python -c "import click, yaml, '
            f'pydantic"` (target: within {startup.TARGET_S:g} s); round-robin, the median '
            "of each. Shown for information: the libraries and one small pydantic model "
            "built and used, what any program that validates with pydantic pays beyond "
            "`import pydantic` (its model machinery is imported with the first model; and, "
            "unless disabled, it looks for plugins among every installed package)."
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
            f"The seed's computation over {sizes['local']:,} seeds, {local.PARALLEL} at a "
            "time, every way superbatch runs a point locally: `superbatch run --parallel "
            f"{local.PARALLEL}` (the real CLI, `points_per_task: auto`, the seed's "
            "`worker.py` unmodified) with `worker.isolation` `point` (a child forked per "
            "point from the task runner, which imported what the script imports), `task` "
            "(the points inside the task runner) and `process` (a fresh interpreter per "
            f"point, on {local.PROCESS_POINTS} points at most); `worker.function: "
            "seedfn:point` (the loop body as a function, isolation `task`); and "
            "`superbatch.map` in a fresh interpreter, timed around the call (on "
            f"{local.MAP_POINTS:,} points at most, chunked automatically). The same "
            f"mode with the points in {local.CHUNKED_TASKS} tasks shows what the number of "
            "tasks costs. Every result must equal the for-loop's sum exactly.",
            "",
            f"Baselines, measured in the same run: `joblib.Parallel(n_jobs={local.PARALLEL})` "
            "calling the point in-process in a fresh interpreter, timed around the call "
            "(the modes and joblib take turns, the median of each); the **fork+files "
            "floor**: a parent holding numpy, `numpy.random` and joblib, having called the "
            "point once (so that what its first call loads is loaded), forks a child per "
            "point; the config is written once, each point's inputs before its fork, the "
            "child loads both and dumps its output, the parent loads it back, two such "
            "parents at once; the **fork floor**: the same forks without files; the "
            "**in-process floor**: two fresh interpreters importing numpy and joblib and "
            "computing their halves; and `python worker.py` per point, two at a time "
            "(`bench/localfloors.py`). The fork floors are measured twice, before and after "
            "the modes; the lower counts.",
            "",
            f"Targets: isolation `point` within {local.TARGET_POINT:g}x the fork+files "
            f"floor; against joblib, isolation `task` within {local.TARGET_TASK:g}x, "
            f"`worker.function` within {local.TARGET_FUNCTION:g}x and `superbatch.map` "
            f"within {local.TARGET_MAP:g}x. Disk (the first isolation `point` run): the "
            "files in the job's state directory besides its outputs, sampled each second "
            f"while it runs, at most {local.TARGET_FILES_PER_POINT:g} per point at the "
            f"peak; what the finished job leaves besides its outputs, on disk, under "
            f"{local.TARGET_LEFT_MB:g} MB per 10,000 points.",
        ]
    if name == "nodetime":
        return [
            f"The seed's worker over {sizes['nodetime']:,} seeds in {nodetime.TARGET_TASKS} "
            "tasks, submitted to the Batch emulator (one `standard_d2s_v3` node, whose 2 vCPUs "
            "are this machine's 2 CPUs, running the tasks' real commands) and Azurite with "
            "the CLI and waited for; node time per point is the sum of the tasks' run times "
            "(Batch `executionInfo.endTime - startTime`) over the points, what a user pays "
            "VMs for. A task runs as many points at once as its slot's share of the node's "
            "CPUs (here 2). The default worker is also measured on two nodes (info: they "
            "share this machine's CPUs, about one each) and at 1, 10 and 50 points a task "
            "(on fewer points: the figure is per point). "
            "Beside them: `python worker.py` per point (a fresh interpreter, files "
            "included, two at a time), the fork+files floor (a child per point forked from a "
            "parent holding numpy and joblib, the contract's files written and read back, two "
            "parents at once, as a 2-vCPU node runs them: the least isolation `point` can "
            "cost on this machine, each target row gives its ratio to it) and the in-process work (the for-loop); the section's "
            "notes give the load average it ran under, which every figure scales with. "
            "Targets: "
            f"<= {nodetime.TARGETS_MS['default']:g} ms with isolation `point`, "
            f"<= {nodetime.TARGETS_MS['function']:g} ms with `worker.function`. A mode that "
            "`validate --backend azure` refuses is reported as refused, not measured.",
        ]
    if name == "report":
        return [
            f"`superbatch report` on {sizes['report_tasks']:,} tasks over 50 nodes (a real "
            "local job's page data with that many task runs in place of its own): the "
            "page's size, and how long headless Chromium (Debian's package) takes to load it "
            "(`--dump-dom`, a fresh profile each time) against an empty page loaded the same "
            "way in the same run. Targets: under 5 MB, under 5 s.",
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
    "python -m bench --quick --only local,nodetime  # the point runners, a few minutes",
    "```",
    "",
    "The benchmarks live in `bench/` (one module per benchmark; `bench/harness.py` "
    "interleaves the sides and meters CPU; `bench/rawhttp.py` holds the floors; "
    "`bench/localfloors.py` the local modes' floors and joblib's baseline; "
    "`bench/nodetime.py` node time on the emulator; `bench/reportpage.py` the report page; "
    "`bench/proxy.py` the storage latency; `bench/common.py` starts Azurite from "
    "`node_modules` and the emulator as separate processes on 127.0.0.1). The command exits "
    "non-zero only if a benchmark fails to run; a missed target is reported, not an error.",
]
