"""5. Start-up: ``superbatch --help`` and ``superbatch validate`` (the demo) against ``python -c
pass``.

The three commands are run round-robin (so a burst of load on a shared machine hits all of
them alike); each row is the median of the runs, with their spread, and the difference of the
medians is held against the target (issue 17: validate within 0.1 s of bare python).
"""

from __future__ import annotations

import statistics
import sys

from bench.common import REPO, Row, Section, cli_env, run_timed

TARGET_S = 0.1
# What the required libraries (click, PyYAML, pydantic) cost on their own: a floor for validate.
LIBRARIES = "the libraries alone (click, yaml, pydantic.BaseModel)"


def run(runs: int) -> Section:
    runs = max(runs, 3)
    sec = Section("startup", f"Start-up (median of {runs} runs each)")
    env = cli_env()
    demo = str(REPO / "jobs" / "sum-of-powers.yaml")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "superbatch --help": [sys.executable, "-m", "superbatch", "--help"],
        "superbatch validate jobs/sum-of-powers.yaml": [
            sys.executable,
            "-m",
            "superbatch",
            "validate",
            demo,
        ],
        LIBRARIES: [sys.executable, "-c", "import click, yaml; from pydantic import BaseModel"],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    rss: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            r = run_timed(cmd, env=env, cwd=REPO, timeout=60, measure_rss=True)
            if r.code != 0:
                raise RuntimeError(f"{name} failed: {r.stderr[-2000:]}")
            times[name].append(r.seconds)
            rss[name].append((r.max_rss_kib or 0) / 1024)
    base = statistics.median(times["python -c pass"])
    for name in list(commands)[1:]:
        if name == LIBRARIES:
            continue
        med = statistics.median(times[name])
        sec.rows.append(
            Row(
                "startup",
                name,
                med,
                "s",
                f"python -c pass ({min(times['python -c pass']):.3f}-"
                f"{max(times['python -c pass']):.3f} s)",
                base,
                med - base,
                "s over baseline",
                f"<= +{TARGET_S} s",
                med - base <= TARGET_S,
                f"{runs} runs: {min(times[name]):.3f}-{max(times[name]):.3f} s, "
                f"{med / base:.1f}x the baseline's time, peak RSS {max(rss[name]):.1f} MiB "
                f"(python -c pass: {max(rss['python -c pass']):.1f} MiB)",
            )
        )
    libraries = statistics.median(times[LIBRARIES])
    sec.rows.append(
        Row(
            "startup",
            f"{LIBRARIES} (info)",
            libraries,
            "s",
            "python -c pass",
            base,
            libraries - base,
            "s over baseline",
            note=f"what importing the command line's and the spec's libraries costs alone "
            f"({min(times[LIBRARIES]):.3f}-{max(times[LIBRARIES]):.3f} s)",
        )
    )
    sec.notes.append(
        "`python -m superbatch` is timed (the console script adds only the entry-point shim). "
        "Heavy modules (joblib, numpy, the Azure SDKs) are imported inside the commands that "
        "need them; validate needs the YAML loader and the spec's pydantic models (built once, "
        "on first use)."
    )
    return sec
