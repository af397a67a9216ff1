"""superbatch report: the page's content from a job on the fake backend, and its size bound."""

from __future__ import annotations

import dataclasses
import re
from html import unescape

from clihelp import invoke, write_spec

from superbatch.backends.base import TaskFailure
from superbatch.backends.reports import TaskRun


def job(tmp_path, command="fail-on-2", points=6, extra=""):
    (tmp_path / "worker").mkdir(exist_ok=True)
    return write_spec(
        tmp_path,
        f"name: rp\nbackend: fake\nworker: {{command: {command}, directory: worker}}\n"
        f"globals: {{scale: 2}}\nparameters: {{x: {{range: [{points}]}}}}\n{extra}",
    )


def test_the_page_shows_timeline_failures_and_the_first_outputs(tmp_path):
    spec = job(tmp_path)
    assert invoke("run", spec).code == 1  # point 2 fails
    page = tmp_path / "page.html"
    made = invoke("report", spec, "-o", page, "--json")
    assert made.code == 0 and made.json["report"] == str(page)
    html = page.read_text()
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )  # self-contained: nothing fetched from elsewhere
    assert "Failures (1)" in html
    failure = re.search(r'<table class="failures">.*?</table>', html, re.S).group(0)
    assert "task-00002" in failure and "x=2" in failure and "bad point 2" in failure
    bars = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"><title>(task-\d+)', html)
    assert sorted(t for _, t in bars) == [f"task-0000{i}" for i in range(6)]
    assert dict((t, c) for c, t in bars)["task-00002"] == "#c62828"  # the failed one in red
    preview = re.search(r'<table class="preview">.*?</table>', html, re.S).group(0)
    cells = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td><td>([^<]*)</td></tr>", preview)
    assert cells == [
        ("0", "0", "0"),
        ("1", "1", "2"),
        ("2", "2", "(missing)"),
        ("3", "3", "6"),
        ("4", "4", "8"),
        ("5", "5", "10"),
    ]


def test_a_two_axis_grid_of_numbers_is_a_heat_map(tmp_path):
    spec = job(tmp_path, command="first", points=1, extra="")
    spec.write_text(
        spec.read_text().replace(
            "parameters: {x: {range: [1]}}", "parameters: {x: {range: [4]}, y: [a, b, c]}"
        )
    )
    assert invoke("run", spec).code == 0
    html = tmp_path / "page.html"
    assert invoke("report", spec, "-o", html).code == 0
    cells = re.findall(r"<title>x=(\d+), y='(\w)': ([\d.]+)</title>", unescape(html.read_text()))
    assert len(cells) == 12 and ("3", "c", "6") in cells


def test_a_job_of_100000_tasks_makes_a_page_under_5_mb(tmp_path):
    from superbatch.jobs.context import make_context
    from superbatch.results.report import gather, render
    from superbatch.spec.load import load_spec

    spec = job(tmp_path, command="double", points=3)
    assert invoke("run", spec).code == 0
    ctx = make_context(load_spec(spec), None, None)
    data = gather(ctx, ctx.find_job(None))
    nodes = [f"tvmps_{i:040d}_d" for i in range(50)]
    runs = [
        TaskRun(
            f"task-{i:05d}",
            nodes[i % 50],
            1000.0 + i * 0.4,
            1000.0 + i * 0.4 + 20 + i % 7,
            "failure" if i % 1000 == 0 else "success",
            0,
            i % 3,
        )
        for i in range(100_000)
    ]
    failures = [
        TaskFailure(r.task_id, 1, "NonZeroExitCode", "x" * 200, "e" * 400, [{"x": 1}])
        for r in runs
        if r.result == "failure"
    ]
    status = dataclasses.replace(
        data.status, total=100_000, succeeded=99_900, failed=100, failures=failures
    )
    html = render(dataclasses.replace(data, runs=runs, status=status, made_at=50_000.0))
    assert len(html.encode()) < 5 * 2**20
    assert "Failures (100)" in html and "and 50 more" in html
    assert html.count("<rect") < 20_000  # occupancy per node, not a bar per task
