"""The vendored REST definition as a JSON Schema validator for request and response bodies."""

from __future__ import annotations

from functools import lru_cache

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from batch_emulator import definition


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource("urn:batch", Resource(definition.document(), DRAFT4))


def validate(name: str, body) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``body`` matches definition ``name``."""
    schema = {"$ref": f"urn:batch#/definitions/{name}"}
    jsonschema.Draft4Validator(schema, registry=_registry()).validate(body)


def response_definition(method: str, path: str, status: int) -> str | None:
    """The definition of the answer to ``method path`` with ``status`` (errors: ``BatchError``)."""
    op, _, _ = definition.find(method, path)
    if op is None:
        return "BatchError" if status >= 400 else None
    return op.schemas.get(str(status)) or (op.schemas.get("default") if status >= 400 else None)


def validate_exchange(method: str, path: str, status: int, body) -> str | None:
    """Validate one answer; returns the definition it was checked against (None: no body schema)."""
    name = response_definition(method, path, status)
    if name is not None and body is not None:
        validate(name, body)
    return name
