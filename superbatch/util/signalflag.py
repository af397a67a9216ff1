"""A stop flag that a signal handler may set.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread
is: ``threading.Event.set`` there waits forever if the interrupted code held the Event's
lock (inside its ``wait`` or ``set``), and so does a plain ``Lock`` the interrupted code
held. Code a handler calls uses this flag (nothing waits on it) and re-entrant locks.
"""

from __future__ import annotations


class StopFlag:
    """``set``/``is_set`` as ``threading.Event``'s, without a lock."""

    _set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set
