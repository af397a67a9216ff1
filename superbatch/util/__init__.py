"""Small helpers every layer uses: file I/O done safely (``files``: atomic writes, locks, JSON
lines, OS errors in words), the wall clock tests can move (``clock``), removing secrets from
text (``redact``) and progress bars on a terminal (``bars``).

May import: the standard library and ``superbatch.errors`` only.
"""
