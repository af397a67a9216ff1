"""The local backend's part of the job spec: the worker key only it reads, ``fork``
(deprecated: ``fork: false`` is ``isolation: process``).

Light on purpose (pydantic and ``superbatch.spec.base`` only): the registry contributes it to
the spec whichever backend a job uses.
"""

# (no `from __future__ import annotations`: pydantic would compile every annotation)

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from superbatch.spec.base import StrictModel


class LocalWorkerKeys(StrictModel):
    """The worker keys only the local backend reads."""

    scaffold: ClassVar[str] = ""  # ``superbatch init`` writes none of them (fork is deprecated)
    fork: bool | None = Field(
        None,
        description="Deprecated: false is isolation: process.",
        json_schema_extra={"deprecated": True},
    )

    @model_validator(mode="after")
    def _fork_agrees(self) -> "LocalWorkerKeys":
        isolation = getattr(self, "isolation", None)  # the core worker key it aliases
        if self.fork is False and isolation not in (None, "process"):
            raise ValueError(
                f"fork: false (deprecated) means isolation: process, not {isolation}; remove fork"
            )
        return self

    @classmethod
    def for_map(cls, worker: dict, base_dir: Path) -> bytes:
        """``superbatch.map``: ``fork: false`` asks for a process per point, said as
        ``isolation`` (which the call's worker goes by). Adds no requirements."""
        if worker.get("fork") is False and not worker.get("isolation"):
            worker["isolation"] = "process"
        return b""

    def isolation_alias(self) -> str | None:
        """``fork: false`` read as ``isolation: process``; else None (no say)."""
        return "process" if self.fork is False else None
