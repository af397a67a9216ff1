"""Blob Storage for a job: one prefix per job id, parallel idempotent transfers, least-privilege SAS."""
from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (BlobSasPermissions, BlobServiceClient, ContainerSasPermissions,
                                ExponentialRetry,
                                generate_blob_sas, generate_container_sas)

from superbatch.backends.azure.credentials import StorageCredentials
from superbatch.errors import InfraError
from superbatch.state import atomic_write_bytes

# The service's limit on a user delegation key's lifetime is 7 days; keep a margin for clocks.
MAX_USER_DELEGATION_KEY = timedelta(days=7) - timedelta(minutes=10)


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    md5: bytes | None


class BlobStore:
    """One container; names are full blob names (``<job-id>/...``)."""

    def __init__(self, credentials: StorageCredentials, container: str, concurrency: int = 16):
        self.credentials = credentials
        # The SDK's default waits 15 s and more between tries (minutes for an unreachable
        # endpoint); superbatch retries on its own budget on top, so keep this one short.
        retry = ExponentialRetry(initial_backoff=0.5, increment_base=2, retry_total=2,
                                 random_jitter_range=0.2)
        self.service: BlobServiceClient = credentials.service_client(
            max_single_put_size=64 * 1024 * 1024, connection_timeout=20, read_timeout=60,
            retry_policy=retry)
        self.container = self.service.get_container_client(container)
        self.concurrency = concurrency
        self._delegation_key = None
        self._delegation_expiry: datetime | None = None
        self._delegation_lock = threading.Lock()

    # -- container -----------------------------------------------------------------------

    def ensure_container(self) -> None:
        try:
            self.container.create_container()
        except ResourceExistsError:
            pass

    # -- transfers -----------------------------------------------------------------------

    def upload(self, name: str, data: bytes) -> None:
        """Upload (overwrite) one blob; safe to repeat."""
        self.container.upload_blob(name, data, overwrite=True)

    def upload_many(self, items: Iterable[tuple[str, bytes]], pool: ThreadPoolExecutor) -> int:
        """Upload blobs in parallel on ``pool``; return how many."""
        return sum(1 for _ in pool.map(lambda item: self.upload(*item), items))

    def list(self, prefix: str) -> list[BlobInfo]:
        out = []
        for blob in self.container.list_blobs(name_starts_with=prefix):
            md5 = blob.content_settings.content_md5 if blob.content_settings else None
            out.append(BlobInfo(blob.name, blob.size, bytes(md5) if md5 else None))
        return out

    def download_to(self, name: str, path: Path) -> bool:
        """Download atomically, checking the size and (when the service gives it) the MD5.

        False when the blob does not exist.
        """
        try:
            downloader = self.container.download_blob(name, max_concurrency=1)
        except ResourceNotFoundError:
            return False
        data = downloader.readall()
        props = downloader.properties
        if len(data) != props.size:
            raise InfraError(f"blob {name}: downloaded {len(data)} bytes, expected "
                             f"{props.size}; run collect again.")
        md5 = props.content_settings.content_md5 if props.content_settings else None
        if md5 and hashlib.md5(data).digest() != bytes(md5):  # noqa: S324 - integrity check
            raise InfraError(f"blob {name}: MD5 mismatch after download; run collect again.")
        atomic_write_bytes(path, data)
        return True

    def download_many(self, pairs: list[tuple[str, Path]], on_done: Callable[[], None]) -> None:
        """Download (blob name, local path) pairs in parallel; missing blobs are skipped."""
        def one(pair):
            self.download_to(*pair)
            on_done()

        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(one, pairs))

    def read(self, name: str) -> bytes | None:
        try:
            return self.container.download_blob(name).readall()
        except ResourceNotFoundError:
            return None

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``prefix`` (which must name one job)."""
        assert prefix.endswith("/") and len(prefix) > 1, "refusing to delete outside a job"
        names = [b.name for b in self.container.list_blobs(name_starts_with=prefix)]
        for start in range(0, len(names), 256):
            batch = names[start:start + 256]
            try:
                self.container.delete_blobs(*batch)
            except AzureError:  # some services refuse batch deletes: fall back to one by one
                for name in batch:
                    try:
                        self.container.delete_blob(name)
                    except ResourceNotFoundError:
                        pass
        return len(names)

    # -- SAS -----------------------------------------------------------------------------

    def _signing(self, expiry: datetime) -> tuple[datetime, dict]:
        """Account-key signing, or a user delegation key when signed in with Entra ID.

        A user delegation key lives at most 7 days (the service refuses longer), and a SAS it
        signs ends when the key does: with Entra ID, ``expiry`` is capped accordingly.
        """
        if not self.credentials.uses_entra_id:
            return expiry, {"account_key": self.service.credential.account_key}
        now = datetime.now(timezone.utc)
        expiry = min(expiry, now + MAX_USER_DELEGATION_KEY)
        with self._delegation_lock:  # one key for every SAS unless one asks for much longer
            key, key_expiry = self._delegation_key, self._delegation_expiry
            if key is None or key_expiry < expiry - timedelta(hours=1):
                key = self.service.get_user_delegation_key(now - timedelta(minutes=5), expiry)
                key_expiry = expiry
                self._delegation_key, self._delegation_expiry = key, key_expiry
            return min(expiry, key_expiry), {"user_delegation_key": key}

    @property
    def _account_name(self) -> str:
        """The account SAS are signed for: the one named (AZURE_STORAGE_ACCOUNT or the
        connection string's AccountName), not a guess from the URL of a custom endpoint."""
        return self.credentials.account or self.service.account_name

    def blob_read_url(self, name: str, expiry: datetime) -> str:
        """A URL that can read exactly one blob until ``expiry``."""
        expiry, signing = self._signing(expiry)
        sas = generate_blob_sas(self._account_name, self.container.container_name, name,
                                permission=BlobSasPermissions(read=True), expiry=expiry,
                                **signing)
        return f"{self.container.url}/{name}?{sas}"

    def container_write_url(self, expiry: datetime) -> str:
        """A container URL that can create and write blobs, not read, list or delete them."""
        expiry, signing = self._signing(expiry)
        sas = generate_container_sas(self._account_name, self.container.container_name,
                                     permission=ContainerSasPermissions(write=True, create=True),
                                     expiry=expiry, **signing)
        return f"{self.container.url}?{sas}"


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def default_concurrency() -> int:
    return int(os.environ.get("SUPERBATCH_TRANSFER_CONCURRENCY", "16"))
