"""Many blobs of one container, fast: plain GETs through a short read SAS, one keep-alive
connection per thread.

The SDK's downloader costs about 5 ms of CPU a blob (its stream machinery, a range request
and 4 KiB reads), and urllib3 still about twice what ``http.client`` costs for a 150 KB task
tar (URL parsing and re-encoding, buffered reads): CPU that one process's threads pay in turn
under the GIL, and that the storage service on a small machine does not get. So this is
``http.client`` itself, as the benchmark's floor uses it, plus what a client owes: TLS trust
as requests takes it (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, else certifi's), the proxy
requests would use (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``; an http:// proxy, tunnelled
with CONNECT for https), connect and read timeouts, and a stale keep-alive connection
replaced once. Failures are raised as azure-core's exceptions (without the URL, which holds
the SAS) so that ``retry.with_retries`` treats them as it treats the SDK's.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urlsplit

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from superbatch.errors import InfraError

CONNECT_TIMEOUT, READ_TIMEOUT = 20, 60  # seconds, as the storage client's
RENEW_BEFORE = timedelta(minutes=10)  # a SAS is signed again when less than this is left
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Fetched:
    data: bytes
    written: datetime | None  # when the blob got these bytes; None if the answer did not say


def _http_time(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


class RenewedSas:
    """A read SAS from ``sign() -> (sas, expiry)``, signed again once less than
    ``RENEW_BEFORE`` of it is left (a download can outlast any one SAS)."""

    def __init__(self, sign: Callable[[], tuple[str, datetime]], clock=None):
        self._sign, self._clock = sign, clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        self._sas, self._expiry = sign()

    def __call__(self) -> str:
        if self._expiry - self._clock() > RENEW_BEFORE:
            return self._sas
        with self._lock:
            if self._expiry - self._clock() <= RENEW_BEFORE:
                self._sas, self._expiry = self._sign()
            return self._sas


class BlobFetcher:
    """GETs of blobs by name under ``container_url`` with a read-only SAS (a string, or a
    callable giving the current one)."""

    def __init__(self, container_url: str, sas: str | Callable[[], str], container: str):
        self._base, self.container = container_url.rstrip("/"), container
        self._sas = sas if callable(sas) else (lambda: sas)
        self._route = _Route(self._base)
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def get(self, name: str) -> Fetched | None:
        """The blob's bytes, checked against its length and (when stored) MD5, with the time
        they were written (``Last-Modified`` of this very answer); None if absent."""
        what = f"GET {self.container}/{name}"
        target = self._route.target(f"{quote(name)}?{self._sas()}")
        for attempt in (0, 1):
            conn, fresh = self._connection(what)
            try:
                conn.request("GET", target, headers=self._route.headers)
                response = conn.getresponse()
                data = response.read()
                break
            except _STALE as exc:
                self._drop()
                if fresh or attempt:  # not a keep-alive connection the server had closed
                    raise ServiceResponseError(f"{what}: {type(exc).__name__}") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise ServiceResponseError(f"{what}: {type(exc).__name__}") from None
        if response.will_close:
            self._drop()
        if response.status == 404:
            return None
        if response.status != 200:
            error = HttpResponseError(
                f"{what}: HTTP {response.status} "
                f"{response.getheader('x-ms-error-code') or response.reason}"
            )
            error.status_code, error.reason = response.status, response.reason
            raise error
        length = response.getheader("Content-Length")
        if length is not None and length.strip() != str(len(data)):
            raise InfraError(
                f"blob {self.container}/{name}: downloaded {len(data)} bytes, expected "
                f"{length}; run the command again."
            )
        md5 = response.getheader("Content-MD5")
        if md5 and hashlib.md5(data).digest() != base64.b64decode(md5):  # noqa: S324
            raise InfraError(
                f"blob {self.container}/{name}: MD5 mismatch after download; run the command again."
            )
        return Fetched(data, _http_time(response.getheader("Last-Modified")))

    def close(self) -> None:
        """Close every connection any thread opened."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()

    def _connection(self, what: str) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, False
        conn = self._route.connection()
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise ServiceRequestError(f"{what}: {type(exc).__name__}") from None
        conn.sock.settimeout(READ_TIMEOUT)
        self._local.conn = conn
        with self._lock:
            self._opened.append(conn)
        return conn, True

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Route:
    """How to reach the account from here: directly, or through the proxy requests would use."""

    def __init__(self, base_url: str):
        from requests.utils import get_environ_proxies

        url = urlsplit(base_url)
        self.https = url.scheme == "https"
        self.host, self.port = url.hostname or "", url.port or (443 if self.https else 80)
        self.path = url.path
        self.headers = {"User-Agent": "superbatch"}
        self.proxy, self._context = None, None
        proxy = get_environ_proxies(base_url).get(url.scheme)
        if proxy:
            p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if p.scheme != "http":
                raise InfraError(
                    f"the proxy for {url.scheme} ({p.scheme}://{p.hostname}) is not an http:// "
                    f"proxy, the only kind downloads go through; set "
                    f"{url.scheme.upper()}_PROXY to one."
                )
            self.proxy = (p.hostname or "", p.port or 80)
            self.proxy_headers = {}
            if p.username:
                token = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
                self.proxy_headers["Proxy-Authorization"] = (
                    "Basic " + base64.b64encode(token).decode()
                )
            if not self.https:  # a plain request to the proxy, absolute-form
                self.headers.update(self.proxy_headers)

    def target(self, rest: str) -> str:
        path = f"{self.path}/{rest}"
        if self.proxy and not self.https:
            return f"http://{self.host}:{self.port}{path}"
        return path

    def connection(self) -> http.client.HTTPConnection:
        if not self.https:
            host, port = self.proxy or (self.host, self.port)
            return http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)
        if self._context is None:
            self._context = _tls_context()
        context = self._context
        if self.proxy is None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=CONNECT_TIMEOUT, context=context
            )
        conn = http.client.HTTPSConnection(*self.proxy, timeout=CONNECT_TIMEOUT, context=context)
        conn.set_tunnel(self.host, self.port, headers=self.proxy_headers)
        return conn


def _tls_context():
    """What requests would trust."""
    import ssl

    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return ssl.create_default_context(cafile=ca or DEFAULT_CA_BUNDLE_PATH)
