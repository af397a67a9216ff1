"""Downloading many blobs: each one's bytes in the order asked, None for an absent one, a
stored MD5 checked, through the proxy requests would use, a closed keep-alive connection
replaced, and no SAS in any error."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.storage.blob import ContentSettings

from superbatch.backends.azure.credentials import StorageCredentials
from superbatch.backends.azure.fetch import BlobFetcher
from superbatch.backends.azure.storage import Storage
from superbatch.errors import InfraError


@pytest.fixture
def store(azurite, tmp_path):
    storage = Storage(StorageCredentials(connection_string=azurite.connection_string))
    blobs = storage.container(f"fetch{abs(hash(str(tmp_path))) % 10**8}")
    blobs.ensure()
    return blobs


def test_every_blob_in_order_and_none_for_an_absent_one(store):
    names = [f"out/task-{i:05d}" for i in range(40)] + ["out/with space/é"]
    for i, name in enumerate(names):
        store.upload(name, bytes([i % 256]) * (i * 1000))
    got, written = [], []
    before = datetime.now(timezone.utc) - timedelta(seconds=5)

    def done(name, fetched):
        got.append((name, fetched and fetched.data))
        if fetched:
            written.append(fetched.written)

    store.download_many(names[:20] + ["out/absent"] + names[20:], done)
    # each answer says when its bytes were written (what collect checks them against)
    assert all(before <= w <= datetime.now(timezone.utc) for w in written), written
    assert got == [(n, bytes([i % 256]) * (i * 1000)) for i, n in enumerate(names[:20])] + [
        ("out/absent", None)
    ] + [(n, bytes([i % 256]) * (i * 1000)) for i, n in enumerate(names) if i >= 20]


def test_a_blob_whose_bytes_do_not_match_its_md5_is_an_error(store):
    blob = store.client.upload_blob("out/bad", b"the bytes")
    blob.set_http_headers(ContentSettings(content_md5=hashlib.md5(b"other").digest()))
    with pytest.raises(InfraError, match="MD5") as caught:
        store.download_many(["out/bad"], lambda n, d: None)
    assert "sig=" not in str(caught.value)


class _Handler(http.server.BaseHTTPRequestHandler):
    """A loopback server for what Azurite will not do: forward (proxy) or drop connections."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def log_message(self, *args):
        pass


def _serve(handler, tls=None) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_downloads_go_through_the_proxy_requests_would_use(store, monkeypatch):
    class Proxy(_Handler):
        seen: list[str] = []

        def do_GET(self):  # absolute-form, as a client asks an http proxy
            Proxy.seen.append(self.path)
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with direct.open(self.path) as upstream:
                body = upstream.read()
            self.send_response(200)
            for header in ("Content-Length", "Content-MD5", "Last-Modified"):
                if upstream.headers.get(header):
                    self.send_header(header, upstream.headers[header])
            self.end_headers()
            self.wfile.write(body)

    names = [f"out/p-{i}" for i in range(5)]
    for i, name in enumerate(names):
        store.upload(name, b"x" * i)
    server, port = _serve(Proxy)
    try:
        for var in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        got = []
        store.download_many(names, lambda n, f: got.append(f.data))
    finally:
        server.shutdown()
    assert got == [b"x" * i for i in range(5)]
    # every GET went to the proxy, naming the blob's own URL (absolute-form)
    assert sorted(urllib.parse.urlsplit(p).path.rsplit("/", 2)[-2:] for p in Proxy.seen) == [
        ["out", f"p-{i}"] for i in range(5)
    ]


def test_a_keep_alive_connection_the_server_closed_is_replaced(store, monkeypatch):
    class Closing(_Handler):
        def do_GET(self):  # answers, then closes without saying so (as an idle timeout does)
            body = self.path.split("?")[0].rsplit("/", 1)[-1].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

    server, port = _serve(Closing)
    try:
        fetcher = BlobFetcher(f"http://127.0.0.1:{port}/acct/box", "sv=x&sig=secret", "box")
        got = [fetcher.get(f"blob{i}").data for i in range(6)]  # one thread, one connection
        fetcher.close()
    finally:
        server.shutdown()
    assert got == [f"blob{i}".encode() for i in range(6)]


def test_an_unreachable_account_is_a_request_error_without_the_sas():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    fetcher = BlobFetcher(f"http://127.0.0.1:{port}/acct/box", "sv=x&sig=secret", "box")
    with pytest.raises(ServiceRequestError) as caught:
        fetcher.get("out/task-1")
    assert "secret" not in str(caught.value) and "box/out/task-1" in str(caught.value)


def _self_signed(directory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, made with ``cryptography`` (azure-identity's)."""
    import ipaddress
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_https_trusts_what_requests_trusts(tmp_path, monkeypatch):
    import ssl

    class Blobs(_Handler):
        def do_GET(self):
            body = b"over tls"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server, port = _serve(Blobs, context)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    url = f"https://127.0.0.1:{port}/acct/box"
    try:
        with pytest.raises(ServiceRequestError):  # not trusted: certifi's roots only
            BlobFetcher(url, "sv=x&sig=secret", "box").get("out/t")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
        fetcher = BlobFetcher(url, "sv=x&sig=secret", "box")
        assert fetcher.get("out/t").data == b"over tls"
        fetcher.close()
    finally:
        server.shutdown()
