"""A recording HTTP proxy for tests: clients talk to it, it forwards to the emulator unchanged
(the ``Host`` header included, so the emulator answers with the proxy's address) and keeps
every exchange, for checking answers against the REST definition."""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from schema import validate_exchange

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


@dataclass
class Exchange:
    method: str
    path: str  # without the query
    query: str
    request_headers: dict
    status: int
    headers: dict
    body: bytes

    def json(self):
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class Recorder:
    """``with Recorder(emulator.endpoint) as rec:`` then point clients at ``rec.endpoint``."""

    def __init__(self, target: str):
        self.target = urlsplit(target)
        self.exchanges: list[Exchange] = []
        recorder = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn = http.client.HTTPConnection(
                    recorder.target.hostname, recorder.target.port, timeout=60
                )
                conn.request(
                    self.command,
                    self.path,
                    body=body if body or "Content-Length" in self.headers else None,
                    headers=headers,
                )
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                url = urlsplit(self.path)
                recorder.exchanges.append(
                    Exchange(
                        self.command,
                        url.path,
                        url.query,
                        dict(self.headers),
                        resp.status,
                        dict(resp.getheaders()),
                        data,
                    )
                )
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Recorder:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def validate_all(self) -> set[str]:
        """Check every JSON answer against the definition; the definitions seen."""
        seen = set()
        for ex in self.exchanges:
            body = (
                ex.json()
                if ex.method != "HEAD" and "json" in ex.headers.get("Content-Type", "")
                else None
            )
            name = validate_exchange(ex.method, ex.path, ex.status, body)
            if name and body is not None:
                seen.add(name)
        return seen
