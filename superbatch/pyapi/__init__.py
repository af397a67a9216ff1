"""superbatch from Python: ``superbatch.map`` (and ``superbatch.grid``), on the same jobs as the
command line. A call becomes a job spec (the function shipped in a content-addressed worker
directory, the points, the globals), submitted, waited for and collected through the same
layers as ``superbatch run``: the state directory, identity (so calling again finds the job),
both backends. May import: the spec, jobs, collecting and backends layers; nothing imports it
but ``superbatch/__init__.py`` (lazily, so the command line never pays for it)."""
