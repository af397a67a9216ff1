"""Many blobs of one container, fast: plain GETs through a short read SAS over keep-alive
connections.

The SDK's downloader costs about 5 ms of CPU a blob (its stream machinery, a range request
and 4 KiB reads), which one process's threads pay in turn under the GIL: collecting 1,000
task outputs took longer than the service took to serve them. urllib3 is what the SDK's
transport (requests) sends with; TLS trust (``REQUESTS_CA_BUNDLE``) and proxies are taken as
requests takes them. Failures are
raised as azure-core's exceptions (without the URL, which holds the SAS) so that
``retry.with_retries`` treats them as it treats the SDK's.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from superbatch.errors import InfraError

CONNECT_TIMEOUT, READ_TIMEOUT = 20, 60  # seconds, as the storage client's


@dataclass(frozen=True)
class Fetched:
    data: bytes
    written: datetime | None  # when the blob got these bytes; None if the answer did not say


def _http_time(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


class BlobFetcher:
    """GETs of blobs by name under ``container_url`` with ``sas`` (read-only)."""

    def __init__(self, container_url: str, sas: str, container: str, connections: int = 16):
        self._base, self._sas, self.container = container_url.rstrip("/"), sas, container
        self._pool = _pool(self._base, connections)

    def get(self, name: str) -> Fetched | None:
        """The blob's bytes, checked against its length and (when stored) MD5, with the time
        they were written (``Last-Modified`` of this very answer); None if absent."""
        import urllib3

        url = f"{self._base}/{quote(name)}?{self._sas}"
        try:
            response = self._pool.request(
                "GET",
                url,
                retries=False,
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            )
        except urllib3.exceptions.NewConnectionError as exc:
            raise ServiceRequestError(
                f"GET {self.container}/{name}: {type(exc).__name__}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceResponseError(
                f"GET {self.container}/{name}: {type(exc).__name__}"
            ) from None
        data = response.data
        if response.status == 404:
            return None
        if response.status != 200:
            error = HttpResponseError(
                f"GET {self.container}/{name}: HTTP {response.status} "
                f"{response.headers.get('x-ms-error-code', response.reason)}"
            )
            error.status_code, error.reason = response.status, response.reason
            raise error
        length = response.headers.get("Content-Length")
        if length is not None and int(length) != len(data):
            raise InfraError(
                f"blob {self.container}/{name}: downloaded {len(data)} bytes, expected "
                f"{length}; run the command again."
            )
        md5 = response.headers.get("Content-MD5")
        if md5 and hashlib.md5(data).digest() != base64.b64decode(md5):  # noqa: S324
            raise InfraError(
                f"blob {self.container}/{name}: MD5 mismatch after download; run the command again."
            )
        return Fetched(data, _http_time(response.headers.get("Last-Modified")))


def _pool(base_url: str, connections: int):
    """Keep-alive connections to the account, trusting what requests would trust, through the
    proxy requests would use (HTTPS_PROXY, NO_PROXY)."""
    import urllib3
    from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_environ_proxies

    ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    options = {"maxsize": connections, "ca_certs": ca or DEFAULT_CA_BUNDLE_PATH}
    proxy = get_environ_proxies(base_url).get(base_url.split(":", 1)[0])
    if proxy:
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)
