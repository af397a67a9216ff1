"""Watching a job: ``status --watch`` (a live line on a terminal, a line per change
otherwise) and ``wait`` (block until done, exit 4 on --timeout)."""

from __future__ import annotations

import os
import sys
import time

import click

from superbatch.cli.app import Output, cli
from superbatch.cli.options import (
    SPEC,
    backend_option,
    job_id_option,
    json_option,
    load_context,
    remember_rerun,
    state_dir_option,
    timeout_option,
)
from superbatch.errors import EXIT_TASKS_FAILED, TimedOut


def counts_line(st) -> str:
    missing = f", {st.missing} missing" if st.missing else ""
    return (
        f"job {st.job_id}: {st.job_state}; {st.total} tasks: {st.active} active, "
        f"{st.running} running, {st.succeeded} succeeded, {st.failed} failed{missing}"
    )


def watch(backend, out: Output, interval: float):
    """Follow the job until it is done (or nothing works on it any more); return its status."""
    live = sys.stderr.isatty() and not out.as_json and not os.environ.get("CI")
    shown = None
    while True:
        st = backend.status(with_failures=False)
        line = counts_line(st)
        if line != shown:
            if live:
                click.echo("\r\033[K" + line, err=True, nl=False)
            elif not out.as_json:
                click.echo(f"{time.strftime('%H:%M:%S')} {line}")
            shown = line
        if st.done or (st.running == 0 and st.notes):
            break
        time.sleep(interval)
    if live:
        click.echo("", err=True)
    return backend.status()


@cli.command()
@SPEC
@backend_option
@state_dir_option
@job_id_option
@timeout_option
@json_option
def wait(spec_path, backend, state_dir, job_id, timeout, as_json) -> None:
    """Block until the job is done: exit 0 if every task succeeded, 1 if some failed, 4 if
    --timeout passed first (nothing is wrong)."""
    out = Output(as_json)
    ctx = load_context(spec_path, backend, state_dir, job_id=job_id)
    state = ctx.find_job(job_id)
    remember_rerun("wait", state.job_id)
    st = ctx.backend_for(state).wait(timeout, ctx.progress)
    state.remember_status(st)
    if not st.done:
        raise TimedOut(
            f"job {state.job_id} is not finished after {timeout:g} s "
            f"({st.completed} of {st.total} tasks completed); nothing is wrong: "
            f"`superbatch wait` waits again.",
            details={"status": st.to_json()},
        )
    out.line(counts_line(st))
    ok = st.failed == 0 and st.missing == 0 and not st.blocked
    out.json({"ok": ok, **st.to_json()})
    if not ok:
        sys.exit(EXIT_TASKS_FAILED)
