"""A joblib backend: ``import superbatch.joblib`` registers ``"superbatch"``, then

    with joblib.parallel_config(backend="superbatch", spec="azure.yaml"):
        results = Parallel()(delayed(f)(x) for x in xs)

runs the calls as one superbatch job (each of joblib's batches a point), on the backend and
pool the spec names (``backend=`` too). Keyword arguments of ``parallel_config`` other than
joblib's own go to :class:`superbatch.Executor` (``spec``, ``backend``, ``globals``,
``state_dir``, ``parallel``, ``batch_window``).
"""

from __future__ import annotations

from joblib import register_parallel_backend
from joblib._parallel_backends import ParallelBackendBase, SequentialBackend

from superbatch.pyapi.executor import Executor

NAME = "superbatch"
# joblib dispatches about twice this many batches before it waits for one: all of them, so
# that they land in one job.
EFFECTIVE_N_JOBS = 100_000  # joblib evaluates "2 * n_jobs" and refuses literals over 10^6


class SuperbatchBackend(ParallelBackendBase):
    supports_retrieve_callback = True
    supports_timeout = False
    default_n_jobs = -1

    def __init__(self, nesting_level=None, inner_max_num_threads=None, **executor_options):
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads)
        self._options = executor_options
        self._executor: Executor | None = None

    def effective_n_jobs(self, n_jobs):
        return EFFECTIVE_N_JOBS

    def configure(self, n_jobs=1, parallel=None, **backend_kwargs):
        self.parallel = parallel
        self._executor = Executor(**self._options)
        return self.effective_n_jobs(n_jobs)

    def submit(self, func, callback=None):
        future = self._executor.submit(func)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def retrieve_result_callback(self, out):
        return out.result()

    def get_nested_backend(self):
        # What a batch runs under on the node: joblib's own, never this one (the node has
        # no superbatch to unpickle it with).
        return SequentialBackend(nesting_level=(self.nesting_level or 0) + 1), None

    def terminate(self):
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def abort_everything(self, ensure_ready=True):
        self.terminate()
        if ensure_ready:
            self.configure(n_jobs=self.parallel.n_jobs, parallel=self.parallel)


register_parallel_backend(NAME, SuperbatchBackend)
