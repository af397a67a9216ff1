"""A job spec file read into a :class:`Spec`: the validated models and where they came from.

Everything downstream receives a :class:`Spec`; nothing downstream sees the raw YAML dicts.
"""

import os
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from superbatch.errors import SpecError
from superbatch.spec.errors import spec_error_from_validation
from superbatch.spec.models import CollectSpec, JobSpec
from superbatch.spec.yamlsource import SourceMap, load_yaml
from superbatch.util.modelbuild import build


class Spec(NamedTuple):  # not a dataclass: made at every start-up, ~0.5 ms less
    """A validated job spec and where it came from."""

    model: JobSpec
    path: Path
    source: SourceMap
    digest: str

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.model.name

    def resolve(self, relative: str) -> Path:
        """A path from the spec, relative to the spec's directory."""
        path = self.directory / relative
        try:
            return path.resolve()
        except (OSError, RuntimeError):  # a symbolic link loop: opening it will say so
            return Path(os.path.abspath(path))

    @property
    def worker_directory(self) -> Path:
        return self.resolve(self.model.worker.directory or ".")

    def where(self, *loc: Any) -> str:
        """``file, line N`` for a field path, for error messages."""
        return self.source.where(loc)

    def with_reducer(self, reduce: str) -> "Spec":
        """This spec collected with another reducer (``--reduce``). The spec's
        ``collect.output`` was chosen for its own reducer, so another reducer drops it
        (``--output`` still gives a file)."""
        collect = self.model.collect
        if reduce == collect.reduce:
            return self
        build(CollectSpec)
        try:
            collect = CollectSpec.model_validate(
                {**collect.model_dump(), "reduce": reduce, "output": None}
            )
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise SpecError(f"--reduce: {reason}.") from None
        return self._replace(model=self.model.model_copy(update={"collect": collect}))

    @classmethod
    def from_model(cls, model: JobSpec, path: Path) -> "Spec":
        """A spec rebuilt from a job's record (no line numbers: the file may have changed)."""
        return cls(model=model, path=path, source=SourceMap(path), digest="")


def parse_spec(data: Any, path: Path, source: SourceMap, digest: str = "") -> "Spec":
    """Validate already-loaded YAML data into a :class:`Spec`."""
    if not isinstance(data, dict):
        raise SpecError(
            f"{path}, line 1: a job spec is a YAML mapping (name:, worker:, ...), "
            f"not a {type(data).__name__}."
        )
    build(JobSpec)
    try:
        model = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from_validation(JobSpec, path, source, exc) from None
    return Spec(model=model, path=path, source=source, digest=digest)


def load_spec(path: str | Path) -> "Spec":
    """Read, parse and validate a job spec file. Raises :class:`SpecError` (exit 2)."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a directory; give the job spec's YAML file.")
    data, source = load_yaml(path)
    return parse_spec(data, path.resolve(), source, source.digest)


def json_schema() -> dict:
    """The JSON Schema of the job spec (for editors and CI checks)."""
    schema = JobSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "superbatch job spec"
    return schema
