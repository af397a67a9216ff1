"""The backends by name, and the part of the job spec each owns. Adding a backend means adding
a line to ``BACKENDS`` (and ``SECTIONS``) here and a package beside it.

Names are known without importing the backends (the azure one imports the Azure SDKs); each
backend's spec sections live in a light module of its own (``<backend>/spec.py``: pydantic
and ``superbatch.spec.base`` only), which ``superbatch.spec.models`` composes into the spec.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from typing import TypeAlias

    from pydantic import BaseModel

    from superbatch.backends.azure.spec import AzureWorkerKeys
    from superbatch.backends.base import Backend
    from superbatch.backends.local.spec import LocalWorkerKeys

    # each has for_map and scaffold
    WorkerSection: TypeAlias = LocalWorkerKeys | AzureWorkerKeys

BACKENDS = {
    "local": "superbatch.backends.local:LocalBackend",
    "azure": "superbatch.backends.azure:AzureBackend",
}
DEFAULT = "local"


class SpecSections(NamedTuple):  # not a dataclass: built at every start-up, ~0.5 ms less
    """The models the backends add to the spec: top-level keys (``azure:``) and worker keys."""

    job: tuple[type[BaseModel], ...]
    worker: tuple[type[WorkerSection], ...]


# Each backend's section models, "module:name" (imported when a spec is read, so that
# `--help` and the commands that read no spec never build pydantic models).
SECTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "local": {"job": (), "worker": ("superbatch.backends.local.spec:LocalWorkerKeys",)},
    "azure": {
        "job": ("superbatch.backends.azure.spec:AzureJobKeys",),
        "worker": ("superbatch.backends.azure.spec:AzureWorkerKeys",),
    },
}


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


@functools.cache
def spec_sections() -> SpecSections:
    """Every backend's spec sections, in the registry's order."""
    return SpecSections(
        job=tuple(_load(m) for s in SECTIONS.values() for m in s["job"]),
        worker=tuple(_load(m) for s in SECTIONS.values() for m in s["worker"]),
    )


def prepare_map_worker(worker: dict, base_dir: Path) -> bytes:
    """``superbatch.map``: each backend's worker section checks and adjusts its keys in the
    base spec's ``worker`` (in place; ``base_dir``: where its paths are relative to); the
    requirements they add to the shipped function's."""
    return b"".join(section.for_map(worker, base_dir) for section in spec_sections().worker)


def scaffold_worker_keys() -> str:
    """The backends' worker keys ``superbatch init`` writes (YAML lines under ``worker:``;
    ``{name}``: the job's name)."""
    return "".join(section.scaffold for section in spec_sections().worker)


def names() -> tuple[str, ...]:
    return tuple(BACKENDS)


def backend_class(name: str) -> type[Backend]:
    """The backend class registered as ``name`` (imported on first use)."""
    return _load(BACKENDS[name])
