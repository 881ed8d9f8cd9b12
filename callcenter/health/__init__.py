"""The system health board (R-119 运行检查): every part of the service green / amber / red with a reason.

- :mod:`~callcenter.health.model`: :class:`Component`, :class:`HealthReport`, :class:`Status`.
- :mod:`~callcenter.health.checks`: database and migration level, recordings disk, timeline flusher, seats,
  schedulers; :mod:`~callcenter.health.registry`: the probes the edge registers for the Asterisk adapters
  (this package may not import them) and the schedulers' last-run / next-due records.
- :mod:`~callcenter.health.board`: :class:`HealthBoard`, one process's checks in one report.
- :mod:`~callcenter.health.selfcheck`: the daily self-check and its register (table ``health_checks``).

Served as the ``/health`` page, ``/api/health``, ``/healthz`` and ``/readyz`` (callcenter/web/health_pages.py)
and by ``callcenter health`` (callcenter/cli/health.py). docs/design.md, "Health", says how it fits.
"""

from callcenter.health.board import HealthBoard, local_report
from callcenter.health.model import Component, HealthReport, Status
from callcenter.health.registry import HealthRegistry, JobRecord

__all__ = ["Component", "HealthBoard", "HealthRegistry", "HealthReport", "JobRecord", "Status", "local_report"]
