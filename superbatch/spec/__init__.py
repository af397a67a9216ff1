"""The job spec: a YAML file read with the position of every value (``yamlsource``,
``yamlnodes``, ``pointscan``, ``sequences``), validated once into typed, frozen models
(``models``, on ``base``, composed with each backend's sections; ``load`` makes the ``Spec``;
the grid's axes in ``axes``; pydantic's errors said as the spec's problems in ``errors``),
plus what the spec says about the worker (``workerfiles``, ``workerenv``, ``workerfunction``,
``durations``) and ``superbatch init``'s scaffold.

Owns: ``Spec`` and the models of the spec's backend-neutral sections. Each backend's own
section (``azure:``, and the worker keys only one backend reads) is that backend's model,
contributed through ``superbatch.backends.registry``. May import: ``errors``, ``util``,
``contract`` and ``backends.registry``; nothing that runs or records a job.
"""
