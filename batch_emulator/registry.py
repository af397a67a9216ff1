"""The declared images, as a registry (Docker Registry HTTP API V2) answers for them: so
that a pre-flight check of a rehearsed job's image asks the emulator, not the Internet
(``SUPERBATCH_REGISTRY_MIRROR`` = the emulator's endpoint). Anonymous."""

from __future__ import annotations

import json
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler

from .images import reference as image_reference


def answer_registry(handler: BaseHTTPRequestHandler, method: str, images: Iterable[str]) -> None:
    """Answer ``handler``'s request under ``/v2/`` for the images named ``images``."""
    path = handler.path.split("?")[0]
    repo, _, reference = path[len("/v2/") :].partition("/manifests/")
    # a mirror answers for every registry: the repository and reference are what identify
    # an image (``python:3.12`` is asked as library/python, 3.12, as Docker names it)
    known = {image_reference(name)[1:] for name in images}
    found = bool(reference) and (repo, reference) in known
    status = 200 if found or path == "/v2/" else 404
    body = (
        b""
        if status == 200
        else json.dumps(
            {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
        ).encode()
    )
    handler.send_response(status)
    handler.send_header("Docker-Distribution-API-Version", "registry/2.0")
    if status == 200 and reference:
        handler.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
        handler.send_header("Docker-Content-Digest", "sha256:" + "0" * 64)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if method == "GET" and body:
        handler.wfile.write(body)
