"""The HTTP face of the emulator: routing of the Batch REST subset (api-version 2025-06-01),
SharedKey checks, fault injection, and :class:`BatchEmulator`, the Python entry point."""
from __future__ import annotations

import base64
import json
import re
import shutil
import sys
import tempfile
import threading
import uuid
from email.utils import format_datetime, formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import DEV_ACCOUNT, DEV_KEY, auth, rules
from .errors import BatchError
from .faults import Faults
from .node import Node, task_directory
from .odata import bad_query, compile_filter, select
from .store import Entity, Store

API_VERSION = "2025-06-01"
JSON_TYPE = "application/json;odata=minimalmetadata"
_ID = r"(?P<{}>[^/]+)"


class Reply:
    """A response: status, JSON document or raw bytes, extra headers."""

    def __init__(self, status: int, body: dict | bytes | None = None, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def entity_headers(entity: Entity) -> dict:
    return {"ETag": entity.doc["eTag"], "Last-Modified": format_datetime(entity.modified, usegmt=True),
            "DataServiceId": entity.doc["url"]}


class Api:
    """One method per supported operation; ``routes`` maps (method, path) to them."""

    def __init__(self, store: Store, root: Path):
        self.store, self.root = store, root
        p = lambda s: re.compile("^" + s.format(pool=_ID.format("pool"), job=_ID.format("job"),
                                                 task=_ID.format("task")) + "$")
        self.routes = [
            (p("/pools"), {"POST": self.create_pool, "GET": self.list_pools}),
            (p("/pools/{pool}"), {"GET": self.get_pool, "HEAD": self.pool_exists, "DELETE": self.delete_pool}),
            (p("/jobs"), {"POST": self.create_job, "GET": self.list_jobs}),
            (p("/jobs/{job}"), {"GET": self.get_job, "PATCH": self.update_job, "DELETE": self.delete_job}),
            (p("/jobs/{job}/terminate"), {"POST": self.terminate_job}),
            (p("/jobs/{job}/taskcounts"), {"GET": self.task_counts}),
            (p("/jobs/{job}/tasks"), {"POST": self.add_task, "GET": self.list_tasks}),
            (p("/jobs/{job}/addtaskcollection"), {"POST": self.add_task_collection}),
            (p("/jobs/{job}/tasks/{task}"), {"GET": self.get_task, "DELETE": self.delete_task}),
            (p("/jobs/{job}/tasks/{task}/terminate"), {"POST": self.terminate_task}),
            (p("/jobs/{job}/tasks/{task}/reactivate"), {"POST": self.reactivate_task}),
            (re.compile(r"^/jobs/(?P<job>[^/]+)/tasks/(?P<task>[^/]+)/files/(?P<path>.+)$"),
             {"GET": self.get_file, "HEAD": self.get_file}),
        ]

    def dispatch(self, method: str, path: str, params: dict, raw: bytes, headers: dict) -> Reply:
        for pattern, methods in self.routes:
            m = pattern.match(path)
            if m:
                handler = methods.get(method)
                if handler is None:
                    raise BatchError(405, "UnsupportedHttpVerb",
                                     f"The resource doesn't support the specified HTTP verb {method}.")
                args = {k: unquote(v) for k, v in m.groupdict().items()}
                return handler(params=params, raw=raw, headers=headers, **args)
        raise BatchError(400, "InvalidUri", "The requested URI does not represent any resource on the "
                         "server (or the operation is not emulated).", {"UriPath": path})

    # ---- helpers
    def _doc(self, kind: str, entity: Entity, params: dict) -> Reply:
        fields = _fields(params)
        with self.store.lock:
            body = {"odata.metadata": f"{self.store.base_url}/$metadata#{kind}/@Element"}
            body.update(select(entity.doc, fields))
            return Reply(200, json.dumps(body).encode(), entity_headers(entity))

    def _page(self, kind: str, path: str, params: dict, entities: Callable[[], list[Entity]]) -> Reply:
        """A page of a list, with ``odata.nextLink`` carrying the query in ``$skiptoken``."""
        token = params.get("$skiptoken")
        if token:
            try:
                q = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            except ValueError:
                raise bad_query("$skiptoken", token, "Not a token this service issued.") from None
        else:
            q = {"f": params.get("$filter"), "s": params.get("$select"), "o": 0,
                 "m": params.get("maxresults", "1000")}
        try:
            size = int(q["m"])
        except ValueError:
            size = 0
        if not 1 <= size <= 1000:
            raise bad_query("maxresults", str(q["m"]), "maxresults must be between 1 and 1000.")
        pred, fields = compile_filter(q["f"]), _fields({"$select": q["s"]})
        with self.store.lock:
            matched = [e.doc for e in entities() if pred(e.doc)]
            page = matched[q["o"]:q["o"] + size]
            body = {"odata.metadata": f"{self.store.base_url}/$metadata#{kind}",
                    "value": [select(d, fields) for d in page]}
            if q["o"] + size < len(matched):
                nxt = dict(q, o=q["o"] + size)
                tok = base64.urlsafe_b64encode(json.dumps(nxt).encode()).decode().rstrip("=")
                body["odata.nextLink"] = f"{self.store.base_url}{path}?api-version={API_VERSION}&$skiptoken={tok}"
            return Reply(200, json.dumps(body).encode())

    @staticmethod
    def _created(entity: Entity) -> Reply:
        return Reply(201, None, dict(entity_headers(entity), Location=entity.doc["url"]))

    # ---- pools
    def create_pool(self, raw, **_):
        return self._created(self.store.create_pool(rules.parse_body(raw)))

    def list_pools(self, params, **_):
        return self._page("pools", "/pools", params, lambda: list(self.store.pools.values()))

    def get_pool(self, pool, params, **_):
        return self._doc("pools", self.store.pool(pool), params)

    def pool_exists(self, pool, **_):
        entity = self.store.pools.get(pool.lower())
        if entity is None:
            return Reply(404)
        return Reply(200, None, entity_headers(entity))

    def delete_pool(self, pool, **_):
        self.store.delete_pool(pool)
        return Reply(202, None, {"DataServiceId": f"{self.store.base_url}/pools/{pool}"})

    # ---- jobs
    def create_job(self, raw, **_):
        return self._created(self.store.create_job(rules.parse_body(raw)))

    def list_jobs(self, params, **_):
        return self._page("jobs", "/jobs", params, lambda: list(self.store.jobs.values()))

    def get_job(self, job, params, **_):
        return self._doc("jobs", self.store.job(job), params)

    def update_job(self, job, raw, **_):
        entity = self.store.update_job(job, rules.parse_body(raw))
        return Reply(200, None, entity_headers(entity))

    def delete_job(self, job, **_):
        self.store.delete_job(job)
        return Reply(202, None, {"DataServiceId": f"{self.store.base_url}/jobs/{job}"})

    def terminate_job(self, job, raw, **_):
        body = rules.parse_body(raw) if raw else {}
        self.store.terminate_job(job, body.get("terminateReason"))
        return Reply(202, None, entity_headers(self.store.job(job)))

    def task_counts(self, job, **_):
        body = {"odata.metadata": f"{self.store.base_url}/$metadata#taskcountsresult/@Element"}
        body.update(self.store.task_counts(job))
        return Reply(200, json.dumps(body).encode())

    # ---- tasks
    def add_task(self, job, raw, **_):
        return self._created(self.store.add_task(job, rules.parse_body(raw)))

    def add_task_collection(self, job, raw, **_):
        body = rules.parse_body(raw)
        tasks = body.get("value")
        if not isinstance(tasks, list):
            raise BatchError(400, "MissingRequiredProperty",
                             "A required property was not specified in the request body.", {"PropertyName": "value"})
        if len(tasks) > rules.MAX_TASKS_PER_COLLECTION:
            raise rules.too_large(f"{len(tasks)} tasks; at most {rules.MAX_TASKS_PER_COLLECTION} "
                                  "may be added in one request.")
        results = self.store.add_tasks(job, tasks)
        out = {"odata.metadata": f"{self.store.base_url}/$metadata#taskaddresult", "value": results}
        return Reply(200, json.dumps(out).encode())

    def list_tasks(self, job, params, **_):
        self.store.job(job)
        return self._page("tasks", f"/jobs/{quote(job)}/tasks", params, lambda: self.store.list_tasks(job))

    def get_task(self, job, task, params, **_):
        return self._doc("tasks", self.store.task(job, task), params)

    def delete_task(self, job, task, **_):
        self.store.delete_task(job, task)
        return Reply(200)

    def terminate_task(self, job, task, **_):
        self.store.terminate_task(job, task)
        return Reply(204, None, entity_headers(self.store.task(job, task)))

    def reactivate_task(self, job, task, **_):
        self.store.reactivate_task(job, task)
        return Reply(204, None, entity_headers(self.store.task(job, task)))

    def get_file(self, job, task, path, headers, **_):
        """A file of the task's directory (``stdout.txt``, ``stderr.txt``, ``wd/...``)."""
        entity = self.store.task(job, task)
        base = task_directory(self.root, entity).resolve()
        target = (base / path.replace("\\", "/")).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            raise BatchError(404, "FileNotFound", "The specified file does not exist.", {"FilePath": path})
        data = target.read_bytes()
        rng = headers.get("ocp-range")
        if rng:
            m = re.match(r"bytes=(\d+)-(\d*)$", rng)
            if not m:
                raise BatchError(400, "InvalidHeaderValue", "The value for ocp-range is not valid.")
            data = data[int(m.group(1)):(int(m.group(2)) + 1) if m.group(2) else None]
        st = target.stat()
        return Reply(200, data, {
            "Content-Type": "application/octet-stream",
            "Last-Modified": formatdate(st.st_mtime, usegmt=True),
            "ocp-creation-time": formatdate(st.st_ctime, usegmt=True),
            "ocp-batch-file-isdirectory": "false",
            "ocp-batch-file-url": f"{entity.doc['url']}/files/{quote(path)}",
            "ocp-batch-file-mode": oct(st.st_mode & 0o777777)[2:],
        })


def _fields(params: dict) -> list[str] | None:
    s = params.get("$select")
    return [f.strip() for f in s.split(",") if f.strip()] if s else None


class Handler(BaseHTTPRequestHandler):
    """Parses a request, authenticates it, injects faults and writes the service-shaped reply."""

    protocol_version = "HTTP/1.1"
    server_version = "superbatch-emulator"
    emulator: "BatchEmulator"

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

    def _handle(self, method: str) -> None:
        emu = self.emulator
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self.rfile.read(int(headers.get("content-length") or 0))
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        fault, retry_after = emu.faults.request()
        if fault == "drop":
            return self._drop()
        try:
            auth.check(emu.account, emu.key, method, url.path, url.query, headers)
            if fault in ("busy", "throttle"):
                raise BatchError(503, "ServerBusy", "The server is currently unable to receive requests. "
                                 "Please retry your request.") if fault == "busy" else BatchError(
                    429, "TooManyRequests", "The request rate is too high. Please retry later.")
            if params.get("api-version") != API_VERSION:
                raise bad_query("api-version", params.get("api-version", ""),
                                f"The emulator serves api-version {API_VERSION}.")
            if emu.on_request:
                emu.on_request(method, url.path, json.loads(raw) if raw else None)
            reply = emu.api.dispatch(method, url.path, params, raw, headers)
        except BatchError as exc:
            reply = Reply(exc.status, json.dumps(exc.body(emu.store.base_url)).encode(), exc.headers)
        if fault == "drop-after":
            return self._drop()
        if fault and retry_after:
            reply.headers["Retry-After"] = "1"
        self._reply(method, reply, headers)

    def _drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True

    def _reply(self, method: str, reply: Reply, request_headers: dict) -> None:
        body = reply.body if isinstance(reply.body, bytes) else b""
        self.send_response(reply.status)
        self.send_header("request-id", str(uuid.uuid4()))
        for name in ("client-request-id", "x-ms-client-request-id"):
            if name in request_headers:
                self.send_header(name, request_headers[name])
        self.send_header("DataServiceVersion", "3.0")
        if "Content-Type" not in reply.headers and body:
            self.send_header("Content-Type", JSON_TYPE)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD" and body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    """Threaded server that does not print client disconnects (expected with dropped requests)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class BatchEmulator:
    """A loopback Azure Batch service. ``start()`` serves in background threads; use as a context
    manager or call ``stop()``. ``endpoint`` is the URL to give ``BatchClient``."""

    def __init__(self, account: str = DEV_ACCOUNT, key: str = DEV_KEY, host: str = "127.0.0.1",
                 port: int = 0, workers: int | None = None, root: str | Path | None = None,
                 fault_rate: float = 0.0, drop_rate: float = 0.0, preempt_rate: float = 0.0,
                 fault_seed: int = 0, run_tasks: bool = True, mounts: dict[str, str] | None = None,
                 no_spot: bool = False,
                 on_request: Callable[[str, str, dict | None], None] | None = None):
        base64.b64decode(key, validate=True)     # fail early on a key the SDK could not use either
        self.account, self.key, self.host, self.port = account, key, host, port
        self.run_tasks, self.on_request = run_tasks, on_request
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="superbatch-emulator-")).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.faults = Faults(fault_rate, drop_rate, preempt_rate, fault_seed)
        self.store = Store(no_spot=no_spot, workers=workers)
        self.node = Node(self.store, self.root, self.faults, account, mounts, workers)
        self.api = Api(self.store, self.root)
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def stats(self) -> dict:
        """Counters of requests and injected faults."""
        return dict(self.faults.stats)

    def start(self) -> "BatchEmulator":
        handler = type("BoundHandler", (Handler,), {"emulator": self})
        self._httpd = _Server((self.host, self.port), handler)
        self.port = self._httpd.server_address[1]
        self.store.base_url = self.endpoint
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="emulator-http", daemon=True).start()
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

    def __enter__(self) -> "BatchEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
