"""The official Batch REST definition (vendored in ``rest/``): api-versions and operations.

Everything the emulator checks about request bodies and response headers is read from here, so
that a property, type, enum or header is never written down twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DEFINITION_FILE = "BatchService-2025-06-01.json"
CURRENT_API_VERSION = "2025-06-01"
# Every Batch data-plane api-version published since 2017 (the service still serves them all);
# the emulator answers each with the shapes of the current one, as older SDKs read those fine.
API_VERSIONS = (
    "2017-01-01.4.0",
    "2017-05-01.5.0",
    "2017-06-01.5.1",
    "2017-09-01.6.0",
    "2018-03-01.6.1",
    "2018-08-01.7.0",
    "2018-12-01.8.0",
    "2019-06-01.9.0",
    "2019-08-01.10.0",
    "2020-03-01.11.0",
    "2020-09-01.12.0",
    "2021-06-01.14.0",
    "2022-01-01.15.0",
    "2022-10-01.16.0",
    "2023-05-01.17.0",
    "2023-11-01.18.0",
    "2024-02-01.19.0",
    "2024-07-01.20.0",
    CURRENT_API_VERSION,
)


@lru_cache(maxsize=1)
def document() -> dict:
    """The parsed definition (Swagger 2.0)."""
    text = (
        resources.files(__package__).joinpath("rest").joinpath(DEFINITION_FILE).read_text("utf-8")
    )
    return json.loads(text)


def definitions() -> dict:
    return document()["definitions"]


@dataclass(frozen=True)
class Operation:
    """One (method, path template) of the definition."""

    operation_id: str
    method: str
    template: str
    body: str | None  # definition name of the request body
    body_required: bool
    headers: dict[str, list[str]]  # status -> response header names
    schemas: dict[str, str]  # status ("200", "default") -> response body definition
    parameters: frozenset[str]  # names of the header/query parameters it accepts

    def response_headers(self, status: int) -> list[str]:
        return self.headers.get(str(status), [])


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


@lru_cache(maxsize=1)
def operations() -> list[tuple[re.Pattern, Operation]]:
    """(path regex, operation) for every operation of the definition."""
    doc = document()
    shared = doc.get("parameters", {})
    out = []
    for template, methods in doc["paths"].items():
        pattern = re.compile(
            "^"
            + re.sub(
                r"\\\{(\w+)\\\}",
                lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(1) == 'filePath' else '[^/]+'})",
                re.escape(template),
            )
            + "$"
        )
        for method, op in methods.items():
            if method == "parameters":
                continue
            params = [
                shared[_ref_name(p["$ref"])] if "$ref" in p else p for p in op.get("parameters", [])
            ]
            body = next((p for p in params if p.get("in") == "body"), None)
            out.append(
                (
                    pattern,
                    Operation(
                        operation_id=op["operationId"],
                        method=method.upper(),
                        template=template,
                        body=_ref_name(body["schema"]["$ref"]) if body else None,
                        body_required=bool(body and body.get("required")),
                        headers={
                            status: sorted(r.get("headers", {}))
                            for status, r in op["responses"].items()
                        },
                        schemas={
                            status: _ref_name(r["schema"]["$ref"])
                            for status, r in op["responses"].items()
                            if "$ref" in r.get("schema", {})
                        },
                        parameters=frozenset(
                            p["name"].lower() for p in params if p.get("in") in ("header", "query")
                        ),
                    ),
                )
            )
    return out


def find(method: str, path: str) -> tuple[Operation | None, dict[str, str], bool]:
    """The operation for ``method path``, its path arguments, and whether the path exists at all."""
    known = False
    for pattern, op in operations():
        m = pattern.match(path)
        if m:
            known = True
            if op.method == method:
                return op, m.groupdict(), True
    return None, {}, known
