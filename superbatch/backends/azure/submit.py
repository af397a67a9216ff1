"""The submit pipeline: containers, config, pool, job, every task in, then a reconciliation.

A task is either added or the command fails: chunks that the service finds too large are
split (both halves are sent), tasks it answers with a server error are re-sent, and the end
of every submit checks that the Batch job holds every task of the plan: its task counts when
they account for all (one request), else a listing of its tasks, adding whatever the job
lacks. An interrupted submit resumes from ``azure_submit.jsonl`` (chunks known added).

Task definitions are REST documents already, so add-collection requests and the task listing
go through the SDK's pipeline (its authentication, shared key or Entra ID, and transport) as
JSON, without its models: building and parsing a model per task cost more than everything
else a task needs (docs/benchmarks.md). How many requests are in flight adapts to the round
trip and to throttling (``inflight.py``).

One module (about 400 lines) because adding, resuming and reconciling are one guarantee
(no task dropped); what does not depend on it lives beside it (definitions, inflight,
nodesetup, pool, target).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.core.rest import HttpRequest

from superbatch.backends.azure import runnerapp
from superbatch.backends.azure.definitions import (
    TOKEN_METADATA,
    TaskContext,
    body_size,
    inputs_tar,
    is_inline,
    job_definition,
    largest_task,
    packed_inputs,
    task_body,
    tasks_per_request,
)
from superbatch.backends.azure.inflight import InFlight
from superbatch.backends.azure.noderunner import node_runner
from superbatch.backends.azure.nodesetup import prep_task, registry_reference
from superbatch.backends.azure.session import (
    BATCH_API_VERSION,
    Session,
    error_code,
    wait_until_deleted,
)
from superbatch.backends.azure.spec import azure_section
from superbatch.backends.azure.target import config_blob, input_blob
from superbatch.contract.codec import get_codec
from superbatch.errors import InfraError, UserError
from superbatch.plan.chunks import TaskPlan
from superbatch.spec.workerenv import resolve_env
from superbatch.util.bars import Progress
from superbatch.util.files import append_lines, read_json_lines
from superbatch.util.redact import redact

REQUESTS_IN_FLIGHT = 4  # to start with; InFlight moves it between 1 and MAX_IN_FLIGHT
MAX_IN_FLIGHT = 32
PROGRESS_FILE = "azure_submit.jsonl"
SERVER_ERROR_ROUNDS = 8
JSON_TYPE = "application/json; odata=minimalmetadata"
LIST_PAGE = 1000
COUNTS_SETTLE = (0.5, 1.0, 2.0)  # seconds before asking short task counts again


class Submitter:
    """Adds a set of the plan's tasks to one Batch job of the submission."""

    def __init__(self, session: Session, batch_job_id: str, progress: Progress):
        self.session = session
        self.batch_job_id = batch_job_id
        self.progress = progress
        self.codec = get_codec(session.record.format)
        self.flow = InFlight(REQUESTS_IN_FLIGHT, 1, MAX_IN_FLIGHT)
        self._lock = threading.Lock()

    # -- the Batch job -------------------------------------------------------------------

    def ensure_job(self) -> None:
        s = self.session
        definition = job_definition(
            self.batch_job_id,
            s.target.pool_id,
            s.record.token,
            prep_task(s) if s.target.mode == "code" else None,
        )
        get = lambda: s.client.get_job(self.batch_job_id)  # noqa: E731
        while True:
            try:
                s.call(lambda: s.client.create_job(definition), f"create job {self.batch_job_id}")
                return
            except HttpResponseError as exc:
                if error_code(exc) == "JobBeingDeleted":  # its id is free once it is gone
                    wait_until_deleted(s, get, f"job {self.batch_job_id} is being deleted")
                    continue
                if not isinstance(exc, ResourceExistsError) and error_code(exc) != "JobExists":
                    raise s.refused(exc, f"creating job {self.batch_job_id}") from None
                break
        # Ours (an earlier, interrupted submit) or someone else's with the same id?
        job = s.call(lambda: s.client.get_job(self.batch_job_id), f"get job {self.batch_job_id}")
        tokens = {m.name: m.value for m in (job.metadata or [])}
        if tokens.get(TOKEN_METADATA) != s.record.token:
            raise UserError(
                f"a Batch job named {self.batch_job_id} already exists and was not "
                f"created by this submission; submit again with --new for a new "
                f"job id."
            )

    def job_completed(self) -> bool:
        s = self.session
        job = s.call(
            lambda: s.client.get_job(self.batch_job_id, select=["id", "state"]),
            f"get job {self.batch_job_id}",
        )
        return job.state in ("completed", "terminating")

    def finish_job(self) -> None:
        """Now that every task is in, let the job end by itself when they complete."""
        from azure.batch import models as bm

        s = self.session
        update = bm.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob")
        try:
            s.call(
                lambda: s.client.update_job(self.batch_job_id, update),
                f"update job {self.batch_job_id}",
            )
        except HttpResponseError as exc:
            if error_code(exc) not in ("JobCompleted", "JobTerminating"):
                raise s.refused(exc, f"updating job {self.batch_job_id}") from None

    # -- tasks ---------------------------------------------------------------------------

    def context(self, expiry: datetime, multi_point: bool) -> TaskContext:
        """What the tasks share; uploads the task runner if they run it (``noderunner``)."""
        s = self.session
        runner = node_runner(s.record.spec, s.record.format, s.record.command, multi_point, s.names)
        runner_url = runnerapp.url(s, runnerapp.ship(s), expiry) if runner else None
        return TaskContext(
            job_id=s.job_id,
            batch_job_id=self.batch_job_id,
            spec=s.record.spec,
            names=s.names,
            command=s.record.command,
            config_url=s.inputs.read_url(config_blob(s.job_id, s.names), expiry),
            output_container_url=s.outputs.write_url(expiry, s.policy_id),
            registry=registry_reference(s),
            multi_point=multi_point,
            env=resolve_env(s.record.spec.worker),
            code_mode=s.target.mode == "code",
            runner=runner,
            runner_url=runner_url,
        )

    def add(
        self,
        tasks: Iterable[tuple[TaskPlan, list]],
        total: int,
        ctx: TaskContext,
        expiry: datetime,
        skip_recorded: bool = True,
    ) -> None:
        """Upload inputs and add tasks, several requests in flight.

        With ``skip_recorded``, tasks an interrupted submit recorded as added are skipped
        (the reconciliation at the end checks them against the service anyway).
        """
        done = self._done_tasks() if skip_recorded else set()
        per_request = tasks_per_request(body_size(largest_task(ctx, _sample_task(ctx))))
        # Requests are built in any of the threads; ``self.flow`` bounds how many are sent
        # at once, and the queue of built chunks stays small (bounded memory).
        with (
            self.progress.bar("adding tasks", total) as bar,
            ThreadPoolExecutor(self.session.storage.concurrency) as uploads,
            ThreadPoolExecutor(MAX_IN_FLIGHT) as requests,
        ):
            in_flight: deque = deque()
            for chunk in _batched(tasks, per_request):
                todo = [(t, p) for t, p in chunk if t.number not in done]
                if not todo:
                    bar.advance(len(chunk))
                    continue
                in_flight.append(requests.submit(self._chunk, todo, ctx, expiry, uploads))
                bar.advance(len(chunk) - len(todo))
                while len(in_flight) >= 2 * self.flow.limit:
                    bar.advance(in_flight.popleft().result())
            while in_flight:
                bar.advance(in_flight.popleft().result())

    def _chunk(
        self,
        chunk: list[tuple[TaskPlan, list]],
        ctx: TaskContext,
        expiry: datetime,
        uploads: ThreadPoolExecutor,
    ) -> int:
        s = self.session
        inline = azure_section(s.record.spec).inline_inputs
        bodies, blobs = [], []
        for task, points in chunk:
            encoded = [self.codec.dumps(p) for p in points]
            url = None
            data = inputs_tar(task, encoded, s.names) if ctx.multi_point else encoded[0]
            small = packed_inputs(data) if ctx.multi_point and inline else data
            if inline and is_inline(small):
                data = small
            else:
                name = input_blob(s.job_id, task.id)
                blobs.append((name, data))
                url = s.inputs.read_url(name, expiry)
            bodies.append(task_body(ctx, task, data, url))
        if blobs:
            s.call(lambda: s.inputs.upload_many(blobs, uploads), "upload inputs")
        self.add_collection(bodies)
        with self._lock:
            append_lines(
                s.state.dir / PROGRESS_FILE,
                [json.dumps({"job": self.batch_job_id, "tasks": [t.number for t, _ in chunk]})],
            )
        return len(chunk)

    def add_collection(self, bodies: list[dict]) -> None:
        """Add these tasks until every one is in, or fail. Never drops a task."""
        s = self.session
        queue: deque[list[dict]] = deque([bodies])
        rounds = 0
        while queue:
            part = queue.popleft()
            try:
                results = s.call(lambda p=part: self._post(p), f"add tasks to {self.batch_job_id}")
            except HttpResponseError as exc:
                if error_code(exc) == "RequestBodyTooLarge":
                    if len(part) == 1:
                        raise UserError(
                            f"the service refused task {part[0]['id']} of job "
                            f"{self.batch_job_id} as too large "
                            f"({body_size(part[0])} bytes); shorten the worker "
                            f"command or its environment."
                        ) from None
                    middle = len(part) // 2
                    queue.appendleft(part[middle:])
                    queue.appendleft(part[:middle])
                    continue
                raise s.refused(exc, f"adding tasks to job {self.batch_job_id}") from None
            by_id = {b["id"].lower(): b for b in part}
            again = []
            for item in results:
                body = by_id.pop(str(item.get("taskId") or "").lower(), None)
                status = str(item.get("status") or "").lower()
                if status == "success":
                    continue
                error = item.get("error") or {}
                code = error.get("code")
                if code == "TaskExists":
                    continue  # added by an earlier attempt: ids are deterministic
                if status == "servererror":
                    if body is not None:
                        again.append(body)
                    continue
                message = (error.get("message") or {}).get("value") or ""
                raise UserError(
                    redact(
                        f"the service refused task {item.get('taskId')} of job "
                        f"{self.batch_job_id}: {code}: {message}"
                    )
                )
            again += by_id.values()  # tasks the answer did not mention: send them again
            if again:
                rounds += 1
                if rounds > SERVER_ERROR_ROUNDS:
                    raise InfraError(
                        f"adding tasks to job {self.batch_job_id}: the service "
                        f"kept failing for {len(again)} tasks. Nothing is lost: "
                        f"run the same command again to resume."
                    )
                time.sleep(min(10.0, 0.25 * 2**rounds))
                queue.append(again)

    def _post(self, part: list[dict]) -> list[dict]:
        """One add-collection request (one attempt; ``Session.call`` retries); its results.

        A 429 or 503 halves the requests in flight and waits the ``Retry-After`` the
        service gave before the retry's own backoff."""
        s = self.session
        request = HttpRequest(
            "POST",
            f"/jobs/{quote(self.batch_job_id, safe='')}/addtaskcollection",
            params={"api-version": BATCH_API_VERSION},
            headers={"Content-Type": JSON_TYPE},
            content=json.dumps({"value": part}, separators=(",", ":")).encode(),
        )
        try:
            with self.flow.slot():
                response = s.client.send_request(request, retry_total=0)
            response.raise_for_status()  # the SDK raises already (its error policy); not relied on
        except HttpResponseError as exc:
            if exc.status_code in (429, 503):
                after = retry_after(exc)
                self.flow.throttled(after)
                if after:
                    time.sleep(after)
            raise
        self.flow.completed(len(part))
        return response.json().get("value") or []

    def counts_reach(self, wanted: int) -> bool:
        """Whether the Batch job's task counts show at least ``wanted`` tasks.

        The service warns that counts may not be up to date: they can lag behind tasks just
        added, so short counts are asked again a few times (``COUNTS_SETTLE``) before the
        caller lists every task; a job of one page is listed straight away, as cheaply."""
        if wanted <= LIST_PAGE:
            return False
        s = self.session
        for pause in (0.0, *COUNTS_SETTLE):
            time.sleep(pause)
            counts = s.call(
                lambda: s.client.get_job_task_counts(self.batch_job_id),
                f"task counts of {self.batch_job_id}",
            ).task_counts
            if counts.active + counts.running + counts.completed >= wanted:
                return True
        return False

    def held_task_ids(self) -> set[str]:
        """The ids of every task the Batch job holds (lowercase), a page of 1,000 at a time."""
        s = self.session
        query: dict | None  # the first page's; a next link carries its own
        query = {"api-version": BATCH_API_VERSION, "$select": "id", "maxresults": str(LIST_PAGE)}
        url = f"/jobs/{quote(self.batch_job_id, safe='')}/tasks"
        held: set[str] = set()

        def get(u: str, q: dict | None) -> dict:
            response = s.client.send_request(HttpRequest("GET", u, params=q))
            response.raise_for_status()
            return response.json()

        while url:
            page = s.call(lambda u=url, q=query: get(u, q), f"list tasks of {self.batch_job_id}")
            held.update(str(t.get("id", "")).lower() for t in page.get("value") or [])
            url, query = page.get("odata.nextLink"), None  # the link carries its own query
        return held

    def _done_tasks(self) -> set[int]:
        done: set[int] = set()
        for entry in read_json_lines(self.session.state.dir / PROGRESS_FILE):
            if entry.get("job") == self.batch_job_id and isinstance(entry.get("tasks"), list):
                done.update(i for i in entry["tasks"] if isinstance(i, int))
        return done


