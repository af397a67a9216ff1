"""A node's files as the File API answers them: listings of ``BatchNodeFile`` documents
and a file's bytes with the ``ocp-*`` headers (for the node's and a task's files alike)."""

from __future__ import annotations

import mimetypes
import re
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

from .entities import iso
from .errors import BatchError


def _inside(base: Path, relative: str) -> Path | None:
    target = (base / relative.replace("\\", "/").lstrip("/")).resolve()
    return target if target.is_relative_to(base.resolve()) else None


def _file_doc(path: Path, name: str, url: str) -> dict:
    st = path.stat()
    directory = path.is_dir()
    props = {
        "creationTime": iso(datetime.fromtimestamp(st.st_ctime, timezone.utc)),
        "lastModified": iso(datetime.fromtimestamp(st.st_mtime, timezone.utc)),
        "contentLength": "0" if directory else str(st.st_size),
        "contentType": "application/octet-stream"
        if directory
        else (mimetypes.guess_type(name)[0] or "application/octet-stream"),
        "fileMode": oct(st.st_mode & 0o777777)[2:],
    }
    return {
        "name": name,
        "url": f"{url}/{quote(name)}",
        "isDirectory": directory,
        "properties": props,
    }


def listing(base: Path, url: str, params: dict) -> list[dict]:
    """``BatchNodeFile`` documents below ``base`` (direct children unless ``recursive=true``)."""
    if not base.is_dir():
        return []
    recursive = (params.get("recursive") or "").lower() == "true"
    paths = sorted(base.rglob("*") if recursive else base.iterdir())
    return [_file_doc(p, p.relative_to(base).as_posix(), url) for p in paths]


def file_answer(base: Path, file_path: str, url: str, headers: dict) -> tuple[bytes, dict]:
    """A file's bytes (or properties, for HEAD) and the service's ``ocp-*`` headers."""
    target = _inside(base, file_path)
    if target is None or not target.is_file():
        raise BatchError(
            404, "FileNotFound", "The specified file does not exist.", {"FilePath": file_path}
        )
    data = target.read_bytes()
    rng = headers.get("ocp-range")
    if rng:
        m = re.match(r"bytes=(\d+)-(\d*)$", rng)
        if not m:
            raise BatchError(
                400,
                "InvalidHeaderValue",
                "The value for one of the HTTP headers is not in the correct format.",
                {"HeaderName": "ocp-range", "HeaderValue": rng},
            )
        data = data[int(m.group(1)) : (int(m.group(2)) + 1) if m.group(2) else None]
    st = target.stat()
    return (
        data,
        {
            "Content-Type": mimetypes.guess_type(target.name)[0] or "application/octet-stream",
            "Last-Modified": formatdate(st.st_mtime, usegmt=True),
            "ETag": f"0x{int(st.st_mtime_ns):X}",
            "ocp-creation-time": formatdate(st.st_ctime, usegmt=True),
            "ocp-batch-file-isdirectory": "false",
            "ocp-batch-file-url": f"{url}/{quote(file_path)}",
            "ocp-batch-file-mode": oct(st.st_mode & 0o777777)[2:],
        },
    )
