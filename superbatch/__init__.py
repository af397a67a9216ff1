"""superbatch: turn a for-loop into an Azure Batch job (or a local one).

From Python: ``superbatch.map(fn, points, ...)`` and ``superbatch.grid(...)`` (docs/python.md),
loaded on first use so that the command line never imports them.
"""

__version__ = "0.1.0"

_LAZY = {
    "map": ("superbatch.pyapi.mapping", "map"),
    "PointError": ("superbatch.pyapi.mapcall", "PointError"),
    "grid": ("superbatch.pyapi.grid", "grid"),
    "Executor": ("superbatch.pyapi.executor", "Executor"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'superbatch' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
