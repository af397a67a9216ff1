"""The azure backend: a pool, a job and its tasks on Azure Batch; files in Blob Storage."""
from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections import deque
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from azure.batch import models as bm
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from superbatch.backends.azure import credentials as creds
from superbatch.backends.azure.definitions import (TaskContext, input_blob, is_inline,
                                                   job_definition, output_blob,
                                                   pool_definition, task_definition)
from superbatch.backends.azure.retry import describe, with_retries
from superbatch.backends.azure.storage import BlobStore
from superbatch.backends.base import Backend, JobStatus, TaskFailure, TaskLogs
from superbatch.codec import get_codec
from superbatch.contract import file_names
from superbatch.errors import InfraError, UserError
from superbatch.plan import TaskPlan
from superbatch.progress import Progress
from superbatch.redact import redact

TASKS_PER_REQUEST = 100  # the service's limit per add-task-collection request
REQUESTS_IN_FLIGHT = 4
PROGRESS_FILE = "azure_submit.jsonl"
STDERR_TAIL = 400
FAILURES_WITH_STDERR = 10


def poll_seconds() -> float:
    return float(os.environ.get("SUPERBATCH_POLL_SECONDS", "5"))


class AzureBackend(Backend):
    name = "azure"

    def __init__(self, state, manifest: dict, spec):
        super().__init__(state, manifest)
        self.spec = spec
        self._client = None
        self._store = None
        self._names = file_names(manifest["format"])
        self._hint = self._rerun_hint()

    # -- clients (credentials are read once, lazily) -------------------------------------

    def preflight(self) -> None:
        """Check every credential before anything is created (exit 2 naming the variable)."""
        creds.batch_credentials()
        creds.storage_credentials()
        registry = self.spec.model.azure.registry
        if registry:
            creds.registry_credentials(registry.server)

    @property
    def azure(self) -> dict:
        return self.manifest.setdefault("azure", {})

    @property
    def client(self):
        if self._client is None:
            self._client = creds.batch_credentials().client(retry_total=3,
                                                            retry_backoff_factor=0.2)
        return self._client

    @property
    def store(self) -> BlobStore:
        if self._store is None:
            container = self.azure.get("container") or self.spec.model.azure.storage.container
            self._store = BlobStore(creds.storage_credentials(), container,
                                    self.spec.model.azure.transfer_concurrency)
        return self._store

    @property
    def prefix(self) -> str:
        return f"{self.state.job_id}/"

    @property
    def job_ids(self) -> list[str]:
        return [self.state.job_id] + [r["job"] for r in self.azure.get("retries", [])]

    def _call(self, fn, what: str):
        return with_retries(fn, what, self._hint)

    def _rerun_hint(self) -> str:
        """What to run again after an infrastructure failure: the command that is running
        (read here, in the command's thread: click's context is thread-local)."""
        import click

        ctx = click.get_current_context(silent=True)
        command = ctx.info_name if ctx and ctx.info_name != "superbatch" else "submit"
        backend = "" if self.spec.model.backend == "azure" else " --backend azure"
        resume = " to resume where it stopped" if command in ("submit", "run", "retry") else ""
        return (f"run `superbatch {command} {self.spec.path}{backend}` again{resume} "
                f"(job {self.state.job_id}).")

    # -- submit ----------------------------------------------------------------------------

    def submit(self, plan, progress: Progress) -> None:
        model = self.spec.model
        self.azure.update({"pool_id": model.azure.pool.id,
                           "container": model.azure.storage.container,
                           "prefix": self.prefix, "endpoint": creds.batch_credentials().endpoint,
                           "storage_account": self.store.service.account_name,
                           "image": model.worker.image})
        self.state.update_manifest(azure=self.azure)
        done = self._submit_progress()
        self._call(self.store.ensure_container, "create the blob container")
        expiry = self._sas_expiry(plan.task_count)
        codec = get_codec(self.manifest["format"])
        config_blob = f"{self.prefix}{self._names.config}"
        if "config" not in done:
            self.store.upload(config_blob, codec.dumps(model.globals))
            self._record({"config": True})
        self.ensure_pool(progress)
        self._ensure_job(self.state.job_id)
        ctx = self._task_context(config_blob, expiry)
        self._add_tasks(self.state.job_id, ctx, expiry, plan.points_with_tasks(),
                        plan.task_count, done, codec, progress)
        self._finish_job(self.state.job_id)

    def _sas_expiry(self, tasks: int) -> datetime:
        """Long enough for every task to run (with retries) on the pool, plus a day; <= 30 days."""
        model = self.spec.model
        wall = model.tasks.max_wall_time or timedelta(days=1)
        pool = model.azure.pool
        slots = max(1, (pool.dedicated_nodes + pool.low_priority_nodes or 1)
                    * pool.task_slots_per_node)
        tries = (model.tasks.max_retries + 1) if model.tasks.max_retries >= 0 else 4
        needed = wall * tries * math.ceil(tasks / slots) + timedelta(days=1)
        return datetime.now(timezone.utc) + min(needed, timedelta(days=30))

    def _task_context(self, config_blob: str, expiry: datetime) -> TaskContext:
        return TaskContext(job_id=self.state.job_id, spec=self.spec.model, names=self._names,
                           command=self.manifest["command"],
                           config_url=self.store.blob_read_url(config_blob, expiry),
                           output_container_url=self.store.container_write_url(expiry),
                           prefix=self.prefix, registry=self._registry())

    def _submit_progress(self) -> set:
        """What earlier (interrupted) submits finished: "config" and added chunk numbers."""
        done: set = set()
        try:
            lines = (self.state.dir / PROGRESS_FILE).read_text().splitlines()
        except FileNotFoundError:
            return done
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "config" in entry:
                done.add("config")
            if "chunk" in entry:
                done.add((entry.get("job", self.state.job_id), entry["chunk"]))
        return done

    def _record(self, entry: dict) -> None:
        """Append one progress line in one O_APPEND write; the leading newline ends a line
        torn by a kill, so that line alone is skipped when reading."""
        fd = os.open(self.state.dir / PROGRESS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, ("\n" + json.dumps(entry) + "\n").encode())
        finally:
            os.close(fd)

    def ensure_pool(self, progress: Progress) -> None:
        model = self.spec.model
        pool_id = model.azure.pool.id
        try:
            pool = self._call(lambda: self.client.get_pool(pool_id), f"pool {pool_id}")
        except ResourceNotFoundError:
            definition = pool_definition(model, self._registry())
            try:
                self._call(lambda: self.client.create_pool(definition), f"create pool {pool_id}")
            except ResourceExistsError:
                pass
            except HttpResponseError as exc:
                raise self._refused(exc, f"creating pool {pool_id}") from None
            return
        for note in pool_differences(pool, model):
            self.manifest.setdefault("notes", []).append(note)
            import click

            click.echo(f"note: {note}", err=True)

    def _registry(self) -> bm.ContainerRegistryReference | None:
        """The spec's private registry, with credentials from the environment."""
        registry = self.spec.model.azure.registry
        if not registry:
            return None
        rc = creds.registry_credentials(registry.server)
        return bm.ContainerRegistryReference(registry_server=registry.server,
                                             username=registry.username or rc.username,
                                             password=rc.password)

    def _ensure_job(self, job_id: str) -> None:
        definition = job_definition(job_id, self.spec.model.azure.pool.id)
        try:
            self._call(lambda: self.client.create_job(definition), f"create job {job_id}")
        except ResourceExistsError:
            pass  # created by an earlier (interrupted) submit
        except HttpResponseError as exc:
            if _code(exc) == "JobExists":
                return
            raise self._refused(exc, f"creating job {job_id}") from None

    def _finish_job(self, job_id: str) -> None:
        """Now that every task is in, let the job end by itself when they complete."""
        update = bm.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob")
        try:
            self._call(lambda: self.client.update_job(job_id, update), f"update job {job_id}")
        except HttpResponseError as exc:
            if _code(exc) not in ("JobCompleted", "JobTerminating"):
                raise self._refused(exc, f"updating job {job_id}") from None

    def _add_tasks(self, job_id: str, ctx: TaskContext, expiry: datetime,
                   tasks: Iterable[tuple[TaskPlan, list]], total: int, done: set, codec,
                   progress: Progress) -> None:
        """Upload inputs and add tasks, 100 per request, several requests in flight.

        Points are read once, in order, by this thread (a points file is never re-read);
        chunks already recorded by an interrupted submit are skipped.
        """
        inline = self.spec.model.azure.inline_inputs
        lock = threading.Lock()

        def one_chunk(number: int, chunk: list, uploads: ThreadPoolExecutor) -> int:
            definitions, blobs = [], []
            for task, points in chunk:
                encoded = [(i, codec.dumps(p)) for i, p in zip(task.point_indices, points)]
                urls = {}
                for index, data in encoded:
                    if not (inline and is_inline(data)):
                        name = input_blob(self.prefix, self._names, index)
                        blobs.append((name, data))
                        urls[index] = self.store.blob_read_url(name, expiry)
                definitions.append(task_definition(ctx, task.id, encoded, urls, inline))
            if blobs:
                self._call(lambda: self.store.upload_many(blobs, uploads), "upload inputs")
            self._add_collection(job_id, definitions)
            with lock:
                self._record({"job": job_id, "chunk": number})
            return len(chunk)

        with progress.bar("adding tasks", total) as bar, \
                ThreadPoolExecutor(self.store.concurrency) as uploads, \
                ThreadPoolExecutor(REQUESTS_IN_FLIGHT) as requests:
            in_flight: deque = deque()
            for number, chunk in enumerate(_batched(tasks, TASKS_PER_REQUEST)):
                if (job_id, number) in done:
                    bar.advance(len(chunk))
                    continue
                in_flight.append(requests.submit(one_chunk, number, chunk, uploads))
                while len(in_flight) >= 2 * REQUESTS_IN_FLIGHT:  # bounded memory
                    bar.advance(in_flight.popleft().result())
            while in_flight:
                bar.advance(in_flight.popleft().result())

    def _add_collection(self, job_id: str, definitions: list) -> None:
        """Add tasks until every one is in; only those that failed to add are re-sent."""
        pending = definitions
        size = len(pending)
        for _ in range(50):
            if not pending:
                return
            retry_later = []
            for start in range(0, len(pending), size):
                part = pending[start:start + size]
                try:
                    result = self._call(
                        lambda: self.client.create_task_collection(
                            job_id, bm.BatchTaskGroup(task_values=part)), f"add tasks to {job_id}")
                except HttpResponseError as exc:
                    if _code(exc) == "RequestBodyTooLarge" and size > 1:
                        size = max(1, size // 2)
                        retry_later.extend(part)
                        continue
                    raise self._refused(exc, f"adding tasks to job {job_id}") from None
                by_id = {d.id: d for d in part}
                for item in result.result_values or []:
                    if item.status == "success":
                        continue
                    code = item.error.code if item.error else None
                    if code == "TaskExists":
                        continue  # added by an earlier attempt: ids are deterministic
                    if item.status == "serverError":
                        retry_later.append(by_id[item.task_id])
                    else:
                        message = item.error.message.value if item.error and item.error.message else ""
                        raise UserError(redact(f"the service refused task {item.task_id} of "
                                               f"job {job_id}: {code}: {message}"))
            pending = retry_later
            if pending:
                time.sleep(0.5)
        raise InfraError(f"adding tasks to job {job_id}: {len(pending)} tasks could not be "
                         f"added. Run `superbatch submit {self.spec.path}` again to resume.")

    def _refused(self, exc: HttpResponseError, what: str) -> Exception:
        if exc.status_code in (401, 403):
            return UserError(f"{what}: the service refused the credentials "
                             f"({describe(exc)}); check AZURE_BATCH_ACCOUNT and "
                             f"AZURE_BATCH_ACCESS_KEY (or your az login).")
        message = exc.error.message if getattr(exc, "error", None) else exc.message
        return UserError(redact(f"{what}: {describe(exc)}: {message}"))

    # -- observe ---------------------------------------------------------------------------

    def status(self, with_failures: bool = True) -> JobStatus:
        final = self.manifest.get("final_status")
        if final:  # the Batch jobs were cleaned up after a complete collect
            st = JobStatus(self.state.job_id, final["total"], succeeded=final["succeeded"],
                           failed=final["failed"], job_state=final["job_state"])
            st.notes.append("the Batch job was deleted after collect (azure.cleanup.job); "
                            "this is its final status")
            return st
        try:
            return self._live_status(with_failures)
        except ResourceNotFoundError:
            raise UserError(f"job {self.state.job_id} no longer exists on the Batch account "
                            f"(deleted outside superbatch?); `superbatch submit --new` starts "
                            f"it again.") from None

    def _live_status(self, with_failures: bool) -> JobStatus:
        total = self.manifest["task_count"]
        st = JobStatus(self.state.job_id, total)
        latest: dict[str, tuple[str, TaskFailure]] = {}
        for number, job_id in enumerate(self.job_ids):
            counts = self._call(lambda j=job_id: self.client.get_job_task_counts(j),
                                f"task counts of {job_id}").task_counts
            if number:  # a retry job re-runs tasks that had failed: theirs is the latest word
                retry = self.azure["retries"][number - 1]
                st.failed -= retry["tasks"]
                for task_id in retry["task_ids"]:
                    latest.pop(task_id, None)
            st.active += counts.active
            st.running += counts.running
            st.succeeded += counts.succeeded
            st.failed += counts.failed
            if with_failures and counts.failed:
                for failure in self._failures(job_id):
                    latest[failure.task_id] = (job_id, failure)
        if self.manifest.get("job_state") == "terminated":
            st.job_state = "terminated"
        elif st.completed >= total:
            st.job_state = "completed"
        else:
            job = self._call(lambda: self.client.get_job(self.job_ids[-1]), "get job")
            if job.state in ("completed", "terminating") and st.running == 0:
                st.job_state = "terminated"  # ended before its tasks did (e.g. terminated)
        if with_failures:
            for job_id, failure in sorted(latest.values(), key=lambda jf: jf[1].task_id):
                if len(st.failures) < FAILURES_WITH_STDERR:
                    failure.stderr_tail = self._stderr_tail(job_id, failure.task_id)
                st.failures.append(failure)
        return st

    def _failures(self, job_id: str) -> list[TaskFailure]:
        tasks = self._call(lambda: list(self.client.list_tasks(
            job_id, filter="state eq 'completed'", select=["id", "executionInfo"])),
            f"list tasks of {job_id}")
        out = []
        for task in tasks:
            info = task.execution_info
            if info is None or info.result == "success":
                continue
            fi = info.failure_info
            out.append(TaskFailure(task.id, info.exit_code,
                                   fi.code if fi else "NonZeroExitCode",
                                   redact(fi.message) if fi and fi.message else None))
        return out

    def _stderr_tail(self, job_id: str, task_id: str) -> str | None:
        text = (self._task_file(job_id, task_id, "stderr.txt") or "").strip()
        if not text:
            return None
        return text if len(text) <= STDERR_TAIL else "..." + text[-STDERR_TAIL:]

    def _task_file(self, job_id: str, task_id: str, name: str) -> str | None:
        """From the node while it exists, else the copy uploaded to the job's blobs."""
        try:
            data = b"".join(self.client.download_task_file(job_id, task_id, name))
            return data.decode(errors="replace")
        except (ResourceNotFoundError, HttpResponseError):
            pass
        data = self.store.read(f"{self.prefix}logs/{task_id}/{name}")
        return None if data is None else data.decode(errors="replace")

    def wait(self, timeout: float | None, progress: Progress) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        status = self.status(with_failures=False)
        polls = 0
        with progress.bar("waiting for tasks", status.total) as bar:
            while not status.done:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if polls % 6 == 0:
                    self._check_pool()
                polls += 1
                time.sleep(poll_seconds())
                status = self.status(with_failures=False)
                bar.update(status.completed)
        return self.status()

    def _check_pool(self) -> None:
        """A pool that cannot get nodes is reported, not waited on forever."""
        pool_id = self.azure.get("pool_id") or self.spec.model.azure.pool.id
        try:
            pool = self._call(lambda: self.client.get_pool(pool_id), f"pool {pool_id}")
        except ResourceNotFoundError:
            raise InfraError(f"pool {pool_id} does not exist any more, so job "
                             f"{self.state.job_id} cannot run; run `superbatch submit` again "
                             f"to recreate it.") from None
        nodes = (pool.current_dedicated_nodes or 0) + (pool.current_low_priority_nodes or 0)
        if nodes == 0 and pool.allocation_state == "steady" and pool.resize_errors:
            reasons = "; ".join(f"{e.code}: {e.message}" for e in pool.resize_errors)
            spot = " Spot (low-priority) nodes need a Batch account in user-subscription " \
                   "mode; see docs/azure.md." if (pool.target_low_priority_nodes or 0) else ""
            raise InfraError(redact(f"pool {pool_id} has no nodes and cannot get any "
                                    f"({reasons}).{spot}"))

    def fetch_outputs(self, point_indices: Iterable[int], progress: Progress) -> None:
        """Download each wanted output by name, in parallel.

        Local copies left by an earlier (interrupted) collect are kept when they match their
        blob's size and MD5, or when the blob is gone (e.g. cleaned up after a collect).
        """
        wanted = sorted(set(point_indices))
        local = [i for i in wanted if self.output_path(i).exists()]
        keep = set()
        if local:
            blobs = {b.name: b for b in self._call(
                lambda: self.store.list(f"{self.prefix}outputs/"), "list outputs")}
            for index in local:
                blob = blobs.get(output_blob(self.prefix, self._names, index))
                if blob is None or _is_copy_of(self.output_path(index), blob):
                    keep.add(index)
        todo = [(output_blob(self.prefix, self._names, i), self.output_path(i))
                for i in wanted if i not in keep]
        self.state.outputs_dir.mkdir(parents=True, exist_ok=True)
        with progress.bar("downloading outputs", len(todo)) as bar:
            self._call(lambda: self.store.download_many(todo, bar.advance), "download outputs")

    def logs(self, task_id: str) -> TaskLogs:
        job_id = self.state.job_id
        for retry in self.azure.get("retries", []):
            if task_id in retry["task_ids"]:
                job_id = retry["job"]
        stdout = self._task_file(job_id, task_id, "stdout.txt")
        stderr = self._task_file(job_id, task_id, "stderr.txt")
        if stdout is None and stderr is None:
            raise UserError(f"no logs for task {task_id!r} of job {self.state.job_id} (not "
                            f"run yet, or not one of its tasks); `superbatch status` lists "
                            f"the failed ones.")
        return TaskLogs(task_id, stdout or "", stderr or "")

    # -- control ---------------------------------------------------------------------------

    def retry(self, task_ids: list[str]) -> list[str]:
        """Failed tasks re-run in a new job on the same pool (a finished job cannot reopen)."""
        if not task_ids:
            return []
        from superbatch.grid import Grid
        from superbatch.jobs import run_digest
        from superbatch.plan import JobPlan

        if run_digest(self.spec) != self.manifest.get("run_digest"):
            raise UserError(f"{self.spec.path} changed since job {self.state.job_id} was "
                            f"submitted; retrying would run different tasks. Restore the spec "
                            f"or submit it as a new job with --new.")
        retries = self.azure.setdefault("retries", [])
        job_id = f"{self.state.job_id[:55]}-retry{len(retries) + 1}"
        plan = JobPlan(self.spec, Grid(self.spec), self.manifest["points_per_task"])
        indices = sorted(plan.task_index(t) for t in task_ids)
        self._ensure_job(job_id)
        expiry = self._sas_expiry(len(indices))
        ctx = self._task_context(f"{self.prefix}{self._names.config}", expiry)
        tasks = [plan.task(i) for i in indices]
        with_points = ((t, list(plan.grid.points(t.first_point, t.first_point + t.point_count)))
                       for t in tasks)
        self._add_tasks(job_id, ctx, expiry, with_points, len(tasks), self._submit_progress(),
                        get_codec(self.manifest["format"]), Progress(enabled=False))
        self._finish_job(job_id)
        retries.append({"job": job_id, "tasks": len(indices), "task_ids": list(task_ids)})
        self.manifest = self.state.update_manifest(azure=self.azure)
        return list(task_ids)

    def cancel(self) -> None:
        self.manifest = self.state.update_manifest(job_state="terminated")
        for job_id in self.job_ids:
            try:
                # azure-batch 15.1 cannot send a terminate without options (it fails to
                # serialize the missing body), and does not export the options model.
                options = bm._models.BatchJobTerminateOptions(termination_reason="UserCancelled")
                self._call(lambda j=job_id: self.client.begin_terminate_job(j, options),
                           f"terminate {job_id}")
            except HttpResponseError as exc:
                if _code(exc) not in ("JobCompleted", "JobTerminating", "JobNotFound"):
                    raise self._refused(exc, f"terminating job {job_id}") from None

    def _delete_jobs(self) -> list[str]:
        """Delete the job and its retry jobs; those already gone are skipped."""
        removed = []
        for job_id in self.job_ids:
            try:
                self._call(lambda j=job_id: self.client.begin_delete_job(j), f"delete {job_id}")
                removed.append(f"batch job {job_id}")
            except ResourceNotFoundError:
                pass
        return removed

    def delete(self, include_pool: bool) -> list[str]:
        removed = self._delete_jobs()
        count = self._call(lambda: self.store.delete_prefix(self.prefix), "delete blobs")
        removed.append(f"{count} blobs under {self.store.container.container_name}/{self.prefix}")
        if include_pool:
            pool_id = self.azure.get("pool_id") or self.spec.model.azure.pool.id
            try:
                self._call(lambda: self.client.begin_delete_pool(pool_id), f"delete {pool_id}")
                removed.append(f"pool {pool_id}")
            except ResourceNotFoundError:
                pass
        return removed

    def cleanup_after_collect(self) -> list[str]:
        """What ``azure.cleanup`` asks for once every output is safely on this machine."""
        cleanup = self.spec.model.azure.cleanup
        removed = []
        if cleanup.job:
            final = self.status(with_failures=False)
            self.manifest = self.state.update_manifest(final_status={
                "total": final.total, "succeeded": final.succeeded, "failed": final.failed,
                "job_state": final.job_state})
            removed += self._delete_jobs()
        if cleanup.container:
            count = self._call(lambda: self.store.delete_prefix(self.prefix), "delete blobs")
            removed.append(f"{count} blobs under {self.prefix}")
        return removed


def pool_differences(pool, model) -> list[str]:
    """How an existing pool differs from the spec (it is used as it is)."""
    notes = []
    want = model.azure.pool
    if pool.vm_size and pool.vm_size.lower() != want.vm_size.lower():
        notes.append(f"pool {pool.id} exists with vm_size {pool.vm_size}; the spec says "
                     f"{want.vm_size} (the existing pool is used; delete it to change).")
    vm = pool.virtual_machine_configuration
    config = vm.container_configuration if vm else None
    if config is None:
        notes.append(f"pool {pool.id} exists without a container configuration, so it cannot "
                     f"run the job's container tasks; delete it or choose another azure.pool.id.")
    elif model.worker.image not in (config.container_image_names or []):
        notes.append(f"pool {pool.id} does not prefetch {model.worker.image}; each node pulls "
                     f"it when its first task starts.")
    return notes


def _batched(items: Iterable, size: int) -> Iterable[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _is_copy_of(path, blob) -> bool:
    """Whether ``path`` holds the blob's bytes: same size and, when the service gives it, MD5."""
    try:
        if path.stat().st_size != blob.size:
            return False
        return blob.md5 is None or hashlib.md5(path.read_bytes()).digest() == blob.md5  # noqa: S324
    except FileNotFoundError:
        return False


def _code(exc: HttpResponseError) -> str | None:
    error = getattr(exc, "error", None)
    return getattr(error, "code", None)
