"""``python -m superbatch.backends.local JOB_DIR``: the detached runner of one job."""

import contextlib
import signal
import sys
import time
from pathlib import Path

from superbatch.backends.local.runner import EXIT_RUNNER_ERROR, Runner, RunnerError
from superbatch.backends.local.runnerproc import ERROR_FILE
from superbatch.jobs.state import JobState
from superbatch.util.files import atomic_write_json


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached runner: ``python -m superbatch.backends.local DIR``."""
    import argparse

    parser = argparse.ArgumentParser(prog="superbatch-local-runner")
    parser.add_argument("job_dir")
    parser.add_argument("--parallel", type=int, default=None)
    args = parser.parse_args(argv)
    job_dir = Path(args.job_dir)
    try:
        runner = Runner(JobState(job_dir.parent, job_dir.name), args.parallel)
    except Exception as exc:  # noqa: BLE001 - reported to whoever waits for the job
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            atomic_write_json(job_dir / ERROR_FILE, {"message": message, "time": time.time()})
        return EXIT_RUNNER_ERROR

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runner.run()
    except RunnerError:
        return EXIT_RUNNER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
