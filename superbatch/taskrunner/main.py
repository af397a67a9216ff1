"""``python -m superbatch.taskrunner MANIFEST`` (``-``: the manifest on stdin): run one
task's points in order.

The manifest (JSON, never a secret: the worker's environment is the task runner's own) says
what runs (``command``, or ``argv`` of a ``python SCRIPT`` command, or ``function``), how
(``isolation``), the contract's file names and format, the task's points and its inputs tar
(or, for a task of one point, ``point_inputs``: that point's encoded inputs), the shared
config, where outputs go and the wall time. Relative paths are relative to the directory the
task runner starts in; ``executable`` None means the task runner's own interpreter. For each point the task runner
prepares the reused working directory (a function gets none per point: no files), runs the
point and stages its output (``staging.py``); ``points.jsonl`` in the task directory gets a
compact JSON line per point (point, exit code, wall time, and why it failed), written once
when the task ends. It stops at the first failing point; only when every point succeeded does it move
the staged outputs into the outputs directory (a task's outputs are all or nothing) and
remove the working directory. With ``say_failed_point`` (Azure, where ``status`` reads only the
task's stderr) the failing point is also named on stderr, as its last line
(``FAILED_POINT_LINE``). With ``upload`` (Azure: the blob name's prefix) it instead
uploads them (one file, or a tar of a multi-point task's) under a name drawn in memory, with
the container URL taken from the environment before any worker code runs (``upload.py``),
and leaves no output file behind. Exit status: 0, the failing point's (see ``_status``), or
``UPLOAD_FAILED_EXIT``.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time

from superbatch.taskrunner import FAILED_POINT_LINE, OUTPUT_URL_VAR, fanout, localimports, supervise
from superbatch.taskrunner import function as functions
from superbatch.taskrunner.points import Forked, Inline, Shell
from superbatch.taskrunner.preload import captured, leading_imports, preload, single_threaded
from superbatch.taskrunner.script import Script, clear, finish, flush
from superbatch.taskrunner.staging import Staged
from superbatch.taskrunner.workdir import WorkDir, read_inputs

POINTS_FILE = "points.jsonl"
NO_OUTPUT_EXIT = 90  # as the Azure task's shell loop
TIMEOUT_EXIT = 124
UPLOAD_FAILED_EXIT = 93
OUTPUTS_TAR = "outputs.tar"  # a multi-point task's upload, while it is sent
COMPACT = (",", ":")  # points.jsonl: a line per point adds up (10,000 points: 0.4 MB)
OK_LINE = '{"point":%d,"exit_code":0,"wall_s":%r}'  # json.dumps' line for a point that succeeded


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m superbatch.taskrunner MANIFEST (or - for stdin)", file=sys.stderr)
        return 2
    if argv[0] == "-":
        manifest = json.load(sys.stdin)
    else:
        with open(argv[0], encoding="utf-8") as handle:
            manifest = json.load(handle)
    return TaskRunner(manifest).run()


class TaskRunner:
    def __init__(self, manifest: dict):
        manifest = dict(manifest)
        for key in ("task_dir", "inputs", "point_inputs", "config", "outputs_dir"):
            if manifest.get(key):
                manifest[key] = os.path.abspath(manifest[key])
        manifest["executable"] = manifest.get("executable") or sys.executable
        self.m = manifest
        self.fmt = manifest["format"]
        self.names = manifest["names"]
        self.task_dir = manifest["task_dir"]
        self.staged = Staged(os.path.join(self.task_dir, "staged"), self.names["outputs_pattern"])
        self.lock_fd = manifest.get("lock_fd")
        # Popped before any worker code runs: no worker process inherits the write SAS.
        self.destination = os.environ.pop(OUTPUT_URL_VAR, None)
        if manifest.get("upload"):
            # Imported now (not where it is used), before sys.path[0] is the worker's
            # directory: a worker's own email.py or ssl.py then shadows none of urllib's
            # imports. A local task runner never uploads and skips its ~30 ms of imports.
            from superbatch.taskrunner import upload  # noqa: F401
        self.workdir = WorkDir(
            os.path.join(self.task_dir, "wd"),
            manifest["multi_point"],
            manifest["config"],
            self.names["config"],
            self.names["inputs"],
        )

    def run(self) -> int:
        self._take_charge()
        first, count = self.m["points"]
        inputs = self._inputs(first)
        wall = self.m.get("wall_time")
        deadline = None if wall is None else time.monotonic() + wall
        self.staged.reset()
        body, way = self._prepare()
        at_once = fanout.points_at_once(self.m.get("slots_per_node"), count, way)
        lines: list[str] = []  # points.jsonl, written once the task ends (or is ended)
        try:
            if at_once > 1:
                failed = fanout.run_shared(self, at_once, inputs, body, way, deadline, lines)
            else:
                points = range(first, first + count)
                failed = self.run_points(points, inputs, body, way, deadline, lines)
            if failed is not None:
                self.staged.reset()
                self._say_failed(failed)
                return _status(failed)
        except supervise.Ended:
            self._log(lines)
            lines = []
            supervise.end_descendants()
            supervise.exit_as(-9)
        finally:
            self._log(lines)
            self.workdir.release()
        if self.m.get("upload"):
            return self._upload()
        self._publish()
        return 0

    def run_points(self, points, inputs: dict, body, way, deadline, lines: list) -> dict | None:
        """Run ``points`` in order until one fails, adding their ``points.jsonl`` lines to
        ``lines``; the failed point's line, or None."""
        for point in points:
            line = self._run_point(point, inputs, body, way, deadline)
            if "code" not in line:  # json.dumps costs as much as a small point's work
                lines.append(OK_LINE % (point, line["wall_s"]))
                continue
            lines.append(json.dumps(line, separators=COMPACT))
            return line
        return None

    def _log(self, lines: list[str]) -> None:
        if lines:
            with open(os.path.join(self.task_dir, POINTS_FILE), "a", encoding="utf-8") as log:
                log.write("\n".join(lines) + "\n")

    def _say_failed(self, line: dict) -> None:
        if self.m.get("say_failed_point"):
            flush()  # after what the point's own stream buffers held
            text = FAILED_POINT_LINE.format(point=line["point"], message=line["message"])
            # on a line of its own whether or not the point's stderr ended with a newline
            print("\n" + text, file=sys.stderr, flush=True)

    def _inputs(self, first: int) -> dict:
        single = self.m.get("point_inputs")
        if single:
            with open(single, "rb") as handle:
                return {first: handle.read()}
        return read_inputs(self.m["inputs"], self.names["inputs"])

    def _take_charge(self) -> None:
        if self.lock_fd is not None:
            os.set_inheritable(self.lock_fd, False)  # no worker process gets the task lock
        if supervise.SUPPORTED:
            supervise.become_subreaper()
            parent = self.m.get("parent")
            if parent:
                supervise.die_with_parent(parent, signal.SIGTERM)

    def _prepare(self):
        """What one point runs (``body(point, wd, staged)``) and the way it is run."""
        isolation = self.m["isolation"]
        target = self.m.get("function")
        home = self.m["worker_dir"] if target else None
        argv = self.m.get("argv")
        if argv and isolation != "process":
            home = os.path.dirname(os.path.realpath(argv[1]))
        if home and not getattr(sys.flags, "safe_path", False):
            sys.path[0] = home  # what `python SCRIPT` puts first
        way = None
        if target:
            body = self._function_body(target, home)
        elif argv and isolation != "process":
            script = Script(argv, self.m["executable"])
            main = None
            if isolation == "point":
                # What each point would set first, set here once (as sys.path[0] is): the
                # preloaded modules are then imported as they are in `python SCRIPT`, with
                # the script's __main__ (not yet run) and sys.argv, and no point copies the
                # pages of setting them.
                main = script.main_module()
                script.enter(main)
            body = self._script_body(script, main)
            if isolation == "point":
                replay = captured(lambda: preload(argv[1], home))
                local_modules = localimports.install(home)
                local_modules.preimport(leading_imports(argv[1]))
                gc.freeze()  # the children's collections then leave the shared pages alone
                if single_threaded():
                    way = Forked(self.lock_fd, replay, local_modules)
                else:  # forking now would be unsafe: a process per point instead
                    way = Shell(self.m["command"])
        else:
            body = None
            way = Shell(self.m["command"])
        if way is None:
            way = Forked(self.lock_fd) if isolation == "point" else Inline()
        return body, way

    def _function_body(self, target: str, home: str):
        function = functions.load(target, home)
        with open(self.m["config"], "rb") as handle:
            config = functions.decode(handle.read(), self.fmt)
        gc.freeze()

        def body(data: bytes, staged) -> int:
            return functions.call(function, config, data, self.fmt, staged)

        return body

    def _script_body(self, script: Script, forked_main):
        """A point running the script: in ``forked_main`` (a forked point's, entered in this
        process before the fork: each child gets it as it was made), else a fresh module."""

        def body(data: bytes, staged) -> int:  # noqa: ARG001 - the script writes files
            code, main = script.run(forked_main)
            if forked_main is not None:
                finish(main)
            else:  # fresh globals next point; an unclosed file is flushed and closed now
                clear(vars(main))
                flush()
            return code

        return body

    def _run_point(self, point: int, inputs: dict, body, way, deadline) -> dict:
        data = inputs.get(point)
        if data is None:
            return _failed(point, None, "InputsMissing", f"the task's inputs lack point {point}")
        function = self.m.get("function")
        if function:  # no files: one directory for the task, in case the function writes
            wd = self.workdir.once()
        else:
            wd = self.workdir.next(point)
            _write_inputs(os.path.join(wd, self.names["inputs"]), data)

        forked = isinstance(way, Forked)
        scratch = ""
        if forked and function:  # the child's memory ends with it: a file, read back
            scratch = self.staged.scratch(point)  # (a script's output is its own file)

            def staged(value: bytes) -> None:
                with open(scratch, "wb") as handle:
                    handle.write(value)

        else:

            def staged(value: bytes) -> None:
                self.staged.keep_bytes(point, value)

        def run_here() -> int:
            return body(data, staged)

        # Here, not in a forked child: what it changes (the environment's strings, its array)
        # would be pages the child copies, while this process owns them again by now.
        self._enter(wd, point)
        started = time.monotonic()
        code = way.run(run_here, deadline)
        supervise.end_descendants()
        took = round(time.monotonic() - started, 6)
        if code is None:
            wall = self.m["wall_time"]
            return _failed(
                point,
                None,
                "MaxWallClockTimeExceeded",
                f"the task ran longer than its max_wall_time ({wall:g} s) and was terminated",
                took,
            )
        if code != 0:
            why = "NonZeroExitCode" if code > 0 else "Killed"
            return _failed(point, code, why, f"the worker exited with code {code}", took)
        produced = None if function else os.path.join(wd, self.names["outputs"])
        if forked and function:
            produced = scratch
        if produced is not None:
            try:
                self.staged.keep_file(point, produced)
            except FileNotFoundError:
                message = (
                    f"the worker exited 0 but wrote no {self.names['outputs']} (point {point})"
                )
                return _failed(point, 0, "OutputMissing", message, took)
        return {"point": point, "exit_code": 0, "wall_s": took}

    def _enter(self, wd: str, point: int) -> None:
        """The point's directory and environment (what a point may have changed, set again)."""
        self.workdir.enter(wd)
        os.environ["SUPERBATCH_POINT"] = str(point)
        for name, value in (
            ("SUPERBATCH_TASK_ID", self.m["task_id"]),
            ("AZ_BATCH_TASK_WORKING_DIR", wd),
            ("PWD", wd),
        ):
            if not _env_is(name, value):  # putenv is not free: only what changed
                os.environ[name] = value

    def _publish(self) -> None:
        os.chdir(self.task_dir)
        first, count = self.m["points"]
        tar_name = f"{self.m['task_id']}.tar" if self.m["multi_point"] else None
        self.staged.publish(self.m["outputs_dir"], tar_name, range(first, first + count))
        self.workdir.remove()

    def _upload(self) -> int:
        """Upload the staged outputs, then remove them whatever happened."""
        from superbatch.taskrunner import upload  # imported by __init__ already

        os.chdir(self.task_dir)
        self.workdir.remove()
        first, count = self.m["points"]
        try:
            if self.m["multi_point"]:
                path = os.path.join(self.task_dir, OUTPUTS_TAR)
                self.staged.tar(path, range(first, first + count))
            else:
                path = self.staged.file_of(first)
            upload.upload(path, self.destination, self.m["upload"])
        except (upload.UploadFailed, OSError) as exc:
            print(f"superbatch: could not upload the task's output: {exc}", file=sys.stderr)
            return UPLOAD_FAILED_EXIT
        finally:
            tarred = os.path.join(self.task_dir, OUTPUTS_TAR)
            if self.m["multi_point"] and os.path.exists(tarred):
                os.remove(tarred)
            self.staged.reset()
        return 0


