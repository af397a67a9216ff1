"""What an Executor (and the joblib backend) ships as its function: the calls themselves,
each run by its index (the point ``{"i": k}``). Pickled by value with the calls, so a node
needs cloudpickle, never superbatch."""


class Calls:
    """``(function, args, kwargs)`` triples; calling it with a point runs the point's one."""

    def __init__(self, calls):
        self.calls = list(calls)

    def __call__(self, config, point):
        function, args, kwargs = self.calls[point["i"]]
        return function(*args, **kwargs)

    def points(self):
        return [{"i": i} for i in range(len(self.calls))]
