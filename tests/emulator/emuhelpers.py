"""Helpers for the emulator tests: SDK clients, pool/task options, polling."""

from __future__ import annotations

import time

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential

from batch_emulator import DEV_ACCOUNT, DEV_KEY
from batch_emulator.server import BatchEmulator

IMAGE = m.BatchVmImageReference(
    publisher="canonical", offer="ubuntu-24_04-lts", sku="server", version="latest"
)


def client_for(
    emu: BatchEmulator | str, account: str = DEV_ACCOUNT, key: str = DEV_KEY, **kwargs
) -> BatchClient:
    """A BatchClient on the emulator (or an endpoint URL); short backoffs keep retries fast in tests."""
    kwargs.setdefault("retry_backoff_factor", 0.01)
    endpoint = emu if isinstance(emu, str) else emu.endpoint
    return BatchClient(endpoint, AzureNamedKeyCredential(account, key), **kwargs)


def pool_options(pool_id: str, dedicated: int = 2, spot: int = 0, container: bool = False, **kw):
    vmc = m.VirtualMachineConfiguration(
        image_reference=IMAGE, node_agent_sku_id="batch.node.ubuntu 24.04"
    )
    if container:
        vmc.container_configuration = m.BatchContainerConfiguration(
            type="dockerCompatible", container_image_names=["busybox"]
        )
    return m.BatchPoolCreateOptions(
        id=pool_id,
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=vmc,
        target_dedicated_nodes=dedicated,
        target_low_priority_nodes=spot,
        **kw,
    )


def task(task_id: str, script: str = "echo hi", **kw) -> m.BatchTaskCreateOptions:
    """A task running ``script`` through /bin/sh (the service runs command lines without a shell)."""
    return m.BatchTaskCreateOptions(id=task_id, command_line=f"/bin/sh -c '{script}'", **kw)


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def wait_task(
    client: BatchClient, job_id: str, task_id: str, state: str = "completed", timeout: float = 15.0
):
    return wait_for(lambda: (t := client.get_task(job_id, task_id)).state == state and t, timeout)
