"""Comparisons that cannot flatter: the measured side and its baseline interleaved, at the same
N, each run against fresh services, at least three times; medians with their spread, the load
average during the runs, and where each side's time went (CPU of which process).

A side is a function ``side(repeat) -> Sample``: it starts its own services, does its setup,
and times only its work (see :class:`Meter`). Repeats alternate the order (A B, B A, A B, ...)
so that a drift in the machine's load hits both sides alike.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (the CLI runs)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Sample:
    """One timed run: ``count`` items in ``seconds``; ``cpu`` seconds per process meanwhile."""

    count: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


class Meter:
    """Times a region and the CPU each named process used in it.

    ``pids`` name live processes (services); ``client`` says where the measured work runs:
    ``"self"`` (this process), ``"children"`` (a CLI run that has been waited for).
    """

    def __init__(self, pids: dict[str, int] | None = None, client: str = "self"):
        self.pids, self.client = dict(pids or {}), client

    def __enter__(self) -> Meter:
        self._cpu0 = {name: process_cpu(pid) for name, pid in self.pids.items()}
        self._client0 = own_cpu() if self.client == "self" else children_cpu()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._t0
        client = (own_cpu() if self.client == "self" else children_cpu()) - self._client0
        self.cpu = {"client": client}
        self.cpu.update(
            {name: process_cpu(pid) - self._cpu0[name] for name, pid in self.pids.items()}
        )

    def sample(self, count: int, **extra) -> Sample:
        return Sample(count, self.seconds, self.cpu, extra)


class LoadSampler:
    """The 1-minute load average, sampled every ``every`` seconds while it runs."""

    def __init__(self, every: float = 1.0):
        self.every, self.values = every, []
        self._stop = threading.Event()

    def __enter__(self) -> LoadSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            self.values.append(os.getloadavg()[0])
            if self._stop.wait(self.every):
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Stats:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


@dataclass
class Comparison:
    """Both sides' samples, repeat by repeat, and the load average during all of them."""

    measured: list[Sample]
    baseline: list[Sample]
    load: Stats

    @property
    def rates(self) -> Stats:
        return Stats([s.rate for s in self.measured])

    @property
    def baseline_rates(self) -> Stats:
        return Stats([s.rate for s in self.baseline])

    @property
    def ratio(self) -> float:
        """The measured side's median rate over the baseline's."""
        return self.rates.median / self.baseline_rates.median

    @property
    def ratios(self) -> Stats:
        """Each repeat's ratio (its two runs ran back to back)."""
        return Stats([m.rate / b.rate for m, b in zip(self.measured, self.baseline)])


def interleave(
    measured: Callable[[int], Sample],
    baseline: Callable[[int], Sample],
    repeats: int = 3,
    log: Callable[[str], None] | None = None,
) -> Comparison:
    """Run both sides ``repeats`` times, alternating which goes first."""
    ours: list[Sample] = []
    theirs: list[Sample] = []
    with LoadSampler() as load:
        for r in range(repeats):
            order = ((measured, ours), (baseline, theirs))
            for side, out in order if r % 2 == 0 else reversed(order):
                sample = side(r)
                out.append(sample)
                if log:
                    who = "measured" if out is ours else "baseline"
                    log(f"    {who} #{r + 1}: {sample.count:,} in {sample.seconds:.1f} s")
    return Comparison(ours, theirs, Stats(load.values or [os.getloadavg()[0]]))


def interleave_many(
    sides: dict[str, Callable[[int], Sample]],
    repeats: int = 3,
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, list[Sample]], Stats]:
    """Several sides, ``repeats`` times, the order rotated each repeat (A B C, B C A, ...)."""
    out: dict[str, list[Sample]] = {name: [] for name in sides}
    names = list(sides)
    with LoadSampler() as load:
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                sample = sides[name](r)
                out[name].append(sample)
                if log:
                    log(f"    {name} #{r + 1}: {sample.count:,} in {sample.seconds:.2f} s")
    return out, Stats(load.values or [os.getloadavg()[0]])


def repeat(
    side: Callable[[int], Sample], repeats: int = 3, log: Callable[[str], None] | None = None
) -> tuple[list[Sample], Stats]:
    """One side alone (a figure with an absolute target), with the load during it."""
    out: list[Sample] = []
    with LoadSampler() as load:
        for r in range(repeats):
            out.append(side(r))
            if log:
                log(f"    #{r + 1}: {out[-1].count:,} in {out[-1].seconds:.1f} s")
    return out, Stats(load.values or [os.getloadavg()[0]])


# -- what bounds a figure --------------------------------------------------------------------

BUSY = 0.85  # a single-threaded process (Node, or Python's GIL) using this much of a CPU


def utilisation(samples: list[Sample]) -> dict[str, float]:
    """Median CPU seconds per wall second of each process over the samples."""
    names = {n for s in samples for n in s.cpu}
    return {
        n: statistics.median(s.cpu.get(n, 0.0) / s.seconds for s in samples if s.seconds > 0)
        for n in sorted(names)
    }


def bound(samples: list[Sample], cpus: int, latency: bool = False) -> str:
    """What limited these runs, from the CPU each process used per second of wall time."""
    use = utilisation(samples)
    shown = ", ".join(f"{n} {u:.2f}" for n, u in sorted(use.items(), key=lambda kv: -kv[1]))
    busiest = max(use, key=use.get) if use else None
    if busiest and use[busiest] >= BUSY:
        why = f"CPU of {busiest}"
    elif sum(use.values()) >= BUSY * cpus:
        why = f"the machine's {cpus} CPUs, shared"
    elif latency:
        why = "round trips (latency), not CPU"
    else:
        why = "waiting (I/O, or CPUs taken by other work)"
    return f"{why} (CPUs used: {shown})"


def describe(c: Comparison, cpus: int, latency: bool = False, unit: str = "tasks/s") -> str:
    """The spread, the load and what bounded each side, in one sentence for the report."""
    m, b, r = c.rates, c.baseline_rates, c.ratios
    return (
        f"{len(m.values)} runs each: {m.low:,.0f}-{m.high:,.0f} {unit} measured, "
        f"{b.low:,.0f}-{b.high:,.0f} {unit} baseline, per-run ratios {r.low:.2f}-{r.high:.2f}; "
        f"load average {c.load.median:.2f} (max {c.load.high:.2f}); measured side bound by "
        f"{bound(c.measured, cpus, latency)}; baseline bound by "
        f"{bound(c.baseline, cpus, latency)}"
    )