def _write_inputs(path: str, data: bytes) -> None:
    """Overwrite the last point's inputs file in place (its inode reused: creating a file
    costs more), never truncating it to zero first: ext4 then writes the file out to disk
    as it is closed (its ``auto_da_alloc``), milliseconds a point where ``open(path, "wb")``
    would do."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except PermissionError:  # the last point made it read-only
        os.unlink(path)
        fd = os.open(path, flags, 0o666)
    try:
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.pwrite(fd, view[written:], written)
        os.ftruncate(fd, len(view))
    finally:
        os.close(fd)


def _env_is(name: str, value: str) -> bool:
    """``os.environ.get(name) == value``, without decoding (this runs a few times a point)."""
    raw = getattr(os.environ, "_data", None)  # os.environ's own mapping, of encoded strings
    if raw is None:
        return os.environ.get(name) == value
    return raw.get(os.environ.encodekey(name)) == os.environ.encodevalue(value)


def _failed(point: int, exit_code, code: str, message: str, took: float = 0.0) -> dict:
    return {
        "point": point,
        "exit_code": exit_code,
        "wall_s": took,
        "code": code,
        "message": message,
    }


def _status(line: dict) -> int:
    """The task runner's exit status for a failed point, as the shell loop's would be."""
    code = line["exit_code"]
    if line["code"] == "MaxWallClockTimeExceeded":
        return TIMEOUT_EXIT
    if line["code"] == "OutputMissing":
        return NO_OUTPUT_EXIT
    if code is None:
        return 1
    return code if code > 0 else 128 - code
