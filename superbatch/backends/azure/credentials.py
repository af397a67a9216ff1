"""Credentials from the environment, with the names `az` and the Azure SDKs use.

Batch: AZURE_BATCH_ENDPOINT (required), AZURE_BATCH_ACCOUNT, AZURE_BATCH_ACCESS_KEY.
Storage: AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY
(also AZURE_STORAGE_ACCESS_KEY), or AZURE_STORAGE_ACCOUNT alone with Microsoft Entra ID.
With AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_SERVICE_ENDPOINT (the name `az storage` documents
for its --blob-endpoint/--service-endpoint) replaces the default blob endpoint
https://{account}.blob.core.windows.net: a sovereign cloud, a private endpoint, or a local
emulator such as Azurite (https://127.0.0.1:10000/devstoreaccount1). AZURE_STORAGE_ACCOUNT
stays required: it is the account name user delegation and account-key SAS are signed for.
A connection string carries its own endpoint and ignores the variable.
Registry: AZURE_REGISTRY_USERNAME and AZURE_REGISTRY_PASSWORD.
Without a key, DefaultAzureCredential (az login, managed identity, workload identity) is used.
TLS: the clients verify certificates with certifi's bundle, or with the file named by
REQUESTS_CA_BUNDLE (honoured by azure-core's requests transport), e.g. a private CA's.
Values are never echoed: errors name the variable, not its content.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from superbatch.errors import UserError
from superbatch.util.redact import strip_userinfo

# The SDKs log failsafe-deserialisation tracebacks and request details as warnings; with no
# handler configured Python would print them to stderr. Errors reach users as one paragraph.
# Here, not in the package's __init__: every SDK client is made in this module (management's
# too), and a local job, which reads the package's spec section, need not import logging.
logging.getLogger("azure").addHandler(logging.NullHandler())


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _check_key(name: str, value: str) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UserError(
            f"{name} is not a valid account key (expected base64, as shown by "
            f"`az batch account keys list` / `az storage account keys list`)."
        ) from None


@dataclass(frozen=True)
class BatchCredentials:
    endpoint: str
    account: str | None
    key: str | None = field(default=None, repr=False)

    def client(self, **kwargs):
        """A BatchClient with a shared key or, without one, DefaultAzureCredential."""
        from azure.batch import BatchClient

        if self.key:
            from azure.core.credentials import AzureNamedKeyCredential

            credential = AzureNamedKeyCredential(self.account, self.key)
        else:
            credential = default_credential()
        if self.endpoint.startswith("http://"):
            kwargs.setdefault("enforce_https", False)  # loopback emulator only
        return BatchClient(self.endpoint, credential, **kwargs)


@dataclass(frozen=True)
class StorageCredentials:
    connection_string: str | None = field(default=None, repr=False)
    account: str | None = None
    key: str | None = field(default=None, repr=False)
    blob_endpoint: str | None = None  # AZURE_STORAGE_SERVICE_ENDPOINT; None: the public cloud's

    @property
    def uses_entra_id(self) -> bool:
        return not self.connection_string and not self.key

    @property
    def url(self) -> str | None:
        """The blob service URL (None with a connection string, which carries its own)."""
        if self.connection_string:
            return None
        return self.blob_endpoint or f"https://{self.account}.blob.core.windows.net"

    def service_client(self, **kwargs):
        from azure.storage.blob import BlobServiceClient

        if self.connection_string:
            return BlobServiceClient.from_connection_string(self.connection_string, **kwargs)
        url = self.url
        if self.key:
            return BlobServiceClient(
                url, credential={"account_name": self.account, "account_key": self.key}, **kwargs
            )
        return BlobServiceClient(url, credential=default_credential(), **kwargs)


@dataclass(frozen=True)
class RegistryCredentials:
    username: str | None
    password: str | None = field(default=None, repr=False)


def default_credential():
    """Microsoft Entra ID: az login, managed identity, workload identity, ..."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def _endpoint_url(variable: str, endpoint: str, example: str):
    """``endpoint`` without user:password@ (no service authenticates so, and it must never
    be stored or printed), and parsed; exit 2 unless it is an http(s) URL."""
    endpoint = strip_userinfo(endpoint)
    parsed = urlparse(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UserError(f"{variable} is not a URL such as {example}.")
    return endpoint, parsed


def batch_credentials() -> BatchCredentials:
    """Read and check the Batch variables (exit 2 naming the variable on a problem)."""
    endpoint = _env("AZURE_BATCH_ENDPOINT")
    if not endpoint:
        raise UserError(
            "AZURE_BATCH_ENDPOINT is not set: export your Batch account's URL, "
            "e.g. https://myaccount.westeurope.batch.azure.com (`az batch account "
            "show -n NAME -g GROUP --query accountEndpoint`)."
        )
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    endpoint, parsed = _endpoint_url(
        "AZURE_BATCH_ENDPOINT", endpoint, "https://myaccount.westeurope.batch.azure.com"
    )
    account = _env("AZURE_BATCH_ACCOUNT") or (
        parsed.hostname.split(".")[0] if parsed.hostname.count(".") >= 2 else None
    )
    key = _env("AZURE_BATCH_ACCESS_KEY")
    if key:
        if not account:
            raise UserError(
                "AZURE_BATCH_ACCESS_KEY is set but AZURE_BATCH_ACCOUNT is not: "
                "export the Batch account's name too."
            )
        _check_key("AZURE_BATCH_ACCESS_KEY", key)
    return BatchCredentials(endpoint.rstrip("/"), account, key)


def storage_credentials() -> StorageCredentials:
    """Read and check the Storage variables (exit 2 naming the variable on a problem)."""
    conn = _env("AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
        if "AccountName" not in parts and "BlobEndpoint" not in parts:
            raise UserError(
                "AZURE_STORAGE_CONNECTION_STRING is malformed: it needs "
                "AccountName=...;AccountKey=... (or a BlobEndpoint)."
            )
        if "AccountKey" in parts:
            _check_key("AZURE_STORAGE_CONNECTION_STRING's AccountKey", parts["AccountKey"])
        elif "SharedAccessSignature" in parts:
            raise UserError(
                "AZURE_STORAGE_CONNECTION_STRING holds a shared access signature, "
                "but superbatch signs a narrow SAS for each task itself and needs "
                "the account key for that: use a connection string with "
                "AccountKey=..., or AZURE_STORAGE_ACCOUNT with Microsoft Entra ID "
                "(`az login`)."
            )
        else:
            raise UserError(
                "AZURE_STORAGE_CONNECTION_STRING has no AccountKey=...: superbatch "
                "needs the account key to sign each task's SAS (or use "
                "AZURE_STORAGE_ACCOUNT with Microsoft Entra ID)."
            )
        return StorageCredentials(connection_string=conn, account=parts.get("AccountName"))
    account = _env("AZURE_STORAGE_ACCOUNT")
    if not account:
        raise UserError(
            "no storage account: set AZURE_STORAGE_CONNECTION_STRING, or "
            "AZURE_STORAGE_ACCOUNT (with AZURE_STORAGE_KEY, or signed in with "
            "`az login` for Microsoft Entra ID)."
        )
    key = _env("AZURE_STORAGE_KEY") or _env("AZURE_STORAGE_ACCESS_KEY")
    if key:
        _check_key("AZURE_STORAGE_KEY", key)
    return StorageCredentials(account=account, key=key, blob_endpoint=_blob_endpoint(bool(key)))


def _blob_endpoint(with_key: bool) -> str | None:
    """AZURE_STORAGE_SERVICE_ENDPOINT, checked: an http(s) URL; https for Microsoft Entra ID."""
    endpoint = _env("AZURE_STORAGE_SERVICE_ENDPOINT")
    if not endpoint:
        return None
    endpoint, parsed = _endpoint_url(
        "AZURE_STORAGE_SERVICE_ENDPOINT",
        endpoint,
        "https://myaccount.blob.core.windows.net (`az storage account show "
        "-n NAME --query primaryEndpoints.blob`)",
    )
    if parsed.scheme == "http" and not with_key:
        raise UserError(
            "AZURE_STORAGE_SERVICE_ENDPOINT is an http:// URL, but Microsoft Entra "
            "ID tokens are only sent over https: use https, or set "
            "AZURE_STORAGE_KEY too."
        )
    return endpoint.rstrip("/")


def registry_credentials(server: str) -> RegistryCredentials:
    user = _env("AZURE_REGISTRY_USERNAME")
    password = _env("AZURE_REGISTRY_PASSWORD")
    if bool(user) != bool(password):
        raise UserError(
            f"registry {server}: set both AZURE_REGISTRY_USERNAME and "
            f"AZURE_REGISTRY_PASSWORD (or neither, to use the pool's identity)."
        )
    return RegistryCredentials(user, password)
