"""Downloading many blobs: each one's bytes in the order asked, None for an absent one, a
stored MD5 checked, through the proxy requests would use, a closed keep-alive connection
replaced, and no SAS in any error."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.storage.blob import ContentSettings

from superbatch.backends.azure.credentials import StorageCredentials
from superbatch.backends.azure.fetch import BlobFetcher, RenewedSas
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


def test_a_read_sas_is_signed_again_before_it_ends():
    now = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    signed = []

    def sign():
        signed.append(now[0])
        return f"sas{len(signed)}", now[0] + timedelta(hours=1)

    sas = RenewedSas(sign, clock=lambda: now[0])
    assert sas() == "sas1"
    now[0] += timedelta(minutes=49)
    assert sas() == "sas1"  # 11 minutes left: still good
    now[0] += timedelta(minutes=2)
    assert sas() == "sas2" and sas() == "sas2"  # 9 left: a new one, signed once
    now[0] += timedelta(hours=5)  # a clock moved far ahead (or a long stall): signed again
    assert sas() == "sas3"


def test_downloads_outlast_one_read_sas(store, monkeypatch):
    from superbatch.backends.azure import fetch, storage

    # Every SAS is signed for 2 seconds and renewed when it has under one left; Azurite
    # refuses an expired one, so the later blobs are only read if it was renewed.
    monkeypatch.setattr(storage, "FETCH_SAS", timedelta(seconds=2))
    monkeypatch.setattr(fetch, "RENEW_BEFORE", timedelta(seconds=1))
    monkeypatch.setattr(storage, "CLOCK_SKEW", timedelta(seconds=0))
    store.storage.concurrency = 1
    names = [f"out/slow-{i}" for i in range(4)]
    for name in names:
        store.upload(name, name.encode())
    got = []

    def done(name, fetched):
        got.append(fetched.data)

    real_get = fetch.BlobFetcher.get

    def slow_get(self, name):
        time.sleep(1.2)
        return real_get(self, name)

    monkeypatch.setattr(fetch.BlobFetcher, "get", slow_get)
    store.download_many(names, done)
    assert got == [n.encode() for n in names]


def test_a_renewed_sas_gets_a_new_delegation_key_when_the_old_one_ends_soon():
    from superbatch.backends.azure.storage import needs_new_key

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    hour = timedelta(hours=1)
    assert not needs_new_key(now + 3 * 24 * hour, now + hour, now)  # a long key serves
    assert not needs_new_key(now + 40 * timedelta(minutes=1), now + hour, now)
    assert needs_new_key(now + 9 * timedelta(minutes=1), now + hour, now)  # 9 of 60 minutes
    assert needs_new_key(now + 2 * 24 * hour, now + 3 * 24 * hour, now)  # a day too short


def test_a_proxy_downloads_cannot_use_is_named_without_its_password(monkeypatch):
    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "socks5://me:hunter2@127.0.0.1:1080")
    with pytest.raises(InfraError) as caught:
        BlobFetcher("http://127.0.0.1:9/acct/box", "sv=x&sig=secret", "box")
    message = str(caught.value)
    assert "socks5://127.0.0.1" in message and "HTTP_PROXY" in message
    assert "hunter2" not in message and "secret" not in message
