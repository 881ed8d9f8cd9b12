"""The health board of one process: every component checked at once into a :class:`HealthReport`.

The adapters' probes run on the event loop (they read asyncio-owned state); the database and the disk are
checked in a worker thread under :data:`CHECK_TIMEOUT` seconds, so a database that does not answer is red
within that time instead of holding the page. :func:`local_report` is what ``callcenter health`` can check by
itself when the service does not answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from callcenter.calls.agents import SeatView
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.health.checks import (
    GROUP_DATA,
    GROUP_RECORDINGS,
    GROUP_TELEPHONY,
    database_component,
    disk_component,
    flusher_component,
    job_component,
    refused_today,
    seats_component,
)
from callcenter.health.model import Component, HealthReport, Status
from callcenter.health.registry import HealthRegistry
from callcenter.health.seats import SeatWatch
from callcenter.logs import get_logger

log = get_logger(__name__)

CHECK_TIMEOUT = 5.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def day_start(now: datetime, settings: Settings) -> datetime:
    tz = settings.service.tz
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def storage_components(settings: Settings, now: datetime) -> list[Component]:
    """Database and recordings disk (blocking: run in a thread)."""
    db = database_component(settings.database.url)
    refused: int | None = None
    if db.status is not Status.RED:
        try:
            refused = refused_today(settings.database.url, day_start(now, settings))
        except Exception as exc:  # the count is extra information; the disk figure stands without it
            log.warning("health.refused_count_failed", error=str(exc))
    r = settings.recordings
    return [disk_component(r.root, r.min_free_bytes, refused), db]


async def _storage(settings: Settings, now: datetime) -> list[Component]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await asyncio.to_thread(storage_components, settings, now)
    except TimeoutError:
        return [
            Component("录音存储 recordings disk", Status.AMBER, f"not checked: no answer within {CHECK_TIMEOUT:.0f} s",
                      "unknown", GROUP_RECORDINGS),
            Component("数据库 database", Status.RED, f"no answer within {CHECK_TIMEOUT:.0f} s", "no answer",
                      GROUP_DATA, blocks_calls=True),
        ]


class HealthBoard:
    """Everything one ``callcenter serve`` process knows about its own health."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeline: Timeline | None = None,
        pool: SeatView | None = None,
        registry: HealthRegistry | None = None,
        seats: SeatWatch | None = None,
        flusher: Callable[[], asyncio.Task[Any] | None] | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.timeline = timeline
        self.pool = pool
        self.registry = registry or HealthRegistry()
        self.seats = seats
        self.flusher = flusher
        self.now = now

    async def check(self) -> HealthReport:
        now = self.now()
        components: list[Component] = []
        for probe in self.registry.probes:
            try:
                components.extend(probe())
            except Exception as exc:  # a broken probe is itself a finding, not a broken board
                log.exception("health.probe_failed")
                components.append(Component("探针 probe", Status.RED, f"a health probe failed: {exc}", "",
                                            GROUP_TELEPHONY))
        if self.pool is not None:
            components.append(seats_component(self.pool, self.seats))
        storage = await _storage(self.settings, now)
        components.append(storage[0])
        if self.timeline is not None:
            task = self.flusher() if self.flusher is not None else None
            running = None if self.flusher is None else (task is not None and not task.done())
            components.append(flusher_component(self.timeline.backlog, running))
        components.append(storage[1])
        tz = self.settings.service.tz
        components.extend(job_component(job, now, tz) for job in self.registry.jobs.values())
        return HealthReport(now, tuple(components))


def local_report(settings: Settings, now: datetime, service_problem: str) -> HealthReport:
    """What the CLI checks by itself when the running service does not answer (blocking)."""
    service = Component("服务进程 callcenter serve", Status.RED, service_problem, "unreachable", GROUP_TELEPHONY,
                        blocks_calls=True)
    return HealthReport(now, (service, *storage_components(settings, now)), source="local")