def retry_after(exc: HttpResponseError) -> float | None:
    """Seconds from the answer's ``Retry-After`` (capped at a minute), or None."""
    response = getattr(exc, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(60.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None


def missing_tasks(wanted: Iterable[TaskPlan], held: set[str]) -> list[TaskPlan]:
    return [t for t in wanted if t.id.lower() not in held]


def _sample_task(ctx: TaskContext) -> TaskPlan:
    points = ctx.spec.tasks.points_per_task
    count = points if isinstance(points, int) else 2
    return TaskPlan(0, "task-" + "9" * 10, 10**9, count if ctx.multi_point else 1, ctx.multi_point)


def _batched(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def reconcile(
    submitter: Submitter, wanted: list[TaskPlan], points_of, ctx: TaskContext, expiry: datetime
) -> None:
    """Add what the Batch job lacks of ``wanted``; fail if it still lacks any.

    Only this submission adds tasks to its Batch jobs, each id once and none deleted, so
    a count of at least ``len(wanted)`` means every one is held: a request or a few instead
    of listing every task (100 sequential pages at 100,000 tasks)."""
    for _ in range(3):
        if submitter.counts_reach(len(wanted)):
            return
        missing = missing_tasks(wanted, submitter.held_task_ids())
        if not missing:
            return
        submitter.add(
            ((t, points_of(t)) for t in missing), len(missing), ctx, expiry, skip_recorded=False
        )
    missing = missing_tasks(wanted, submitter.held_task_ids())
    if missing:
        shown = ", ".join(t.id for t in missing[:5])
        raise InfraError(
            f"job {submitter.batch_job_id} still lacks {len(missing)} of its "
            f"{len(wanted)} tasks ({shown}{' ...' if len(missing) > 5 else ''}) "
            f"after adding them again. Run the same command again."
        )
