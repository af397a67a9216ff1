"""A TCP proxy on 127.0.0.1 that delays every byte from client to server (``--delay 20ms``).

Put in front of Azurite it makes each request arrive ~20 ms late, as a round trip to a cloud
storage account does, while keeping the service's own throughput: bytes are stamped when they
arrive and sent when their stamp is due, so a large upload is delayed once, not per chunk,
and every connection has its own threads (concurrency hides the delay, as in the cloud).

    python -m bench.proxy --upstream 127.0.0.1:10000 --delay 20ms   # prints "listening: PORT"

Its own process, so that its CPU is not the measured process's GIL.
"""

from __future__ import annotations

import argparse
import queue
import signal
import socket
import sys
import threading
import time

from batch_emulator.latency import parse_delay

CHUNK = 256 * 1024


def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def _delayed(src: socket.socket, dst: socket.socket, delay: float) -> None:
    """Forward src -> dst, each chunk ``delay`` after it arrived (a reader and a writer)."""
    pending: queue.SimpleQueue = queue.SimpleQueue()

    def read() -> None:
        try:
            while data := src.recv(CHUNK):
                pending.put((time.monotonic() + delay, data))
        except OSError:
            pass
        pending.put((0.0, b""))

    threading.Thread(target=read, daemon=True).start()
    try:
        while True:
            due, data = pending.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            dst.sendall(data)
    except OSError:
        pass
    _close(src, dst)


def _plain(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    _close(src, dst)


def serve(upstream: tuple[str, int], delay: float, ready=None) -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    if ready is not None:
        ready(listener.getsockname()[1])
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection(upstream)
        except OSError:
            client.close()
            continue
        _nodelay(client)
        _nodelay(server)
        threading.Thread(target=_delayed, args=(client, server, delay), daemon=True).start()
        threading.Thread(target=_plain, args=(server, client), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__)
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to (loopback)")
    parser.add_argument("--delay", default="20ms", help="delay per request, e.g. 20ms")
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        parser.error("the proxy only forwards to 127.0.0.1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def ready(listening: int) -> None:
        print(f"listening: {listening}", flush=True)

    serve(("127.0.0.1", int(port)), parse_delay(args.delay), ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
