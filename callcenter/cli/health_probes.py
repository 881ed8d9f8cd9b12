"""The edge's half of the health board: probes that read the Asterisk adapters' state, and the wiring of the
board, its schedulers' records and the daily self-check into ``callcenter serve``.

Only this package may import ``callcenter.telephony`` (contract telephony-edge), and the web pages act through
``callcenter.calls`` and the services (web-through-calls), so the adapters reach the board as
:data:`callcenter.health.registry.Probe` functions registered here, the way :class:`AriCallControl` reaches the
panel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from callcenter.health.board import HealthBoard
from callcenter.health.checks import GROUP_TELEPHONY, local
from callcenter.health.model import Component, Status
from callcenter.health.registry import HealthRegistry, JobRecord, Probe
from callcenter.health.seats import SeatWatch
from callcenter.health.selfcheck import SelfCheck

# FastAGI calls in progress at or above this share of telephony.agi_max_calls is amber (new calls soon refused).
AGI_BUSY_SHARE = 0.9


def _task_failure(task: asyncio.Task[Any] | None) -> str | None:
    """Why ``task`` has ended, or None while it runs."""
    if task is None or not task.done():
        return None
    if task.cancelled():
        return "stopped"
    exc = task.exception()
    return f"stopped: {exc}" if exc is not None else "stopped"


def ari_probe(ari: Any, task: Callable[[], asyncio.Task[Any] | None], tz: Any) -> Probe:
    """The ARI events websocket of one Asterisk server (a :class:`callcenter.telephony.ari.AriService`)."""
    client = ari.client
    where = urlsplit(client.url).netloc or client.url
    name = f"ARI {where} ({client.app})"

    def probe() -> list[Component]:
        detail = {"connected": client.connected, "connections": client.connections,
                  "connected_at": client.connected_at.isoformat() if client.connected_at else None,
                  "lost_at": client.lost_at.isoformat() if client.lost_at else None, "calls": len(ari.calls),
                  "asterisk_version": client.asterisk_version}
        reconnects = max(0, client.connections - 1)
        value = (f"{'connected' if client.connected else 'not connected'}; last connect "
                 f"{local(client.connected_at, tz)}; {reconnects} reconnects")
        stopped = _task_failure(task())
        if stopped is not None:
            return [Component(name, Status.RED, f"the ARI application has {stopped}", value, GROUP_TELEPHONY,
                              blocks_calls=True, detail=detail)]
        if not client.connected:
            since = f"since {local(client.lost_at, tz)}" if client.lost_at else "not connected yet"
            return [Component(name, Status.RED, f"events websocket down ({since}): no ARI calls are taken", value,
                              GROUP_TELEPHONY, blocks_calls=True, detail=detail)]
        version = client.asterisk_version or "?"
        return [Component(name, Status.GREEN, f"events websocket connected (Asterisk {version}); "
                          f"{len(ari.calls)} calls live", value, GROUP_TELEPHONY, blocks_calls=True, detail=detail)]

    return probe


@dataclass
class AgiListener:
    """The FastAGI server once it listens (``serve_fastagi(on_listening=...)``) and the task that runs it."""

    server: Any = None
    task: asyncio.Task[Any] | None = None

    def listening(self, server: Any) -> None:
        self.server = server


def fastagi_probe(listener: AgiListener, host: str, port: int) -> Probe:
    def probe() -> list[Component]:
        name = "FastAGI"
        stopped = _task_failure(listener.task)
        server = listener.server
        if stopped is not None:
            return [Component(name, Status.RED, f"the FastAGI server has {stopped}", "not listening",
                              GROUP_TELEPHONY, blocks_calls=True)]
        if server is None:  # the task runs and has not bound its port yet
            return [Component(name, Status.AMBER, f"starting: not listening on {host}:{port} yet", "starting",
                              GROUP_TELEPHONY, blocks_calls=True)]
        value = f"port {server.port}; {server.active} calls in progress (max {server.max_calls})"
        detail = {"host": server.host, "port": server.port, "active": server.active, "max_calls": server.max_calls,
                  "served": server.served, "refused": server.refused}
        if server.active >= AGI_BUSY_SHARE * server.max_calls:
            return [Component(name, Status.AMBER, f"{server.active} of {server.max_calls} call slots taken "
                              "(telephony.agi_max_calls)", value, GROUP_TELEPHONY, blocks_calls=True, detail=detail)]
        return [Component(name, Status.GREEN, f"listening on {server.host}:{server.port}; {server.served} calls "
                          f"served, {server.refused} refused", value, GROUP_TELEPHONY, blocks_calls=True,
                          detail=detail)]

    return probe


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class HealthWiring:
    """One process's board, its registry and its self-check, as ``callcenter serve`` sets them up."""

    board: HealthBoard
    registry: HealthRegistry
    seats: SeatWatch
    self_check: SelfCheck
    agi: AgiListener = field(default_factory=AgiListener)
    now: Callable[[], datetime] = _utc_now

    def job(self, name: str, label: str) -> Callable[[datetime, datetime, str | None], None]:
        record: JobRecord = self.registry.job(name, label, self.now())
        return record.ran

    def holding(self, name: str, label: str, *, reports_runs: bool = True) -> Callable[[bool, str | None], None]:
        """The ``on_state`` of job ``name`` under its lock (``run_exclusively``): the board shows this process
        holding it or standing by."""
        record: JobRecord = self.registry.job(name, label, self.now(), reports_runs=reports_runs)
        return lambda holding, holder: record.held(holding, holder, self.now())


def wire_health(service: Any, now: Callable[[], datetime] = _utc_now) -> HealthWiring:
    """The board of ``service`` (a :class:`callcenter.cli.serve.Service`), on its web context's extras."""
    settings = service.settings
    registry = HealthRegistry()
    seats = SeatWatch()
    board = HealthBoard(settings, timeline=service.timeline, pool=service.pool, registry=registry, seats=seats,
                        flusher=lambda: service.flusher, now=now)
    self_check = SelfCheck(board, settings, job=registry.job("self-check", "每日自检", now()))
    service.web.extras["health"] = board
    service.web.extras["health_self_check"] = self_check
    return HealthWiring(board, registry, seats, self_check, now=now)
