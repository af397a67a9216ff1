"""``python -m superbatch.backends.local JOB_DIR``: the detached runner of one job."""

import contextlib
import signal
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached runner: ``python -m superbatch.backends.local DIR``."""
    import argparse

    parser = argparse.ArgumentParser(prog="superbatch-local-runner")
    parser.add_argument("job_dir")
    parser.add_argument("--parallel", type=int, default=None)
    parser.add_argument("--gate", type=int, default=None)  # gate.py's pipe
    args = parser.parse_args(argv)
    job_dir = Path(args.job_dir)
    gate = ready = None
    if args.gate is not None:  # its task runners start before the imports below are done
        from superbatch.backends.local.gate import GateReader

        gate = GateReader(args.gate, str(job_dir))
        ready = gate.prepared()
    from superbatch.backends.local.runner import EXIT_RUNNER_ERROR, Runner, RunnerError
    from superbatch.backends.local.runnerproc import ERROR_FILE
    from superbatch.jobs.state import JobState
    from superbatch.util.files import atomic_write_json

    try:
        runner = Runner(JobState(job_dir.parent, job_dir.name), args.parallel, ready=ready)
    except Exception as exc:  # noqa: BLE001 - reported to whoever waits for the job
        if ready is not None:
            ready.close()
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            atomic_write_json(job_dir / ERROR_FILE, {"message": message, "time": time.time()})
        return EXIT_RUNNER_ERROR

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        runner.stop()

    # At the gate a SIGTERM (a cancel) ends it as is: its task runners die with it.
    if gate is not None and not gate.go():
        runner.ready.close()  # the submit did not finish: the job runs when started again
        return 0
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runner.run()
    except RunnerError:
        return EXIT_RUNNER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
