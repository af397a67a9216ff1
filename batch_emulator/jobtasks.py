"""The job's preparation and release tasks on a node (a mixin of :class:`node.Node`).

A preparation task runs once per node and job before the job's first task there (with its
retries); a release task runs on every node that ran the preparation task when the job ends.
Both run like tasks (``Node._command``, ``Node._image``) but report into the node's
:class:`PrepRecord` rather than a task.
"""

from __future__ import annotations

import threading

from . import process
from .entities import ComputeNode, Job, PrepRecord, iso, now
from .files import TaskFailure, download_resources
from .shared import NodeShared
from .validation import parse_duration


def completed(info: dict, code: int | None, failure: dict | None) -> None:
    """A preparation, release or start task's execution information once its run ended."""
    info.update(state="completed", endTime=iso(now()), result="failure" if failure else "success")
    if code is not None:
        info["exitCode"] = code
    if failure:
        info["failureInfo"] = failure


RELEASE_LIMIT = 15 * 60  # the release task's default (and maximum) maxWallClockTime, seconds


class JobTasks(NodeShared):
    """Preparation and release tasks; the node provides store, _procs, _image, _command, _job_dir."""

    @staticmethod
    def _waits_for_prep(job: Job) -> bool:
        return (job.prep_task or {}).get("waitForSuccess", True) is not False

    def _prepare(self, job: Job, record: PrepRecord) -> bool:
        """Run the job's preparation task on the record's node once (with its retries)."""
        with record.lock:
            if record.done:
                return record.ok
            spec = job.prep_task
            assert spec is not None  # a preparation record is made only for a job with one
            limit = int((spec.get("constraints") or {}).get("maxTaskRetryCount", 0))
            retries = 0
            while True:
                info = {
                    "state": "running",
                    "startTime": iso(now()),
                    "retryCount": retries,
                    "taskRootDirectory": f"workitems/{job.id}/job-1/{prep_id(job)}",
                    "taskRootDirectoryUrl": f"{record.node.url}/files/workitems/{job.id}/job-1/{prep_id(job)}",
                }
                with self.store.lock:
                    record.prep = info
                code, failure = self._run_special(
                    job, record.node, spec, prep_id(job), record, None
                )
                with self.store.lock:
                    completed(info, code, failure)
                if failure and code not in (None, 0) and (limit == -1 or retries < limit):
                    retries += 1
                    info["lastRetryTime"] = iso(now())
                    continue
                with self.store.lock:
                    record.done, record.ok = True, failure is None
                    self.store.wake()
                return record.ok

    def _release_job(self, job: Job, records: list[PrepRecord]) -> None:
        """Run the job's release task on every node that ran its preparation task."""

        def run_all():
            threads = [
                threading.Thread(target=self._release_on, args=(job, r), daemon=True)
                for r in records
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.store.release_done(job)

        threading.Thread(target=run_all, name=f"release-{job.id}", daemon=True).start()

    def _release_on(self, job: Job, record: PrepRecord) -> None:
        with record.lock:  # after a preparation task still running there
            spec = job.release_task
            assert spec is not None  # released only for a job with a release task
            rid = spec.get("id") or "jobrelease"
            info = {
                "state": "running",
                "startTime": iso(now()),
                "taskRootDirectory": f"workitems/{job.id}/job-1/{rid}",
                "taskRootDirectoryUrl": f"{record.node.url}/files/workitems/{job.id}/job-1/{rid}",
            }
            with self.store.lock:
                record.release = info
            limit = (
                parse_duration(spec["maxWallClockTime"]).total_seconds()
                if spec.get("maxWallClockTime")
                else RELEASE_LIMIT
            )
            code, failure = self._run_special(job, record.node, spec, rid, record, limit)
            with self.store.lock:
                completed(info, code, failure)

    def _run_special(
        self,
        job: Job,
        node: ComputeNode,
        spec: dict,
        task_id: str,
        record: PrepRecord,
        wall: float | None,
    ) -> tuple[int | None, dict | None]:
        """Run a preparation or release task to its end: (exit code, failureInfo)."""
        task_dir = self._job_dir(node, job) / task_id
        wd = task_dir / "wd"
        try:
            wd.mkdir(parents=True, exist_ok=True)
            image = self._image(spec.get("containerSettings"))
            download_resources(spec.get("resourceFiles"), wd)
            args, cwd, env = self._command(spec, job, node, task_id, task_dir, wd, image, record)
            if wall is None:
                limit = (spec.get("constraints") or {}).get("maxWallClockTime")
                wall = parse_duration(limit).total_seconds() if limit else None
            proc = process.launch(args, cwd, env, task_dir)
            self._procs.add(proc)
            try:
                code = process.wait(proc, wall if wall is None or wall < 10**9 else None)
            finally:
                self._procs.discard(proc)
        except TaskFailure as exc:
            return None, exc.info
        except Exception as exc:  # noqa: BLE001 - as for tasks: the node carries on
            return None, {
                "category": "servererror",
                "code": "EmulatorInternalError",
                "message": repr(exc),
            }
        if code is None:
            return None, {
                "category": "usererror",
                "code": "TaskEnded",
                "message": "The task exceeded its maxWallClockTime and was terminated.",
            }
        return code, (exit_failure(code) if code else None)


def prep_id(job: Job) -> str:
    """The preparation task's id (the service's default when the job names none)."""
    return (job.prep_task or {}).get("id") or "jobpreparation"


def exit_failure(code: int) -> dict:
    """The failureInfo the service reports for a nonzero exit code."""
    return {
        "category": "usererror",
        "code": "FailureExitCode",
        "message": "The task process exited with an unexpected exit code",
        "details": [
            {
                "name": "Message",
                "value": f"The task process exited with an unexpected exit code: {code}",
            }
        ],
    }
