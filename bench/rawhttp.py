"""The floors: the fastest honest way to do what superbatch does, in plain HTTP.

No SDK, no models: ``http.client`` with one keep-alive connection per thread, bodies encoded
with the C ``json`` encoder, answers parsed with ``json.loads``. What each floor does is what
the service needs and nothing else, so superbatch's figure over the floor's is the share of
the possible speed it reaches on this machine in this run.

- Batch: add-task-collection requests signed with SharedKey (the account key's HMAC-SHA256 of
  the request's canonical string: the scheme the service documents and the emulator checks),
  ``in_flight`` threads, each task body exactly as superbatch would send it.
- Blob Storage: GET and PUT of named blobs with a container SAS signed once, ``threads``
  threads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import queue
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from urllib.parse import quote, urlsplit

API_VERSION = "2025-06-01"
JSON_TYPE = "application/json; odata=minimalmetadata"
SIGNED = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


class _Connections(threading.local):
    """One keep-alive connection per thread."""

    def __init__(self, host: str, port: int):
        self.conn = http.client.HTTPConnection(host, port, timeout=120)


def _request(local: _Connections, method: str, target: str, body, headers: dict):
    for attempt in (0, 1):  # a keep-alive connection the server closed: reconnect once
        try:
            local.conn.request(method, target, body=body, headers=headers)
            response = local.conn.getresponse()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            local.conn.close()
            if attempt:
                raise
    raise AssertionError("unreachable")


class RawBatch:
    """Batch REST requests over http.client, signed with the account's key."""

    def __init__(self, endpoint: str, account: str, key: str):
        url = urlsplit(endpoint)
        if url.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the benchmark only talks to 127.0.0.1")
        self.account, self.key = account, base64.b64decode(key)
        self._local = _Connections(url.hostname, url.port or 80)

    def _sign(self, method: str, path: str, headers: dict) -> str:
        h = {k.lower(): str(v) for k, v in headers.items() if v}
        text = method + "\n" + "\n".join(h.get(n, "") for n in SIGNED) + "\n"
        text += "".join(f"{k}:{v}\n" for k, v in sorted(h.items()) if k.startswith("ocp-"))
        text += f"/{self.account}{path}\napi-version:{API_VERSION}"
        digest = hmac.new(self.key, text.encode(), hashlib.sha256).digest()
        return f"SharedKey {self.account}:{base64.b64encode(digest).decode()}"

    def post(self, path: str, document: dict) -> tuple[int, dict]:
        data = json.dumps(document, separators=(",", ":")).encode()
        headers = {
            "Content-Type": JSON_TYPE,
            "Content-Length": str(len(data)),
            "ocp-date": formatdate(usegmt=True),
        }
        headers["Authorization"] = self._sign("POST", path, headers)
        status, body = _request(
            self._local, "POST", f"{path}?api-version={API_VERSION}", data, headers
        )
        return status, json.loads(body) if body else {}

    def add_collection(self, job_id: str, tasks: list[dict]) -> list[dict]:
        """Add these tasks (<= 100); returns those to send again (the service's errors)."""
        status, answer = self.post(f"/jobs/{quote(job_id)}/addtaskcollection", {"value": tasks})
        if status != 200:
            raise RuntimeError(f"add collection: HTTP {status} {answer.get('code')}")
        again = set()
        for result in answer["value"]:
            if result["status"] == "servererror":
                again.add(result["taskId"])
            elif result["status"] != "success":
                raise RuntimeError(f"task {result['taskId']} refused: {result.get('error')}")
        return [t for t in tasks if t["id"] in again]


def add_collection_floor(
    batch: RawBatch, job_id: str, chunks: list[list[dict]], in_flight: int
) -> float:
    """Seconds to add every chunk, ``in_flight`` requests at a time (failures sent again)."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for chunk in chunks:
        work.put(chunk)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                try:
                    chunk = work.get_nowait()
                except queue.Empty:
                    return
                while chunk:
                    chunk = batch.add_collection(job_id, chunk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(in_flight)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds


class RawBlobs:
    """GET and PUT of blobs in one container through a container SAS (signed once)."""

    def __init__(self, container_url: str, sas: str):
        url = urlsplit(container_url)
        if url.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the benchmark only talks to 127.0.0.1")
        self.path, self.sas = url.path.rstrip("/"), sas
        self._local = _Connections(url.hostname, url.port or 80)

    def get(self, name: str) -> bytes:
        status, body = _request(
            self._local, "GET", f"{self.path}/{quote(name)}?{self.sas}", None, {}
        )
        if status != 200:
            raise RuntimeError(f"GET {name}: HTTP {status}")
        return body

    def put(self, name: str, data: bytes) -> None:
        headers = {"x-ms-blob-type": "BlockBlob", "Content-Length": str(len(data))}
        status, _ = _request(
            self._local, "PUT", f"{self.path}/{quote(name)}?{self.sas}", data, headers
        )
        if status != 201:
            raise RuntimeError(f"PUT {name}: HTTP {status}")


def get_floor(blobs: RawBlobs, names: list[str], threads: int) -> tuple[float, int]:
    """Seconds to GET every blob with ``threads`` threads, and the bytes read."""
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        size = sum(len(b) for b in pool.map(blobs.get, names))
    return time.perf_counter() - start, size


def get_decode_floor(blobs: RawBlobs, names: list[str], threads: int) -> tuple[float, float]:
    """Seconds to GET every output tar, unpack it in memory, decode each JSON output and sum
    them: what collecting these outputs costs at the least; and the sum."""
    import io
    import json
    import tarfile

    def one(name: str) -> float:
        with tarfile.open(fileobj=io.BytesIO(blobs.get(name)), mode="r:") as tar:
            return sum(json.loads(tar.extractfile(m).read()) for m in tar if m.isfile())

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(one, names))
    return time.perf_counter() - start, total


def put_floor(blobs: RawBlobs, items: Iterable[tuple[str, bytes]], threads: int) -> float:
    """Seconds to PUT every (name, data) with ``threads`` threads."""
    items = list(items)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda item: blobs.put(*item), items))
    return time.perf_counter() - start


def container_sas(service, container: str) -> str:
    """A read/write/create SAS for one container, signed with the account key (Azurite's)."""
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        service.account_name,
        container,
        account_key=service.credential.account_key,
        permission=ContainerSasPermissions(read=True, write=True, create=True),
        expiry=datetime.now(timezone.utc) + timedelta(days=1),
    )
