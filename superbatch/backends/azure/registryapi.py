"""Does the worker's image exist, and can these credentials pull it? Asked of the registry
itself (the Docker Registry HTTP API V2 that ACR, Docker Hub and others serve), no Docker.

``HEAD /v2/<repository>/manifests/<tag or digest>``; a 401 names where to get a token (the
``Bearer`` challenge's realm, service and scope), which is asked with the registry's
credentials (or anonymously), then the manifest again with the token. Loopback registries
are spoken to over http, as Docker does. ``SUPERBATCH_REGISTRY_MIRROR`` names one endpoint
that answers for every registry (a mirror on an air-gapped network; a stand-in in tests).
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

TIMEOUT = 10
MANIFESTS = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    reference: str  # a tag or a digest

    @property
    def base_url(self) -> str:
        mirror = os.environ.get("SUPERBATCH_REGISTRY_MIRROR")
        if mirror:
            return mirror.rstrip("/")
        host = self.registry.split(":")[0]
        scheme = "http" if host in ("127.0.0.1", "localhost") else "https"
        api = "registry-1.docker.io" if self.registry == "docker.io" else self.registry
        return f"{scheme}://{api}"


def parse_image(image: str) -> ImageRef:
    """``registry/repository:tag`` (or ``@sha256:...``); Docker Hub when no registry is named."""
    name, _, digest = image.partition("@")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name if "/" in name else f"library/{name}"
    if digest:
        return ImageRef(registry, path, digest)
    repo, _, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    return ImageRef(registry, repo, tag or "latest")


@dataclass(frozen=True)
class Verdict:
    status: str  # ok | problem | not checked
    detail: str


def _head(url: str, auth: str | None) -> urllib.response.addinfourl:
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFESTS})
    if auth:
        request.add_header("Authorization", auth)
    return urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 - http(s) only


def _token(challenge: str, ref: ImageRef, basic: str | None) -> str | None:
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm", None)
    if not realm:
        return None
    params.setdefault("scope", f"repository:{ref.repository}:pull")
    request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(params)}")
    if basic:
        request.add_header("Authorization", basic)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
        body = json.load(response)
    return body.get("token") or body.get("access_token")


def check_image(image: str, username: str | None, password: str | None) -> Verdict:
    """Whether ``image`` exists and can be pulled with these credentials (or anonymously)."""
    ref = parse_image(image)
    url = f"{ref.base_url}/v2/{ref.repository}/manifests/{ref.reference}"
    basic = None
    if username and password:
        basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    try:
        try:
            _head(url, None).close()
            return Verdict("ok", f"{image} exists (no credentials needed)")
        except urllib.error.HTTPError as exc:
            if exc.code != 401:
                raise
            challenge = exc.headers.get("WWW-Authenticate", "")
        if challenge.lower().startswith("basic"):
            auth = basic
        else:
            token = _token(challenge, ref, basic)
            auth = f"Bearer {token}" if token else None
        _head(url, auth).close()
        return Verdict("ok", f"{image} exists and these credentials can pull it")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return Verdict(
                "problem",
                f"{image} is not in {ref.registry}: push it (docker push "
                f"{image}), or fix worker.image",
            )
        if exc.code in (401, 403):
            who = (
                "AZURE_REGISTRY_USERNAME and AZURE_REGISTRY_PASSWORD"
                if basic
                else "anonymous access"
            )
            return Verdict(
                "problem",
                f"{ref.registry} refused to let {who} pull {image}: set "
                f"or fix AZURE_REGISTRY_USERNAME/PASSWORD (and "
                f"azure.registry)",
            )
        return Verdict("not checked", f"{ref.registry} answered HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        return Verdict("not checked", f"{ref.registry} could not be reached ({type(exc).__name__})")
