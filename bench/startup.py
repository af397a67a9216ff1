"""5. Start-up: ``superbatch --help`` and ``superbatch validate`` against ``python -c pass``.

The three commands are run round-robin (so a burst of load on a shared machine hits all of
them alike) and the median of each is reported.
"""

from __future__ import annotations

import statistics
import sys

from bench.common import REPO, Row, Section, cli_env, run_timed

TARGET_S = 0.3


def run(runs: int) -> Section:
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
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            r = run_timed(cmd, env=env, cwd=REPO, timeout=60)
            if r.code != 0:
                raise RuntimeError(f"{name} failed: {r.stderr[-2000:]}")
            times[name].append(r.seconds)
    base = statistics.median(times["python -c pass"])
    for name in list(commands)[1:]:
        med = statistics.median(times[name])
        sec.rows.append(
            Row(
                "startup",
                name,
                med,
                "s",
                "python -c pass",
                base,
                med - base,
                "s over baseline",
                f"<= +{TARGET_S} s",
                med - base <= TARGET_S,
                f"{med / base:.1f}x the baseline's time",
            )
        )
    sec.notes.append(
        "`python -m superbatch` is timed (the console script adds only the "
        "entry-point shim). Heavy modules (pydantic models, joblib, the Azure SDKs) "
        "are imported inside the commands that need them."
    )
    return sec
