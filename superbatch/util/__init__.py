"""Small helpers every layer uses: file I/O done safely (``files``: atomic writes, locks, JSON
lines, OS errors in words), the wall clock tests can move (``clock``), removing secrets from
text (``redact``), progress bars on a terminal (``bars``) and a stop flag a signal handler may
set (``signalflag``).

May import: the standard library and ``superbatch.errors`` only.
"""
