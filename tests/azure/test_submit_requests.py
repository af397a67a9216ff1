"""Adding tasks as JSON requests: whatever the service answers, every task gets in exactly once
or the submit fails; throttling is waited out as the service asks; the task list is read to
its last page."""

from __future__ import annotations

import threading
import time
from collections import Counter
from urllib.parse import unquote

from relhelpers import job_spec
from rigs import make_rig

from batch_emulator.errors import BatchError


class Requests:
    """An ``on_request`` hook: what each add-collection request asked for, and when."""

    def __init__(self, answer=None):
        self.seen: list[tuple[float, list[str]]] = []
        self.answer = answer  # answer(n, body): may raise a BatchError or change the body
        self.submitted = False  # the submit command has returned
        self._lock = threading.Lock()

    def __call__(self, method, path, body):
        if method != "POST" or not path.endswith("/addtaskcollection"):
            return
        with self._lock:
            self.job = unquote(path.split("/")[2])
            n = len(self.seen)
            self.seen.append((time.monotonic(), [t["id"] for t in body["value"]]))
        if self.answer:
            self.answer(n, body)


def submit(azurite, tmp_path, requests: Requests, points: int, **emulator_options):
    rig = make_rig(azurite, tmp_path, run_tasks=False, on_request=requests, **emulator_options)
    requests.emulator = rig.emulator
    try:
        spec = job_spec(rig.root, "adds", points)
        result = rig.run("submit", spec, "--backend", "azure", "--json")
        requests.submitted = True
        assert result.code == 0, result.stderr
        job = result.json["job_id"]
        held = [t.id for t in rig.client().list_tasks(job, select=["id"])]
    finally:
        rig.emulator.stop()
    assert sorted(held) == [f"task-{i:05d}" for i in range(points)]
    return held


def test_a_request_too_large_is_split_and_both_halves_are_added(azurite, tmp_path):
    def answer(n, body):
        if len(body["value"]) > 30:
            raise BatchError(400, "RequestBodyTooLarge", "The request body is too large.")

    requests = Requests(answer)
    submit(azurite, tmp_path, requests, 250)
    accepted = [ids for _, ids in requests.seen if len(ids) <= 30]
    assert Counter(i for ids in accepted for i in ids) == Counter(
        f"task-{i:05d}" for i in range(250)
    )


def test_throttling_waits_the_retry_after_the_service_gave(azurite, tmp_path):
    def answer(n, body):
        if n < 2:
            raise BatchError(
                429,
                "TooManyRequests",
                "The request rate is too high.",
                headers={"Retry-After": "1"},
            )

    requests = Requests(answer)
    submit(azurite, tmp_path, requests, 400)
    for when, ids in requests.seen[:2]:
        retried = [t for t, again in requests.seen[2:] if again[0] == ids[0]]
        assert retried and min(retried) - when >= 0.9  # not before the second it was told


def test_tasks_an_answer_leaves_out_are_sent_again(azurite, tmp_path):
    def answer(n, body):
        if n < 3:
            body["value"].pop()  # the service never saw it, and its answer does not name it

    requests = Requests(answer)
    submit(azurite, tmp_path, requests, 300)


def test_the_reconciliation_reads_every_page_of_the_task_list(azurite, tmp_path):
    lost = []

    def answer(n, body):
        # After it was accepted, a task is gone (as if lost by the service): the job's count
        # falls short of the plan, and only a listing can tell which task it is.
        if n >= 20 and not lost:
            try:
                requests.emulator.store.delete_task(requests.job, "task-00005")
                lost.append(n)
            except BatchError:
                pass  # not added yet: try at the next request

    requests = Requests(answer)
    submit(azurite, tmp_path, requests, 2_500)  # three pages of at most 1,000
    assert lost
    sent = Counter(i for _, ids in requests.seen for i in ids)
    # Only the lost task was added again: the listing read every page to find it.
    assert sent.pop("task-00005") == 2 and set(sent.values()) == {1}


def test_counts_that_catch_up_spare_the_listing(azurite, tmp_path):
    listed, counted = [], []

    class Listings(Requests):
        def __call__(self, method, path, body):
            if method == "GET" and not self.submitted:
                (listed if path.endswith("/tasks") else counted).append(path)
            super().__call__(method, path, body)

    # Counts two seconds behind, as the service's "may not always be up to date": asked
    # again until they account for every task, which spares listing two pages.
    requests = Listings()
    submit(azurite, tmp_path, requests, 1_500, task_counts_lag=2.0)
    assert listed == [] and sum(p.endswith("/taskcounts") for p in counted) >= 2
