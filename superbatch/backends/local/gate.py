"""A detached runner started while its job is being submitted, held at a gate (a pipe).

``submit`` followed by ``start(foreground=False)`` (``superbatch submit``, ``superbatch.map``)
starts the job's detached runner before it writes the inputs, so that the runner's start-up
overlaps the submit instead of following it. Once the config is written the submitting
process sends the warm task runners' preparation (their environment and manifest, so the
runner starts them before its own imports are done), and once the inputs are written,
"go". A pipe that closes before "go" (the submit failed, the submitting process died)
lets the runner exit without running anything; the job's next ``start`` starts another.
Nothing secret goes to disk: the pipe carries what the runner would compute itself.
"""

from __future__ import annotations

import contextlib
import json
import os

from superbatch.backends.local.warm import Slots

PREPARE, GO = b"p", b"g"


class Gate:
    """The submitting process's end: the runner started, waiting."""

    def __init__(self, state, parallel: int | None):
        from superbatch.backends.local.runnerproc import spawn_runner

        read, write = os.pipe()
        self._write: int | None = write
        try:
            spawn_runner(state, parallel, gate=read)
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)

    def prepare(self, env: dict[str, str], manifest: dict, count: int) -> None:
        """Have the runner start ``count`` warm task runners preparing with ``manifest``."""
        message = {"env": env, "manifest": manifest, "count": count}
        self._send(PREPARE + json.dumps(message).encode() + b"\n")

    def go(self) -> None:
        self._send(GO + b"\n")
        self.close()

    def close(self) -> None:
        if self._write is not None:
            os.close(self._write)
            self._write = None

    def _send(self, message: bytes) -> None:
        if self._write is not None:
            # Died meanwhile: the job has no runner, and whoever waits for it starts one.
            with contextlib.suppress(BrokenPipeError):
                os.write(self._write, message)


class GateReader:
    """The runner's end, read before it imports more than the standard library's needs."""

    def __init__(self, fd: int, job_dir: str):
        self._pipe = os.fdopen(fd, "rb")
        self._job_dir = job_dir
        self._told_go = False

    def prepared(self) -> Slots | None:
        """Slots whose task runners started preparing, if told to before "go"; None once
        told to go without (isolation ``process``) or if the pipe closed."""
        line = self._pipe.readline()
        if line[:1] == GO:
            self._told_go = True
        if line[:1] != PREPARE:
            return None
        try:
            message = json.loads(line[1:])
            slots = Slots(message["env"], self._job_dir)
        except (ValueError, KeyError, TypeError):
            return None
        try:
            slots.prepare(message["manifest"], message["count"])
        except (KeyError, TypeError, OSError):
            slots.close()
            return None  # a head start only: each task prepares its task runner again
        return slots

    def go(self) -> bool:
        """Whether the submit finished (run the job) or the pipe closed first (do not)."""
        if not self._told_go:
            self._told_go = self._pipe.readline()[:1] == GO
        self._pipe.close()
        return self._told_go
