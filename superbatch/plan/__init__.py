"""The job plan: the grid's points streamed in order (``points``), chunked into tasks with
deterministic ids (``chunks``), what makes two submissions the same job (``identity``),
everything checked before anything is created (``checks``) and ``plan --sample``
(``sampling``).

May import: ``spec``, ``contract``, ``errors``, ``util``; not ``jobs``, ``results`` or a
backend's code (a backend's limits reach ``checks`` through its class's methods).
"""
