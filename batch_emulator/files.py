"""A node's file work: resource files in before the command, output files out after it.

``httpUrl`` resource files are plain HTTP(S) GETs (any URL the node can read); container
resource files and output files go through azure-storage-blob with the (SAS) URLs the task
carries, so they work against Azurite or real storage alike. Failures come back as the service's ``failureInfo`` documents.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

_RETRY: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.2,
    "connection_timeout": 10,
    "read_timeout": 60,
}


class TaskFailure(Exception):
    """A pre- or post-processing failure, carrying the ``failureInfo`` the service reports."""

    def __init__(self, code: str, message: str, details: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.info: dict = {"category": "usererror", "code": code, "message": message}
        if details:
            self.info["details"] = [{"name": n, "value": v} for n, v in details]


def inside(base: Path, relative: str) -> Path:
    """``base / relative``, refusing absolute paths and ``..`` escapes."""
    target = (base / relative).resolve()
    if os.path.isabs(relative) or not target.is_relative_to(base.resolve()):
        raise TaskFailure(
            "ResourceFileCreateFailed", f"The path {relative!r} escapes the working directory."
        )
    return target


def _fetch(url: str, target: Path) -> None:
    """GET ``url`` (any http(s) URL the node can read, a blob SAS URL included) into ``target``."""
    import shutil
    import ssl
    import urllib.error
    import urllib.request

    context = None
    if url.lower().startswith("https:"):
        cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
        context = ssl.create_default_context(cafile=cafile)
    request = urllib.request.Request(url, headers={"User-Agent": "superbatch-emulator-node"})
    try:
        with (
            urllib.request.urlopen(request, timeout=60, context=context) as response,
            open(target, "wb") as fh,
        ):
            shutil.copyfileobj(response, fh)
    except urllib.error.HTTPError as exc:
        code = {404: "BlobNotFound", 403: "BlobAccessDenied", 401: "BlobAccessDenied"}.get(
            exc.code, "BlobDownloadMiscError"
        )
        raise TaskFailure(
            code, f"Downloading the resource file from {_safe(url)} failed: HTTP {exc.code}."
        ) from None
    except TimeoutError:
        raise TaskFailure(
            "BlobDownloadTimedOut", f"Downloading the resource file from {_safe(url)} timed out."
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TaskFailure(
            "BlobDownloadMiscError",
            f"Downloading the resource file from {_safe(url)} failed: {exc}",
        ) from None


def _safe(url: str) -> str:
    """The URL without its query (a SAS token is a secret)."""
    return url.split("?", 1)[0]


def _mode(path: Path, rf: dict) -> None:
    try:
        os.chmod(path, int(rf.get("fileMode") or "0770", 8))
    except ValueError:
        raise TaskFailure(
            "ResourceFileCreateFailed", f"The fileMode {rf.get('fileMode')!r} is not octal."
        ) from None


def download_resources(resource_files: list[dict] | None, wd: Path) -> None:
    """Download every resource file into ``wd`` (``httpUrl``, or ``storageContainerUrl``)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
    )
    from azure.storage.blob import ContainerClient

    for rf in resource_files or []:
        try:
            if rf.get("httpUrl"):
                target = inside(wd, rf["filePath"])
                target.parent.mkdir(parents=True, exist_ok=True)
                _fetch(rf["httpUrl"], target)
                _mode(target, rf)
            elif rf.get("storageContainerUrl"):
                container = ContainerClient.from_container_url(rf["storageContainerUrl"], **_RETRY)
                base = inside(wd, rf.get("filePath") or ".")
                for blob in container.list_blobs(name_starts_with=rf.get("blobPrefix") or None):
                    target = inside(base, blob.name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(container.download_blob(blob.name).readall())
                    _mode(target, rf)
            else:
                raise TaskFailure(
                    "BlobDownloadMiscError",
                    "autoStorageContainerName resource files are not emulated (no auto-storage account).",
                )
        except TaskFailure:
            raise
        except ResourceNotFoundError as exc:
            raise TaskFailure(
                "BlobNotFound",
                f"A resource file required for the task does not exist: {exc.message}",
            ) from None
        except ClientAuthenticationError as exc:
            raise TaskFailure(
                "BlobAccessDenied", f"Access was denied to a resource file: {exc.message}"
            ) from None
        except HttpResponseError as exc:
            code = "BlobAccessDenied" if exc.status_code == 403 else "BlobDownloadMiscError"
            raise TaskFailure(code, f"Downloading a resource file failed: {exc.message}") from None
        except Exception as exc:  # noqa: BLE001 - any transport error is a download failure
            raise TaskFailure(
                "BlobDownloadMiscError", f"Downloading a resource file failed: {exc}"
            ) from None


def matches(pattern: str, task_dir: Path, wd: Path) -> list[tuple[Path, str]]:
    """(file, name under ``path``) pairs for a ``filePattern`` relative to ``wd``.

    ``..`` may reach the task directory (``../stdout.txt``) but no further. For a wildcard
    pattern the name is the file's path below the pattern's fixed leading directories.
    """
    pattern = pattern.replace("\\", "/")
    full = os.path.normpath(os.path.join(wd, pattern))
    if not Path(full).is_relative_to(task_dir):
        raise TaskFailure(
            "FileUploadMiscError", f"The filePattern {pattern!r} leaves the task directory."
        )
    if not glob.has_magic(full):
        return [(Path(full), Path(full).name)] if os.path.isfile(full) else []
    parts = Path(full).parts
    fixed = next(i for i, p in enumerate(parts) if glob.has_magic(p))
    base = Path(*parts[:fixed])
    found = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
    return [(Path(p), Path(p).relative_to(base).as_posix()) for p in found]


def upload_outputs(
    output_files: list[dict] | None, task_dir: Path, wd: Path, exit_code: int
) -> None:
    """Upload the outputs whose ``uploadCondition`` applies to ``exit_code``."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from azure.storage.blob import ContainerClient, ContentSettings

    for of in output_files or []:
        cond = ((of.get("uploadOptions") or {}).get("uploadCondition") or "tasksuccess").lower()
        if (cond == "tasksuccess" and exit_code != 0) or (cond == "taskfailure" and exit_code == 0):
            continue
        dest = (of.get("destination") or {}).get("container") or {}
        if not dest.get("containerUrl"):
            raise TaskFailure("FileUploadMiscError", "Only container destinations are emulated.")
        wildcard = glob.has_magic(of["filePattern"])
        headers = {h["name"].lower(): h.get("value") for h in dest.get("uploadHeaders") or []}
        try:
            container = ContainerClient.from_container_url(dest["containerUrl"], **_RETRY)
            for path, name in matches(of["filePattern"], task_dir, wd):
                prefix = dest.get("path")
                blob = (
                    (f"{prefix.rstrip('/')}/{name}" if prefix else name)
                    if wildcard
                    else (prefix or name)
                )
                settings = ContentSettings(
                    content_type=headers.get("content-type"),
                    content_encoding=headers.get("content-encoding"),
                )
                with open(path, "rb") as fh:
                    container.upload_blob(blob, fh, overwrite=True, content_settings=settings)
        except TaskFailure:
            raise
        except ResourceNotFoundError as exc:
            # The storage SDK sets error_code on the errors it raises (azure-core declares none).
            if getattr(exc, "error_code", None) == "ContainerNotFound":
                raise TaskFailure(
                    "FileUploadContainerNotFound",
                    "The Azure Storage Container for uploading Output Files was not found.",
                ) from None
            raise TaskFailure(
                "FileUploadMiscError", f"Uploading output files failed: {exc.message}"
            ) from None
        except HttpResponseError as exc:
            raise TaskFailure(
                "FileUploadMiscError", f"Uploading output files failed: {exc.message}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - transport errors are upload failures
            raise TaskFailure(
                "FileUploadMiscError", f"Uploading output files failed: {exc}"
            ) from None
