"""A multi-point task's outputs tar (``out/<task-id>/superbatch-output.<hex>``): its regular
files by name.

The task's shell writes a plain ustar/GNU archive of short names (``p<point>/<outputs>``);
those headers are read here directly, which costs a few microseconds a member where
``tarfile`` costs tens (a 100,000-point job has 100,000 members). Anything else (long
names, pax headers, sparse files) goes to ``tarfile``.
"""

from __future__ import annotations

import io
import tarfile

BLOCK = 512
_PLAIN = (b"0", b"\0", b"5")  # regular file (both spellings), directory


def members(data: bytes, verify: bool = True) -> dict[str, bytes]:
    """Every regular file of the archive, by name; ``tarfile.TarError`` when unreadable.

    ``verify=False`` skips the headers' checksums (half the cost): for an archive that was
    verified when it was stored."""
    found: dict[str, bytes] = {}
    offset, end = 0, len(data)
    view = memoryview(data)
    while offset + BLOCK <= end:
        header = data[offset : offset + BLOCK]
        if header[0] == 0 and header.count(0) == BLOCK:
            return found  # the end-of-archive blocks
        kind = header[156:157]
        if kind not in _PLAIN or header[345:346] != b"\0" or verify and not _checksum_ok(header):
            return _members_slowly(data)
        try:
            size = int(header[124:136].rstrip(b" \0") or b"0", 8)
        except ValueError:
            return _members_slowly(data)
        start = offset + BLOCK
        if start + size > end:
            raise tarfile.ReadError("the archive ends inside a member")
        if kind != b"5":
            name = header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            found[name] = bytes(view[start : start + size])
        offset = start + -(-size // BLOCK) * BLOCK
    if offset < end:
        raise tarfile.ReadError("the archive ends inside a header")
    return found


def _checksum_ok(header: bytes) -> bool:
    try:
        stored = int(header[148:156].rstrip(b" \0") or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(header[:148]) + 8 * 32 + sum(header[156:])


def _members_slowly(data: bytes) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if member.isreg():
                handle = tar.extractfile(member)
                if handle is not None:
                    found[member.name] = handle.read()
    return found
