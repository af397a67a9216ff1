"""Blob Storage: containers, parallel idempotent transfers, least-privilege SAS."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    AccessPolicy,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    ExponentialRetry,
    UserDelegationKey,
    generate_blob_sas,
    generate_container_sas,
)

from superbatch.backends.azure.credentials import StorageCredentials
from superbatch.backends.azure.fetch import BlobFetcher, Fetched, RenewedSas
from superbatch.errors import InfraError

# The service's limit on a user delegation key's lifetime is 7 days; keep a margin for clocks.
MAX_USER_DELEGATION_KEY = timedelta(days=7) - timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=5)
FETCH_SAS = timedelta(hours=1)  # signed again when it has less than RENEW_BEFORE left


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    md5: bytes | None
    last_modified: datetime | None


class Storage:
    """One storage account: a client per container, and the SAS signing both share."""

    def __init__(self, credentials: StorageCredentials, concurrency: int = 16):
        self.credentials = credentials
        # The SDK's default waits 15 s and more between tries (minutes for an unreachable
        # endpoint); superbatch retries on its own budget on top, so keep this one short.
        retry = ExponentialRetry(  # the SDK annotates the seconds int; they are any number
            initial_backoff=0.5,  # type: ignore[arg-type]
            increment_base=2,
            retry_total=2,
            random_jitter_range=0.2,  # type: ignore[arg-type]
        )
        self.service: BlobServiceClient = credentials.service_client(
            max_single_put_size=64 * 1024 * 1024,
            connection_timeout=20,
            read_timeout=60,
            retry_policy=retry,
        )
        self.concurrency = concurrency
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_expiry: datetime | None = None
        self._delegation_lock = threading.Lock()

    @property
    def account_name(self) -> str:
        """The account SAS are signed for: the one named (AZURE_STORAGE_ACCOUNT or the
        connection string's AccountName), not a guess from the URL of a custom endpoint."""
        return self.credentials.account or self.service.account_name or ""

    @property
    def revocable(self) -> bool:
        """Whether SAS can refer to a stored access policy (account key; not Entra ID)."""
        return not self.credentials.uses_entra_id

    def container(self, name: str) -> BlobStore:
        return BlobStore(self, name)

    def signing(self, expiry: datetime) -> tuple[datetime, dict]:
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
            if key is None or key_expiry is None or needs_new_key(key_expiry, expiry, now):
                key = self.service.get_user_delegation_key(now - CLOCK_SKEW, expiry)
                key_expiry = expiry
                self._delegation_key, self._delegation_expiry = key, key_expiry
            return min(expiry, key_expiry), {"user_delegation_key": key}


def needs_new_key(key_expiry: datetime, expiry: datetime, now: datetime) -> bool:
    """Whether a SAS wanted until ``expiry`` needs a newer user delegation key than one that
    ends at ``key_expiry``: it ends over an hour too early, or covers under half of what is
    asked (a SAS renewed near its end must not stay capped by the same old key)."""
    return key_expiry < expiry - timedelta(hours=1) or key_expiry < now + (expiry - now) / 2


class BlobStore:
    """One container; blob names are relative to it."""

    def __init__(self, storage: Storage, name: str):
        self.storage = storage
        self.name = name
        self.client = storage.service.get_container_client(name)

    @property
    def url(self) -> str:
        return self.client.url

    # -- the container -------------------------------------------------------------------

    def ensure(self) -> None:
        try:
            self.client.create_container()
        except ResourceExistsError:
            pass

    def exists(self) -> bool:
        try:
            self.client.get_container_properties()
            return True
        except ResourceNotFoundError:
            return False

    def delete(self) -> bool:
        """Delete the whole container; False if it was already gone."""
        try:
            self.client.delete_container()
            return True
        except ResourceNotFoundError:
            return False

    def grant_task_writes(self, policy_id: str, expiry: datetime) -> None:
        """(Re)create the stored access policy that the tasks' write SAS refer to."""
        start = datetime.now(timezone.utc) - CLOCK_SKEW
        self.client.set_container_access_policy(
            {
                policy_id: AccessPolicy(
                    permission=ContainerSasPermissions(write=True, create=True),
                    start=start,
                    expiry=expiry,
                )
            }
        )

    def revoke_task_writes(self) -> None:
        """Remove every stored access policy: SAS that refer to one stop working."""
        try:
            self.client.set_container_access_policy({})
        except ResourceNotFoundError:
            pass

    # -- transfers -----------------------------------------------------------------------

    def upload(self, name: str, data: bytes) -> None:
        """Upload (overwrite) one blob; safe to repeat."""
        self.client.upload_blob(name, data, overwrite=True)

    def upload_many(self, items: Iterable[tuple[str, bytes]], pool: ThreadPoolExecutor) -> int:
        """Upload blobs in parallel on ``pool``; return how many."""
        return sum(1 for _ in pool.map(lambda item: self.upload(*item), items))

    def list(self, prefix: str) -> list[BlobInfo]:
        out = []
        for blob in self.client.list_blobs(name_starts_with=prefix):
            md5 = blob.content_settings.content_md5 if blob.content_settings else None
            out.append(
                BlobInfo(blob.name, blob.size, bytes(md5) if md5 else None, blob.last_modified)
            )
        return out

    def download(self, name: str) -> bytes | None:
        """The blob's bytes, checked against its size and (when given) MD5; None if absent."""
        try:
            downloader = self.client.download_blob(name, max_concurrency=1)
        except ResourceNotFoundError:
            return None
        data = downloader.readall()
        props = downloader.properties
        if len(data) != props.size:
            raise InfraError(
                f"blob {self.name}/{name}: downloaded {len(data)} bytes, "
                f"expected {props.size}; run the command again."
            )
        md5 = props.content_settings.content_md5 if props.content_settings else None
        if md5 and hashlib.md5(data).digest() != bytes(md5):  # noqa: S324 - integrity check
            raise InfraError(
                f"blob {self.name}/{name}: MD5 mismatch after download; run the command again."
            )
        return data

    def download_many(
        self, names: Sequence[str], on_done: Callable[[str, Fetched | None], None]
    ) -> None:
        """Download blobs in parallel; ``on_done(name, fetched)`` for each, in order (None:
        absent). Plain GETs through a read SAS of an hour, signed again before it ends, so
        that a download of any length keeps its access (``fetch.py``)."""
        if not names:
            return

        def sign() -> tuple[str, datetime]:
            now = datetime.now(timezone.utc)
            expiry, signing = self.storage.signing(now + FETCH_SAS)
            sas = generate_container_sas(
                self.storage.account_name,
                self.name,
                permission=ContainerSasPermissions(read=True),
                expiry=expiry,
                start=now - CLOCK_SKEW,
                **signing,
            )
            return sas, expiry

        fetcher = BlobFetcher(self.url, RenewedSas(sign), self.name)
        try:
            with ThreadPoolExecutor(self.storage.concurrency) as pool:
                for name, fetched in zip(names, pool.map(fetcher.get, names)):
                    on_done(name, fetched)
        finally:
            fetcher.close()

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``prefix`` (which must name one job's folder)."""
        if not prefix.endswith("/") or len(prefix) < 2:
            raise ValueError(f"refusing to delete blobs under {prefix!r}")
        names = [b.name for b in self.client.list_blobs(name_starts_with=prefix)]
        self.delete_names(names)
        return len(names)

    def delete_names(self, names: Sequence[str]) -> None:
        """Delete these blobs (absent ones are skipped)."""
        for start in range(0, len(names), 256):
            batch = names[start : start + 256]
            try:
                self.client.delete_blobs(*batch)
            except AzureError:  # some services refuse batch deletes: fall back to one by one
                for name in batch:
                    try:
                        self.client.delete_blob(name)
                    except ResourceNotFoundError:
                        pass

    # -- SAS -----------------------------------------------------------------------------

    def read_url(self, name: str, expiry: datetime) -> str:
        """A URL that can read exactly one blob until ``expiry``."""
        expiry, signing = self.storage.signing(expiry)
        sas = generate_blob_sas(
            self.storage.account_name,
            self.name,
            name,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
            **signing,
        )
        return f"{self.url}/{name}?{sas}"

    def write_url(self, expiry: datetime, policy_id: str | None) -> str:
        """A container URL that can create and write blobs, not read, list or delete them.

        With ``policy_id`` the SAS refers to the container's stored access policy (which
        sets its permissions and expiry), so deleting the policy revokes it.
        """
        if policy_id:
            sas = generate_container_sas(
                self.storage.account_name,
                self.name,
                policy_id=policy_id,
                **self.storage.signing(expiry)[1],
            )
        else:
            expiry, signing = self.storage.signing(expiry)
            sas = generate_container_sas(
                self.storage.account_name,
                self.name,
                permission=ContainerSasPermissions(write=True, create=True),
                expiry=expiry,
                **signing,
            )
        return f"{self.url}?{sas}"
