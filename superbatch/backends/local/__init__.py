"""The local backend: tasks run as processes on this machine (``backend``), executed by a
runner (``runner``) whose workers a watchdog (``nanny``) ends if the runner dies."""

from superbatch.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
