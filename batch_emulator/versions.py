"""What differs between api-versions in the emulator's answers, and the defaults a pool reads
back with.

The emulator answers every api-version with the current shapes, except for properties that only
some versions declare: ``targetNodeCommunicationMode`` was added in 2022-10-01.16.0 (the .NET
SDK 15.4.0 release notes: "Added property TargetNodeCommunicationMode ... to PoolAddParameter")
and is gone from 2025-06-01 (the vendored definition does not declare it; Microsoft's own
2025-06-01 example still sends it, and the service ignores what a version does not declare).
"""

from __future__ import annotations

from .definition import API_VERSIONS

# pool property -> (first, last) api-version declaring it
POOL_PROPERTIES = {"targetNodeCommunicationMode": ("2022-10-01.16.0", "2024-07-01.20.0")}


def declares(version: str | None, prop: str) -> bool:
    """Whether api-version ``version`` declares the pool property ``prop``."""
    if prop not in POOL_PROPERTIES or version not in API_VERSIONS:
        return True
    first, last = POOL_PROPERTIES[prop]
    return API_VERSIONS.index(first) <= API_VERSIONS.index(version) <= API_VERSIONS.index(last)


def pool_as_created(body: dict, version: str | None) -> dict:
    """A pool body as the service stores it: without what ``version`` does not declare, and with
    ``imageReference.version`` "latest" when a marketplace image is named without one (as the
    definition's example ``Pools_GetPool_Basic`` reads back)."""
    for prop in POOL_PROPERTIES:
        if prop in body and not declares(version, prop):
            del body[prop]
    image = (body.get("virtualMachineConfiguration") or {}).get("imageReference")
    if image and image.get("publisher") and not image.get("virtualMachineImageId"):
        image.setdefault("version", "latest")
    return body


def pool_as_read(doc: dict, version: str | None) -> dict:
    """A pool document without the properties api-version ``version`` does not declare."""
    hidden = [p for p in POOL_PROPERTIES if p in doc and not declares(version, p)]
    return {k: v for k, v in doc.items() if k not in hidden} if hidden else doc
