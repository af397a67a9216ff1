"""What stands in for a container image, and for the plain (non-container) node, on this machine.

Nothing is inherited from the process that started the emulator: a container task runs with the
``PATH`` and ``ENV`` its image's stand-in declares, and with the image's files reached through
declared mounts (container path -> host path); a task outside a container runs with the node's
declared ``PATH``. An image that is not declared cannot be "pulled": its tasks fail with the
service's ``ContainerInvalidImage``.

Image names are compared as Docker normalises them: ``python:3.12`` is
``docker.io/library/python:3.12``, ``mc/worker:v1`` is ``docker.io/mc/worker:v1``, a name without
a tag is ``:latest``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_NODE_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True)
class ImageStandIn:
    """A container image emulated on the host.

    ``mounts``: container path -> host directory (``{"/app": "/home/me/worker"}``): the image's
    files. ``path``: the image's ``PATH`` directories, as they are on the host (e.g. a virtual
    environment's ``bin`` then ``/usr/bin``, ``/bin``). ``env``: the image's ``ENV``.
    ``workdir``: the image's ``WORKDIR`` (a container path), the working directory of tasks with
    ``workingDirectory: containerImageDefault``.
    """

    mounts: dict[str, str] = field(default_factory=dict)
    path: list[str] | tuple[str, ...] = DEFAULT_NODE_PATH
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None

    def __post_init__(self):
        for cpath, hpath in self.mounts.items():
            if not cpath.startswith("/") or cpath.rstrip("/") == "":
                raise ValueError(f"mount point {cpath!r} is not an absolute container path below /")
            if not os.path.isabs(hpath):
                raise ValueError(f"host path {hpath!r} of mount {cpath!r} is not absolute")

    def to_host(self, text: str) -> str:
        """``text`` with every mounted container path (alone or followed by ``/``) replaced by its
        host path, where it starts an argument or a word inside one (``sh -c 'python /app/w.py'``)."""
        for cpath, hpath in sorted(self.mounts.items(), key=lambda kv: -len(kv[0])):
            cpath = cpath.rstrip("/")
            pattern = r"(?<![^\s'\"=:])" + re.escape(cpath) + r"(?=/|$|[\s'\";:])"
            text = re.sub(pattern, _literally(hpath), text)
        return text

    def environment(self) -> dict[str, str]:
        """The image's own variables: its ``ENV`` (paths mapped to the host) and its ``PATH``."""
        env = {k: self.to_host(v) for k, v in self.env.items()}
        env["PATH"] = os.pathsep.join(str(p) for p in self.path)
        return env


def reference(name: str) -> tuple[str, str, str]:
    """(registry, repository, tag or digest) of an image name, normalised as Docker does."""
    name, _, digest = name.partition("@")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = "docker.io"
    if registry == "docker.io" and "/" not in path:
        path = f"library/{path}"
    repository, _, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    return registry, repository, digest or tag or "latest"


def canonical(name: str) -> str:
    """The full name Docker gives ``name`` (``docker.io/library/python:3.12``)."""
    registry, repository, ref = reference(name)
    return f"{registry}/{repository}{'@' if ':' in ref else ':'}{ref}"


def find(images: dict[str, ImageStandIn], name: str) -> ImageStandIn | None:
    """The stand-in declared for ``name`` under any spelling Docker takes for the same image."""
    if name in images:
        return images[name]
    wanted = canonical(name)
    return next(
        (image for declared, image in images.items() if canonical(declared) == wanted), None
    )


def missing_paths(image: ImageStandIn) -> tuple[list[str], list[str]]:
    """Host directories of ``image`` that do not exist: (mounts, PATH entries)."""
    mounts = [f"{c} -> {h}" for c, h in image.mounts.items() if not os.path.isdir(h)]
    return mounts, [str(p) for p in image.path if not os.path.isdir(p)]


def from_mapping(name: str, spec: dict, base: Path) -> ImageStandIn:
    """A stand-in from a JSON/YAML mapping (``mounts``, ``path``, ``env``, ``workdir``); relative
    host paths are taken from ``base`` (the file's directory)."""
    unknown = set(spec) - {"mounts", "path", "env", "workdir"}
    if unknown:
        raise ValueError(f"image {name!r}: unknown keys {sorted(unknown)}")

    def host(p: str) -> str:
        return str((base / os.path.expanduser(str(p))).resolve())

    path = spec.get("path", list(DEFAULT_NODE_PATH))
    if isinstance(path, str):
        path = path.split(os.pathsep)
    return ImageStandIn(
        mounts={str(c): host(h) for c, h in (spec.get("mounts") or {}).items()},
        path=[host(p) for p in path],
        env={str(k): str(v) for k, v in (spec.get("env") or {}).items()},
        workdir=spec.get("workdir"),
    )


def load_file(file: str | Path) -> dict[str, ImageStandIn]:
    """Image stand-ins from a YAML or JSON file: ``{IMAGE_NAME: {mounts, path, env, workdir}}``."""
    import yaml

    file = Path(file)
    data = yaml.safe_load(file.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a mapping of image names to stand-ins")
    return {
        str(name): from_mapping(str(name), spec or {}, file.parent.resolve())
        for name, spec in data.items()
    }


def _literally(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement for ``re.sub`` that is ``text`` as it is (no backslash escapes)."""
    return lambda _match: text
