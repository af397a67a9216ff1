"""A job's life on this machine: where its state lives (``state``: ``record.json``, the
journal, progress), its frozen record (``record``), where a command works and which jobs it
finds (``context``), submit / status / retry shared by every backend (``lifecycle``),
every submission a state directory knows (``history``) and the worker's snapshot the job
runs (``codestore``).

May import: ``spec``, ``plan``, ``contract``, ``errors``, ``util`` and the backends'
interface and registry (``backends.base``, ``backends.reports``, ``backends.registry``);
never a backend's code.
"""
