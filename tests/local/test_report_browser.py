"""superbatch report, looked at in a browser: headless Chromium (Debian's package, which
.ci/run installs) loads the page with no network and the DOM it builds holds every chart."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html import unescape

import pytest
from clihelp import superbatch, write_spec

WORKER = (
    "import json, sys\np = json.load(open('inputs.json'))\n"
    "if p['a'] == 2 and p['b'] == 'y':\n    print('bad point', p, file=sys.stderr)\n"
    "    sys.exit(4)\njson.dump(p['a'] * 10 + ord(p['b']) - 120, open('outputs.json', 'w'))\n"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium(tmp_path):
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium (.ci/run installs it)")
        pytest.skip("no chromium on this machine (`apt-get install chromium`; CI has it)")

    def dump_dom(page) -> str:
        proc = subprocess.run(
            [found, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    return dump_dom


def test_the_page_renders_its_charts_offline(tmp_path, chromium):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "worker.py").write_text(WORKER)
    spec = write_spec(
        tmp_path,
        "name: seen\nworker: {command: 'python {worker_dir}/worker.py', directory: w, "
        "format: json}\nparameters: {a: {range: [4]}, b: [x, y, z]}\n",
    )
    assert superbatch("run", spec).code == 1  # one point fails
    page = tmp_path / "report.html"
    assert superbatch("report", spec, "-o", page).code == 0
    dom = unescape(chromium(page))
    assert dom.count("<svg") == 3  # timeline, durations, heat map
    assert len(re.findall(r"<title>task-\d+: ", dom)) == 12
    failure = re.search(r'<table class="failures">.*?</table>', dom, re.S).group(0)
    assert "task-00007" in failure and "a=2, b='y'" in failure and "bad point" in failure
    cells = re.findall(r"<title>a=(\d), b='(\w)': (-?\d+)</title>", dom)
    assert len(cells) == 11 and ("3", "z", "32") in cells  # 12 points, one missing
    assert "<title>missing</title>" in dom
