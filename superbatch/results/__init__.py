"""From outputs to a result: ``collect`` (fetch through the backend, decode safely, reduce in
point order), the reducers (``reduce``), ``reduce: table`` (``tables``) and ``reduce: grid``
(``ndgrid``), writing and printing the result (``output``), and ``superbatch report``'s page
(``report``, charts in ``svgcharts``).

May import: ``jobs``, ``plan``, ``spec``, ``contract``, ``errors``, ``util`` and the
backends' interface (``backends.base``, ``backends.reports``); never a backend's code.
"""
