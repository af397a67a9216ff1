"""A retry budget of our own on top of azure-core's.

azure-core does not retry a POST whose connection dropped, and the SDK's create_tasks
retries some failures forever; every call that creates something is written to be safe to
repeat (already-exists counts as done), so retrying here is safe.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from superbatch.errors import InfraError, UserError
from superbatch.util.redact import redact

T = TypeVar("T")
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
UNREACHABLE_ATTEMPTS = 2


def attempts() -> int:
    return int(os.environ.get("SUPERBATCH_RETRY_ATTEMPTS", "8"))


def backoff_seconds(attempt: int) -> float:
    base = float(os.environ.get("SUPERBATCH_RETRY_BACKOFF", "0.5"))
    return min(10.0, base * 2**attempt) * random.uniform(0.5, 1.0)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in RETRYABLE_STATUS


def is_auth_failure(exc: BaseException) -> bool:
    if isinstance(exc, ClientAuthenticationError):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)


def with_retries(call: Callable[[], T], what: str, outcome: str) -> T:
    """Run ``call``, retrying transient failures; past the budget raise InfraError (exit 3)
    whose message ends with ``outcome`` (what state things are in)."""
    budget = attempts()
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified below
            if is_auth_failure(exc):
                raise UserError(
                    f"{what}: the service refused the credentials "
                    f"({describe(exc)}). Check AZURE_BATCH_ACCOUNT and "
                    f"AZURE_BATCH_ACCESS_KEY for Batch, AZURE_STORAGE_CONNECTION_STRING "
                    f"(or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY) for Storage, "
                    f"or your `az login`."
                ) from None
            if not is_transient(exc):
                raise
            attempt += 1
            # A connection that cannot be made was already retried by azure-core; a few
            # more tries cover a blip, more would only delay telling the user.
            limit = (
                min(budget, UNREACHABLE_ATTEMPTS)
                if isinstance(exc, ServiceRequestError)
                else budget
            )
            if attempt >= limit:
                raise InfraError(
                    f"{what}: the service kept failing after {attempt} attempts "
                    f"({describe(exc)}). {outcome}"
                ) from None
            time.sleep(backoff_seconds(attempt - 1))


def describe(exc: BaseException) -> str:
    if isinstance(exc, HttpResponseError):
        code = getattr(getattr(exc, "error", None), "code", None) or exc.reason
        return redact(f"HTTP {exc.status_code} {code}")
    return redact(type(exc).__name__ + ": " + (str(exc).splitlines()[0] if str(exc) else ""))[:300]
