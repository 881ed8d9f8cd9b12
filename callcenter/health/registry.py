"""How the running parts of a process report to the health board without the board importing them.

The Asterisk adapters live above this package and only ``callcenter.cli`` may import them, so the edge hands
the board a :data:`Probe` per adapter (a function that reads the adapter's state and returns its components;
``callcenter/cli/probes.py``). The schedulers report each round through a :class:`JobRecord`'s
:meth:`~JobRecord.ran` (passed to them as a plain ``on_run`` callback, so they need no import of this package).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callcenter.health.model import Component

Probe = Callable[[], list[Component]]


@dataclass
class JobRecord:
    """A scheduler's last run and next due time (R-119: the checks themselves are checked)."""

    name: str
    label: str
    registered_at: datetime
    last_run: datetime | None = None
    next_due: datetime | None = None
    last_error: str | None = None
    runs: int = 0
    # Under a job lock (callcenter.jobs, several processes on one database): None when the job always runs here,
    # True while this process holds it, False while it stands by (``holder`` then names who runs it).
    holding: bool | None = None
    holder: str | None = None
    reports_runs: bool = True  # False: a job that reports no rounds (the callback dialer), only who holds it

    def ran(self, at: datetime, next_due: datetime, error: str | None = None) -> None:
        self.last_run, self.next_due, self.last_error = at, next_due, error
        self.runs += 1

    def held(self, holding: bool, holder: str | None, at: datetime) -> None:
        """The job lock's state changed (``run_exclusively``'s ``on_state``): a process that takes a job over
        starts its record afresh, so its first round is measured from now."""
        if holding and not self.holding:
            self.registered_at, self.last_run, self.next_due, self.last_error = at, None, None, None
        self.holding, self.holder = holding, holder


@dataclass
class HealthRegistry:
    """What one process has to report: adapter probes and scheduler records."""

    probes: list[Probe] = field(default_factory=list)
    jobs: dict[str, JobRecord] = field(default_factory=dict)

    def add_probe(self, probe: Probe) -> None:
        self.probes.append(probe)

    def job(self, name: str, label: str, now: datetime, *, reports_runs: bool = True) -> JobRecord:
        """The record of scheduler ``name`` (created at its first registration)."""
        record = self.jobs.get(name)
        if record is None:
            record = self.jobs[name] = JobRecord(name, label, now, reports_runs=reports_runs)
        return record


def seconds_text(delta: timedelta) -> str:
    """A duration the way the board shows it: 45 s, 12 min, 3.5 h, 2 d."""
    s = abs(delta.total_seconds())
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} d"
