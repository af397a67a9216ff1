"""A user's script calling superbatch.map, shared by the local and azure tests."""

SCRIPT = """\
import json, sys
import numpy as np
import superbatch


def point(config, p):
    np.random.seed(p["seed"])
    return sum(np.power(np.random.uniform(size=config["size"]), config["power"]))


def flaky(config, p):
    if p["x"] == 2:
        raise ValueError(f"bad x {p['x']}")
    return p["x"] * config["k"]


if __name__ == "__main__":
    what = sys.argv[1]
    spec = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    if what == "seeds":
        points = [{"seed": s} for s in (1, 12, 123, 1234)]
        out = superbatch.map(point, points, globals={"power": 3, "size": [10]}, spec=spec)
        print(repr(float(sum(out))))
    elif what == "grid":
        grid = superbatch.grid(seed=[1, 12, 123, 1234])
        out = superbatch.map(point, grid, globals={"power": 3, "size": [10]}, spec=spec)
        print(repr(float(sum(out))))
    elif what == "collect":
        out = superbatch.map(flaky, superbatch.grid(x=range(4)), globals={"k": 10}, errors="collect")
        print(json.dumps([o if isinstance(o, int) else [o.index, o.point, o.traceback] for o in out]))
    elif what == "raise":
        try:
            superbatch.map(flaky, superbatch.grid(x=range(4)), globals={"k": 10})
        except superbatch.PointError as exc:
            print(json.dumps([exc.index, exc.point, exc.job_id, str(exc)]))
    elif what == "executor":
        seeds, config = [1, 12, 123, 1234], {"power": 3, "size": [10]}
        with superbatch.Executor(spec=spec) as ex:
            mapped = list(ex.map(point, [config] * 4, [{"seed": s} for s in seeds]))
            futures = [ex.submit(point, config, {"seed": s}) for s in seeds]
            submitted = [f.result() for f in futures]
        print(repr(float(sum(mapped))), repr(float(sum(submitted))))
    elif what == "joblib":
        import joblib
        import superbatch.joblib  # noqa: F401 - registers the backend

        with joblib.parallel_config(backend="superbatch", spec=spec):
            out = joblib.Parallel()(
                joblib.delayed(point)({"power": 3, "size": [10]}, {"seed": s})
                for s in (1, 12, 123, 1234)
            )
        print(repr(float(sum(out))))
    elif what == "lambda":
        scale = 7
        print(superbatch.map(lambda config, p: p["x"] * scale, [{"x": 1}, {"x": 2}]))
"""
