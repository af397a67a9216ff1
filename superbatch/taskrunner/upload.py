"""A task's output uploaded by the task runner itself (Azure): ``<container>/<prefix><nonce>``
with the write SAS the task was given, the nonce (128 bits) drawn here and kept in memory only.

Nothing on the node ever carries the blob's name (no file, no log line), so neither a SAS
holder nor someone who lists the task's files through the Batch API can learn it. Standard
library only (the task runner runs under the worker's Python); urllib honours the node's
proxy variables and certificate settings (``SSL_CERT_FILE``).

One Put Blob up to 256 MiB, the documented maximum for every API version since 2016-05-31
(5000 MiB since 2019-12-12); larger outputs go as blocks (Put Block, at most 100 MiB each
since 2016-05-31 and 50,000 of them, then Put Block List), which the SAS's ``w`` allows.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

from superbatch.taskrunner import OUTPUT_URL_VAR as URL_VAR

PUT_BLOB_LIMIT = 256 * 1024 * 1024
BLOCK_SIZE = 32 * 1024 * 1024
MAX_BLOCK_SIZE = 100 * 1024 * 1024
MAX_BLOCKS = 50_000
ATTEMPTS = 3  # a transient failure (5xx, 429, a dropped connection) is tried again
TIMEOUT = 300
OCTETS = "application/octet-stream"
_SIG = re.compile(r"(sig=)[^&\s'\"]+", re.IGNORECASE)


class UploadFailed(Exception):
    """The upload failed; its text never carries the SAS."""


def upload(
    path: str,
    container_url: str | None,
    prefix: str,
    put_blob_limit: int = PUT_BLOB_LIMIT,
    block_size: int = BLOCK_SIZE,
) -> None:
    """Upload the file at ``path`` as ``prefix`` + 32 random hex digits."""
    if not container_url:
        raise UploadFailed(f"{URL_VAR} is not set: the task has nowhere to upload its output")
    base, _, sas = container_url.partition("?")
    name = prefix + secrets.token_hex(16)
    blob = Blob(f"{base.rstrip('/')}/{urllib.parse.quote(name)}", sas)
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if size <= put_blob_limit:
            blob.put("", handle, 0, size, {"x-ms-blob-type": "BlockBlob"})
            return
        block_size = max(block_size, -(-size // MAX_BLOCKS))
        if block_size > MAX_BLOCK_SIZE:
            raise UploadFailed(f"the output ({size} bytes) is larger than a block blob can be")
        ids = []
        for number, offset in enumerate(range(0, size, block_size)):
            block_id = base64.b64encode(b"%08d" % number).decode()
            query = "comp=block&blockid=" + urllib.parse.quote(block_id, safe="")
            blob.put(query, handle, offset, min(block_size, size - offset), {})
            ids.append(block_id)
        listed = "".join(f"<Latest>{block_id}</Latest>" for block_id in ids)
        body = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{listed}</BlockList>'.encode()
        blob.put("comp=blocklist", None, 0, len(body), {}, body)


class Blob:
    def __init__(self, url: str, sas: str):
        self.url = url
        self.sas = sas
        # The version the SAS was signed for, which the service accepts for its requests.
        self.version = urllib.parse.parse_qs(sas).get("sv", [None])[0]

    def put(self, query: str, handle, offset: int, length: int, headers: dict, body=None):
        """PUT ``length`` bytes of ``handle`` from ``offset`` (or ``body``), tried again after
        a transient failure."""
        url = self.url + "?" + "&".join(part for part in (query, self.sas) if part)
        headers = dict(headers, **{"Content-Length": str(length), "Content-Type": OCTETS})
        if self.version:
            headers["x-ms-version"] = self.version
        for attempt in range(1, ATTEMPTS + 1):
            data = body if body is not None else _Section(handle, offset, length)
            request = urllib.request.Request(url, data=data, headers=headers, method="PUT")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                code = exc.headers.get("x-ms-error-code") or exc.reason
                why = f"HTTP {exc.code} ({code})"
                if exc.code != 429 and exc.code < 500:
                    raise UploadFailed(_redact(why)) from None
            except (urllib.error.URLError, OSError) as exc:
                why = str(getattr(exc, "reason", exc))
            if attempt == ATTEMPTS:
                raise UploadFailed(_redact(f"{why} ({ATTEMPTS} attempts)")) from None
            time.sleep(attempt)


class _Section:
    """``length`` bytes of an open file from ``offset``, read as http.client sends a body."""

    def __init__(self, handle, offset: int, length: int):
        handle.seek(offset)
        self.handle = handle
        self.left = length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data


def _redact(text: str) -> str:
    """``text`` without a SAS signature (superbatch/util/redact.py's rule; the task runner has
    only the standard library)."""
    return _SIG.sub(r"\1REDACTED", text)
