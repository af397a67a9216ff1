"""The azure backend's boundary: an Azure SDK exception never leaves it.

What the retried calls do not already turn into superbatch's errors (credentials refused:
exit 2; the service failing past the retry budget: exit 3) and what the backend's code does
not handle itself (a 404 it expects, say) leaves each :class:`Backend` method as an
:class:`InfraError` (exit 3): the service answered something superbatch cannot use, and since
every step is safe to repeat, running the command again is the remedy.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

from superbatch.backends.base import Backend
from superbatch.errors import InfraError
from superbatch.util.redact import redact

B = TypeVar("B", bound=type[Backend])
# azure-core wraps what its transport (requests) raises, but not everywhere.
SDK_MODULES = ("azure.", "msrest.", "requests.", "urllib3.")


def is_sdk_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(SDK_MODULES)


def sdk_failure(exc: BaseException) -> InfraError:
    """The error the CLI reports for an SDK exception: its type and first line, redacted."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InfraError(
        redact(
            f"the Azure service failed: {type(exc).__name__}: {text}. Nothing "
            f"is lost: run the same command again."
        )
    )


def _guarded(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_sdk_error(exc):
                raise
            raise sdk_failure(exc) from exc

    return call


def guard_sdk_errors(cls: B) -> B:
    """``cls`` with every public method (its own and :class:`Backend`'s) guarded."""
    names = {n for c in (cls, Backend) for n in vars(c) if not n.startswith("_")}
    for name in sorted(names):
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, classmethod):
            setattr(cls, name, classmethod(_guarded(attr.__func__)))
        elif isinstance(attr, staticmethod):
            setattr(cls, name, staticmethod(_guarded(attr.__func__)))
        elif inspect.isfunction(attr):
            setattr(cls, name, _guarded(attr))
    return cls
