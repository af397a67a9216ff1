"""The management plane (Azure Resource Manager, through azure-mgmt-batch): the Batch account's
quotas and the VM sizes its region offers. Read only, and only when the account can be named:
``AZURE_SUBSCRIPTION_ID`` and ``AZURE_RESOURCE_GROUP`` (the Batch account is
``AZURE_BATCH_ACCOUNT``). ``SUPERBATCH_ARM_ENDPOINT`` replaces https://management.azure.com
(a sovereign cloud, or a stand-in in tests). Credentials: Microsoft Entra ID
(DefaultAzureCredential), as for Batch and Storage without keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from superbatch.backends.azure import credentials

DEFAULT_ARM = "https://management.azure.com"


@dataclass(frozen=True)
class AccountQuotas:
    location: str | None
    dedicated_cores: int | None
    spot_cores: int | None
    per_family: dict[str, int] = field(default_factory=dict)
    per_family_enforced: bool = False
    active_jobs: int | None = None
    pool_allocation_mode: str | None = None


@dataclass(frozen=True)
class VmSku:
    name: str
    family: str | None
    vcpus: int | None
    gpus: int | None = None  # the size's "GPUs" capability (absent: not said)


def arm_target() -> tuple[str, str, str] | None:
    """(subscription, resource group, account) when all are known; else None."""
    sub = os.environ.get("AZURE_SUBSCRIPTION_ID", "").strip()
    group = os.environ.get("AZURE_RESOURCE_GROUP", "").strip()
    account = os.environ.get("AZURE_BATCH_ACCOUNT", "").strip()
    return (sub, group, account) if sub and group and account else None


def _client(subscription: str):
    from azure.mgmt.batch import BatchManagementClient

    endpoint = (os.environ.get("SUPERBATCH_ARM_ENDPOINT") or DEFAULT_ARM).rstrip("/")
    return BatchManagementClient(
        credentials.default_credential(),
        subscription,
        base_url=endpoint,
        credential_scopes=["https://management.azure.com/.default"],
        retry_total=1,
    ), _loopback(endpoint)


def _loopback(endpoint: str) -> dict:
    """A stand-in on this machine may answer over http (tokens never leave it)."""
    host = urlsplit(endpoint).hostname
    plain = endpoint.startswith("http://") and host in ("127.0.0.1", "localhost", "::1")
    return {"enforce_https": False} if plain else {}


def account_quotas(subscription: str, group: str, account: str) -> AccountQuotas:
    client, options = _client(subscription)
    found = client.batch_account.get(group, account, **options)
    props = found.properties
    return AccountQuotas(
        location=found.location,
        dedicated_cores=props.dedicated_core_quota,
        spot_cores=props.low_priority_core_quota,
        per_family={
            q.name.lower(): q.core_quota
            for q in props.dedicated_core_quota_per_vm_family or []
            if q.name
        },
        per_family_enforced=bool(props.dedicated_core_quota_per_vm_family_enforced),
        active_jobs=props.active_job_and_job_schedule_quota,
        pool_allocation_mode=props.pool_allocation_mode,
    )


def vm_skus(subscription: str, location: str) -> dict[str, VmSku]:
    """The VM sizes Batch offers in ``location``, by lowercase name."""
    client, options = _client(subscription)
    out = {}
    for sku in client.location.list_supported_virtual_machine_skus(location, **options):
        caps = {c.name: c.value for c in sku.capabilities or []}
        vcpus, gpus = caps.get("vCPUs"), caps.get("GPUs")
        out[sku.name.lower()] = VmSku(
            sku.name,
            sku.family_name,
            int(vcpus) if vcpus and vcpus.isdigit() else None,
            int(gpus) if gpus and gpus.isdigit() else None,
        )
    return out
