"""The HTTP face of the emulator and :class:`BatchEmulator`, its Python entry point.

Each request is authenticated (SharedKey), faults are injected, the api-version is checked (every
published one is served, answered with today's shapes), the operation is looked up in the REST
definition, its body is validated against the definition, conditional headers are evaluated,
and the answer carries the headers the definition gives it (``ETag``, ``Last-Modified``, ...).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from . import DEV_ACCOUNT, DEV_KEY, auth, conditions, definition, rules, validation
from .api import Api, Reply
from .deletion import DEFAULT_DELETE_DELAY
from .entities import BASE, iso, now
from .errors import BatchError
from .faults import Faults
from .images import DEFAULT_NODE_PATH, ImageStandIn
from .latency import Latency
from .node import Node
from .odata import bad_query
from .registry import answer_registry
from .store import Store

API_VERSION = definition.CURRENT_API_VERSION
JSON_TYPE = "application/json;odata=minimalmetadata"


def _not_emulated(op: definition.Operation) -> BatchError:
    return BatchError(
        501,
        "OperationNotEmulated",
        f"The operation {op.operation_id} is part of the Batch API but not emulated.",
    )


class Handler(BaseHTTPRequestHandler):
    """Parses a request, authenticates it, injects faults and writes the service-shaped reply."""

    protocol_version = "HTTP/1.1"
    server_version = "superbatch-emulator"
    timeout = 60  # a client that sends less than its Content-Length cannot hold a thread forever
    # Headers and body are separate writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK of the headers (~40 ms on Linux), a stall the service does not have.
    disable_nagle_algorithm = True
    emulator: BatchEmulator

    def log_message(self, format, *args):  # noqa: A002 - quiet by default
        pass

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _base_url(self, headers: dict) -> str:
        """The scheme and host the client used (so links work through a proxy)."""
        host = (
            headers.get("x-forwarded-host")
            or headers.get("host")
            or f"{self.emulator.host}:{self.emulator.port}"
        )
        scheme = headers.get("x-forwarded-proto") or "http"
        return f"{scheme}://{host.split(',')[0].strip()}"

    def _handle(self, method: str) -> None:
        emu = self.emulator
        emu.latency.wait()  # this connection's thread only: other requests go on meanwhile
        if self.path.startswith("/v2/") and method in ("GET", "HEAD"):
            return answer_registry(self, method, self.emulator.node.images)
        headers = {k.lower(): v for k, v in self.headers.items()}
        request_id = str(uuid.uuid4())
        base = self._base_url(headers)
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raw, length = self._read_chunked(), 0
        else:
            raw = self.rfile.read(length) if length > 0 else b""
        fault, retry_after = emu.faults.request()
        if fault == "drop":
            return self._drop()
        try:
            if length < 0:
                raise BatchError(
                    400,
                    "InvalidHeaderValue",
                    "The value for one of the HTTP headers is not in the correct format.",
                    {"HeaderName": "Content-Length"},
                )
            reply = self._answer(method, raw, headers, fault)
        except BatchError as exc:
            reply = Reply(
                exc.status,
                None
                if exc.status == 304
                else json.dumps(exc.body(BASE, request_id, iso(now()))).encode(),
                exc.headers,
            )
        except Exception as exc:  # noqa: BLE001 - answer 500 rather than drop the connection
            error = BatchError(500, "InternalServerError", f"The emulator failed: {exc!r}")
            reply = Reply(500, json.dumps(error.body(BASE, request_id, iso(now()))).encode())
        if fault == "drop-after":
            return self._drop()
        if fault and retry_after:
            reply.headers["Retry-After"] = "1"
        self._reply(method, reply, headers, request_id, base)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _answer(self, method: str, raw: bytes, headers: dict, fault: str | None) -> Reply:
        emu = self.emulator
        url = urlsplit(self.path)
        auth.check(emu.account, emu.key, method, url.path, url.query, headers)
        if fault in ("busy", "throttle"):
            raise (
                BatchError(
                    503,
                    "ServerBusy",
                    "The server is currently unable to receive requests. "
                    "Please retry your request.",
                )
                if fault == "busy"
                else BatchError(
                    429, "TooManyRequests", "The request rate is too high. Please retry later."
                )
            )
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        version = params.get("api-version")
        if not version:
            raise BatchError(
                400,
                "MissingRequiredQueryParameter",
                "A query parameter that's mandatory for this request is not specified.",
                {"QueryParameterName": "api-version"},
            )
        if version not in definition.API_VERSIONS:
            raise bad_query("api-version", version, "Not a published Batch api-version.")
        path = unquote(url.path)
        op, args, known = definition.find(method, url.path)
        if op is None:
            if known:
                raise BatchError(
                    405,
                    "UnsupportedHttpVerb",
                    f"The resource doesn't support the specified HTTP verb {method}.",
                )
            raise BatchError(
                400,
                "InvalidUri",
                "The requested URI does not represent any resource on the server.",
                {"UriPath": path},
            )
        args = {k: unquote(v) for k, v in args.items()}
        handler = emu.api.handlers.get(op.operation_id)
        if handler is None:
            raise _not_emulated(op)
        body = self._body(op, raw)
        if emu.on_request:
            emu.on_request(method, url.path, body)
        if op.parameters & set(conditions.HEADERS) and "filePath" not in args:
            conditions.check(method, headers, emu.api.target(args))
        reply = handler(params=params, body=body, headers=headers, **args)
        reply.operation = op
        return reply

    @staticmethod
    def _body(op: definition.Operation, raw: bytes):
        if op.body is None:
            return None
        if not raw.strip():
            if op.body_required:
                raise BatchError(
                    400,
                    "InvalidRequestBody",
                    "The specified Request Body is not syntactically valid.",
                    {"Reason": "The request body is empty."},
                )
            return None
        body = rules.parse_body(raw)
        validation.check(op.body, body)
        return body

    def _drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True

    def _reply(
        self, method: str, reply: Reply, request_headers: dict, request_id: str, base: str
    ) -> None:
        body = reply.body if isinstance(reply.body, bytes) else b""
        if body and "Content-Type" not in reply.headers:
            body = body.replace(BASE.encode(), base.encode())
        op = getattr(reply, "operation", None)
        declared = op.response_headers(reply.status) if op else []
        out = {
            k: (v.replace(BASE, base) if isinstance(v, str) else v)
            for k, v in reply.headers.items()
        }
        if "ETag" in declared and "ETag" not in out:
            out["ETag"] = (
                conditions.etag(reply.entity)
                if reply.entity is not None
                else "0x" + hashlib.sha256(body).hexdigest()[:15].upper()
            )
        if "Last-Modified" in declared and "Last-Modified" not in out:
            out["Last-Modified"] = (
                conditions.last_modified_header(reply.entity)
                if reply.entity is not None
                else _http_date()
            )
        if "DataServiceId" in declared and "DataServiceId" not in out and reply.entity is not None:
            out["DataServiceId"] = f"{base}{urlsplit(self.path).path}"
        self.send_response(reply.status)
        self.send_header("request-id", request_id)
        if (request_headers.get("return-client-request-id") or "").lower() == "true":
            for name in ("client-request-id", "x-ms-client-request-id"):
                if name in request_headers:
                    self.send_header(name, request_headers[name])
        self.send_header("DataServiceVersion", "3.0")
        if "Content-Type" not in out and body:
            self.send_header("Content-Type", JSON_TYPE)
        for name, value in out.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD" and body:
            self.wfile.write(body)


def _http_date() -> str:
    from email.utils import formatdate

    return formatdate(usegmt=True)


class _Server(ThreadingHTTPServer):
    """Threaded server that does not print client disconnects (expected with dropped requests)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class BatchEmulator:
    """A loopback Azure Batch service. ``start()`` serves in background threads; use as a context
    manager or call ``stop()``. ``endpoint`` is the URL to give ``BatchClient``.

    ``images`` maps container image names to :class:`ImageStandIn` (what stands for each image
    on this machine); ``node_path`` is the ``PATH`` of tasks that run outside containers.
    ``latency`` (seconds, ± ``latency_jitter``) delays every answer, as a cloud round trip does.
    A deleted pool or job stays ``deleting`` for ``delete_delay`` seconds before it is gone.
    Neither is ever taken from the environment of the process that starts the emulator.
    """

    def __init__(
        self,
        account: str = DEV_ACCOUNT,
        key: str = DEV_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int | None = None,
        root: str | Path | None = None,
        fault_rate: float = 0.0,
        drop_rate: float = 0.0,
        preempt_rate: float = 0.0,
        fault_seed: int = 0,
        run_tasks: bool = True,
        no_spot: bool = False,
        on_request: Callable[[str, str, dict | None], None] | None = None,
        images: dict[str, ImageStandIn] | None = None,
        node_path: list[str] | tuple[str, ...] = DEFAULT_NODE_PATH,
        supported_images: list[dict] | None = None,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        task_counts_lag: float = 0.0,
        delete_delay: float = DEFAULT_DELETE_DELAY,
    ):
        base64.b64decode(key, validate=True)  # fail early on a key the SDK could not use either
        for name, image in (images or {}).items():
            if not isinstance(image, ImageStandIn):
                raise TypeError(f"images[{name!r}] must be an ImageStandIn")
        self.account, self.key, self.host, self.port = account, key, host, port
        self.run_tasks, self.on_request = run_tasks, on_request
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="superbatch-emulator-")).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.faults = Faults(fault_rate, drop_rate, preempt_rate, fault_seed)
        self.latency = Latency(latency, latency_jitter, fault_seed)
        self.store = Store(
            no_spot=no_spot,
            workers=workers,
            counts_lag=task_counts_lag,
            delete_delay=delete_delay,
        )
        if supported_images is not None:
            self.store.supported_images = [dict(image) for image in supported_images]
        self.node = Node(self.store, self.root, self.faults, account, images, node_path, workers)
        self.api = Api(self.store, self.root)
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def stats(self) -> dict:
        """Counters of requests and injected faults."""
        return dict(self.faults.stats)

    def start(self) -> BatchEmulator:
        handler = type("BoundHandler", (Handler,), {"emulator": self})
        self._httpd = _Server((self.host, self.port), handler)
        self.port = self._httpd.server_address[1]
        self.node.account_url = self.endpoint
        threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="emulator-http", daemon=True
        ).start()
        if self.run_tasks:
            self.node.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.node.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> BatchEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
