"""What superbatch and the programs it runs agree on: the worker's file names (``names``),
how config, inputs and outputs are encoded (``codec``) and safely decoded
(``safepickle``), and what a task runner's manifest says about the worker (``manifest``).

May import: ``errors``, ``util`` and ``taskrunner`` (standard library only) only; the spec,
plan and backends build on it.
"""
