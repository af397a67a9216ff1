"""The azure backend: a pool, a job and its tasks on Azure Batch; files in Blob Storage.

This class only wires the parts together: ``submit`` (the pipeline), ``pool``, ``observe``
(status, logs, waiting), ``outputs`` (verified downloads), ``stopping`` (cancel, seal) and
``lifecycle`` (retry rounds, cleanup, delete), all sharing one :class:`Session`. No Azure
SDK exception leaves its methods (``sdkerrors``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from superbatch.backends.azure import codemode, lifecycle, observe, outputs, stopping
from superbatch.backends.azure import credentials as creds
from superbatch.backends.azure.definitions import (
    MAX_PROPERTY_BYTES,
    MAX_REQUEST_BYTES,
    body_size,
    largest_property,
    largest_task,
    placeholder_context,
)
from superbatch.backends.azure.estimate import estimate as estimate_cost
from superbatch.backends.azure.nodesetup import registry_reference, ship_code
from superbatch.backends.azure.pool import check_pool_fits, ensure_pool
from superbatch.backends.azure.preflight import run_checks
from superbatch.backends.azure.prices import VmPrice, prices_url, region_of, vm_price
from superbatch.backends.azure.retry import with_retries
from superbatch.backends.azure.sdkerrors import guard_sdk_errors
from superbatch.backends.azure.session import Session
from superbatch.backends.azure.spec import BUDGET_KEY, azure_section, azure_worker
from superbatch.backends.azure.storage import Storage
from superbatch.backends.azure.submit import Submitter, missing_tasks, reconcile
from superbatch.backends.azure.target import AzureTarget, config_blob, job_container_name
from superbatch.backends.base import Backend, JobStatus
from superbatch.backends.reports import (
    Check,
    CostEstimate,
    LogChunk,
    SetupLog,
    TaskLogs,
    TaskRun,
)
from superbatch.contract.codec import get_codec
from superbatch.contract.names import file_names
from superbatch.errors import SpecError
from superbatch.plan.chunks import JobPlan, TaskPlan
from superbatch.util.bars import Progress

if TYPE_CHECKING:
    from superbatch.jobs.record import JobRecord
    from superbatch.jobs.state import JobState
    from superbatch.spec.load import Spec


@guard_sdk_errors
class AzureBackend(Backend):
    name = "azure"
    budget_key = BUDGET_KEY

    # -- questions about a spec ------------------------------------------------------------

    @classmethod
    def check_spec(cls, spec: Spec) -> None:
        """With an image, tasks run in it; without one (code mode) the worker's directory is
        shipped, so it must exist here."""
        if azure_worker(spec.model.worker).image:
            return
        if not spec.worker_directory.is_dir():
            raise SpecError(
                f"{spec.where('worker', 'directory')}: worker.directory: "
                f"{spec.worker_directory} does not exist; without worker.image the azure "
                f"backend ships that directory to the nodes (code mode)."
            )
        codemode.requirements_path(spec)

    @classmethod
    def worker_dir(cls, spec: Spec) -> str:
        worker = azure_worker(spec.model.worker)
        if not worker.image:
            return codemode.WORKER_DIR_ON_NODE
        directory = worker.image_directory.rstrip("/")
        return directory  # "" for "/": `{worker_dir}/worker.py` becomes `/worker.py`

    @classmethod
    def slots(cls, spec: Spec, parallel: int | None) -> int:
        pool = azure_section(spec.model).pool
        nodes = pool.dedicated_nodes + pool.low_priority_nodes or 1
        return nodes * pool.task_slots_per_node

    @classmethod
    def check_plan(cls, spec: Spec, plan: JobPlan) -> None:
        """Refuse tasks whose definitions the service would refuse (their size)."""
        command = (spec.model.worker.command or "").replace("{worker_dir}", cls.worker_dir(spec))
        ctx = placeholder_context(
            spec.model, file_names(spec.model.worker.format), command, plan.multi_point
        )
        body = largest_task(
            ctx,
            TaskPlan(
                plan.task_count - 1,
                plan.task_id(plan.task_count - 1),
                max(0, plan.point_count - 1),
                1,
                plan.multi_point,
            ),
        )
        size = body_size(body)
        path, largest = largest_property(body)
        if size > MAX_REQUEST_BYTES or largest > MAX_PROPERTY_BYTES:
            raise SpecError(
                f"{spec.where('worker', 'command')}: worker.command: a task's definition would "
                f"be {size:,} bytes with a {largest:,}-byte {path}; Azure Batch refuses tasks "
                f"over {MAX_REQUEST_BYTES:,} bytes and this backend keeps each property under "
                f"{MAX_PROPERTY_BYTES:,} bytes. Shorten the command (put long scripts in the "
                f"worker's files)."
            )

    @classmethod
    def price(cls, spec) -> VmPrice:
        """The pool's VM prices in the job's region (the spec's, else the endpoint's)."""
        azure = azure_section(spec.model)
        region = azure.region or region_of(os.environ.get("AZURE_BATCH_ENDPOINT"))
        return vm_price(azure.pool.vm_size, region)

    @classmethod
    def estimate(
        cls, spec: Spec, plan: JobPlan, per_point_s: float | None, source: str
    ) -> CostEstimate | None:
        mode = "image" if azure_worker(spec.model.worker).image else "code"
        price = cls.price(spec)
        est = estimate_cost(spec.model, plan, per_point_s, source, price, mode)
        azure = azure_section(spec.model)
        if azure.budget:
            est.budget_usd = azure.budget.max_usd
            spot = azure.pool.low_priority_nodes
            if price.dedicated is None or (spot and price.spot is None):
                # The spend is the pool's nodes at these prices: without them, never known.
                est.budget_problem = (
                    f"the budget cannot be enforced: no list price of {price.vm_size}"
                    f"{' Spot' if price.dedicated is not None else ''} in "
                    f"{price.region or 'an unknown region'} ({price.source.removeprefix('unknown: ')}). "
                    f"Let superbatch reach the Azure Retail Prices API ({prices_url()}; "
                    f"SUPERBATCH_PRICES_URL names a mirror), set azure.region if it is "
                    f"unknown, or remove azure.budget"
                )
        return est

    @classmethod
    def preflight(cls, spec: Spec, plan: JobPlan, thorough: bool = False) -> list[Check]:
        return run_checks(spec, write_probe=thorough)

    @classmethod
    def connect(cls, spec: Spec, job_id: str | None, parallel: int | None) -> dict[str, Any]:
        """Read the credentials, try each with a read-only call, and name the job's places."""
        azure = azure_section(spec.model)
        batch = creds.batch_credentials()
        storage = Storage(creds.storage_credentials(), azure.transfer_concurrency)
        if azure.registry:
            creds.registry_credentials(azure.registry.server)
        hint = "Nothing was created: run the command again when the service answers."
        client = batch.client(retry_total=1, retry_backoff_factor=0.2)
        pool_id = azure.pool.id
        try:
            pool = with_retries(
                lambda: client.get_pool(pool_id), "check the Batch credentials", hint
            )
            check_pool_fits(pool, spec.model)
        except ResourceNotFoundError:
            pass  # the credentials work; the pool is created at submit
        container = storage.container(azure.storage.container)
        with_retries(container.exists, "check the storage credentials", hint)
        code: dict[str, Any] = {}
        if not azure_worker(spec.model.worker).image:
            from superbatch.jobs.state import STATE_DIRNAME

            bundle = codemode.pack(spec, (spec.path, spec.directory / STATE_DIRNAME))
            code = {
                "mode": "code",
                "code_archive": bundle.archive_blob,
                "code_requirements": bundle.requirements_blob,
                "env_digest": bundle.env_digest,
            }
        price = cls.price(spec)
        return AzureTarget(
            price_dedicated=price.dedicated,
            price_spot=price.spot,
            endpoint=batch.endpoint,
            account=batch.account,
            storage_account=storage.account_name,
            container=azure.storage.container,
            job_container=job_container_name(azure.storage.container, job_id or "check"),
            pool_id=pool_id,
            revocable=storage.revocable,
            **code,
        ).model_dump()

    # -- one job ---------------------------------------------------------------------------

    def __init__(self, state: JobState, record: JobRecord):
        super().__init__(state, record)
        self.session = Session(state, record)

    def submit(self, plan: JobPlan, progress: Progress) -> list[str]:
        s = self.session
        s.call(s.inputs.ensure, "create the blob container")
        s.call(s.outputs.ensure, "create the job's container")
        lifecycle.grant_writes(s, plan.task_count)
        expiry = s.sas_expiry(plan.task_count)
        codec = get_codec(self.record.format)
        s.call(
            lambda: s.inputs.upload(
                config_blob(s.job_id, s.names), codec.dumps(self.record.spec.globals)
            ),
            "upload the config",
        )
        if s.target.mode == "code":
            ship_code(s)
        notes = ensure_pool(s, registry_reference(s))
        sub = Submitter(s, s.job_id, progress)
        sub.ensure_job()
        if sub.job_completed():
            # Every task it held has run; what it lacks goes to a new Batch job.
            recovered = {t for r in s.state.read_progress().retries for t in r.task_ids}
            lacking = [
                t.id
                for t in missing_tasks(plan.tasks(), sub.held_task_ids())
                if t.id not in recovered
            ]
            if lacking:
                lifecycle.add_missing(s, lacking)
                notes.append(
                    f"job {s.job_id} lacked {len(lacking)} tasks; they run in "
                    f"another Batch job of the submission"
                )
            lifecycle.finish_rounds(s)
            return notes
        ctx = sub.context(expiry, plan.multi_point)
        sub.add(plan.points_with_tasks(), plan.task_count, ctx, expiry)
        reconcile(sub, list(plan.tasks()), lifecycle.points_of(plan), ctx, expiry)
        sub.finish_job()
        lifecycle.finish_rounds(s)
        return notes

    def status(self, with_failures: bool = True) -> JobStatus:
        return observe.status(self.session, with_failures)

    def wait(self, timeout: float | None, progress: Progress) -> JobStatus:
        return observe.wait(self.session, timeout, progress)

    def seal(self) -> list[str]:
        return stopping.seal(self.session)

    def fetch_outputs(self, point_indices: Iterable[int], progress: Progress) -> list[str]:
        return outputs.fetch_outputs(self.session, self, point_indices, progress, self.task_outputs)

    def logs(self, task_id: str) -> TaskLogs:
        return observe.logs(self.session, task_id)

    def read_log(self, task_id: str, name: str, offset: int) -> LogChunk:
        return observe.read_log(self.session, task_id, name, offset)

    def task_runs(self) -> list[TaskRun]:
        from superbatch.backends.azure.runs import task_runs

        return task_runs(self.session)

    def setup_logs(self, node: str | None) -> list[SetupLog]:
        if not self.session.target.code_archive:
            return []  # the image is the environment: nothing is set up on the nodes
        from superbatch.backends.azure.setuplogs import setup_logs

        return setup_logs(self.session, node)

    def retry(self, task_ids: list[str] | None) -> list[str]:
        return lifecycle.retry(self.session, task_ids)

    def cancel(self) -> None:
        stopping.cancel(self.session)

    def delete(self, include_pool: bool) -> list[str]:
        return lifecycle.delete(self.session, include_pool)

    def cleanup_after_collect(self) -> list[str]:
        return lifecycle.cleanup_after_collect(self.session, self.status(with_failures=False))
