"""Backends: where tasks run (``local`` processes, ``azure`` Batch) behind one interface.

``base`` is the interface every backend implements with identical signatures (and the
status types they return; ``reports`` holds what else they report: estimates, checks,
logs, task runs); ``registry`` finds a backend by name without importing it, and
the spec section each backend owns. Each backend is a package of its own; nothing outside
``backends/`` asks which backend it is. A backend may import ``spec``, ``plan``, ``jobs``
(state, record, snapshot), ``contract``, ``errors``, ``util`` and ``taskrunner``; the SDKs
it uses stay inside it (their errors become superbatch's own there).
"""
