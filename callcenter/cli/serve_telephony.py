"""The telephony half of ``callcenter serve`` (``--role telephony`` or ``all``): one ARI application and one
FastAGI listener per Asterisk server this process serves (``[telephony.asterisk.<name>]``, issue 17).

Each server gets its own :class:`~callcenter.telephony.ari.AriService` (its own events websocket, its own
Stasis app), so an agent ringing for a call on server B is originated on B's ARI, where the call's bridge is.
The panel and the wallboard reach these calls through :class:`ServedCalls` and :class:`ServedMonitoring`,
which find the server that holds a call; calls held by another process are reached through
``callcenter.calls.commands`` (see :mod:`callcenter.web.routed_control`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

from callcenter.calls.supervision import SupervisionError
from callcenter.config import AsteriskServer, Settings
from callcenter.logs import get_logger

log = get_logger(__name__)

# How long the ARI applications may take to connect before serve gives up (Stasis would fail calls meanwhile).
ARI_READY_SECONDS = 15.0


def server_settings(settings: Settings, server: AsteriskServer) -> Settings:
    """``settings`` as one server's adapters read them: its ARI address and app, its FastAGI bind."""
    t = settings.telephony
    return replace(settings, telephony=replace(
        t, ari_url=server.ari_url, ari_username=server.ari_username, ari_password=server.ari_password,
        ari_app=server.ari_app, agi_host=server.agi_host, agi_port=server.agi_port,
        agent_endpoint=server.agent_endpoint))


class ServedCalls:
    """Every ARI application of this process as one: the live call of a call id, whichever server holds it.
    Stands in for one :class:`AriService` where the panel's :class:`~callcenter.web.control.AriCallControl`
    looks a call up."""

    def __init__(self, services: dict[str, Any]) -> None:
        self.services = services  # live: a server joins while this process holds its application

    async def control(self, call_id: str, action: str, args: Mapping[str, Any], by: str) -> Any:
        from callcenter.calls.control import ControlResult

        for service in list(self.services.values()):
            if service.call(call_id) is not None:
                return await service.control(call_id, action, dict(args), by)
        return ControlResult(404, error=f"call {call_id} is not live here")

    def call(self, call_id: str) -> Any:
        for service in list(self.services.values()):
            call = service.call(call_id)
            if call is not None:
                return call
        return None

    def server_of(self, call_id: str) -> str | None:
        for name, service in self.services.items():
            if service.call(call_id) is not None:
                return name
        return None


class ServedMonitoring:
    """Live monitoring (R-118) on the server that holds the call: the supervisor's desk phone is originated
    there, beside the Snoop of the agent's leg."""

    def __init__(self, calls: ServedCalls) -> None:
        self.calls = calls

    def _of(self, call_id: str) -> Any:
        for service in self.calls.services.values():
            if service.call(call_id) is not None or call_id in service.monitoring.active:
                return service.monitoring
        raise SupervisionError(f"call {call_id} is not live", 404)

    async def start(self, call_id: str, *, supervisor: str, role: str, endpoint: str, mode: str,
                    purpose: str) -> dict[str, str]:
        result: dict[str, str] = await self._of(call_id).start(
            call_id, supervisor=supervisor, role=role, endpoint=endpoint, mode=mode, purpose=purpose)
        return result

    async def switch(self, call_id: str, *, supervisor: str, mode: str, purpose: str = "") -> dict[str, str]:
        result: dict[str, str] = await self._of(call_id).switch(call_id, supervisor=supervisor, mode=mode,
                                                                purpose=purpose)
        return result

    async def stop(self, call_id: str, *, supervisor: str) -> None:
        await self._of(call_id).stop(call_id, supervisor=supervisor)

    def sessions(self) -> list[dict[str, str]]:
        return [s for service in self.calls.services.values() for s in service.monitoring.sessions()]


class ServerHolder:
    """Runs one server's ARI application while this process holds the server's lock.

    Asterisk (and the simulator) gives an application's events to its newest websocket only, so exactly one
    process of the deployment may hold a server's application: its lock ``asterisk-<name>`` (callcenter.jobs,
    an advisory lock on PostgreSQL). The processes that serve the same server stand by; when the holder dies
    one of them takes the lock within ``database.job_lock_poll_seconds``, connects, and its reconcile adopts
    the calls in the application (issue 17: within 5 s)."""

    def __init__(self, name: str, settings: Settings, aris: dict[str, Any], make: Any,
                 on_hold: Callable[[Any], Coroutine[Any, Any, None]] | None = None) -> None:
        self.name = name
        self.on_hold = on_hold  # runs beside the application while held (the callback dialer), cancelled with it
        self.settings = settings
        self.aris = aris  # the process's live map of server → AriService (ServedCalls reads it)
        self.make = make  # () -> a new AriService for this server
        self.settled = asyncio.Event()  # set once this process holds the server and is connected, or stands by
        self.connected = asyncio.Event()  # set while this process holds the server and its websocket is up
        self.service: Any = None
        self.task: asyncio.Task[Any] | None = None
        self.held_by: str | None = None
        # Told when this process takes the server (its predecessor's call_owners rows go), before it connects.
        self.on_take: Callable[[str], Coroutine[Any, Any, None]] | None = None

    @property
    def held(self) -> bool:
        """This process holds the server's application now."""
        return self.service is not None and self.aris.get(self.name) is self.service

    def state(self, holding: bool, holder: str | None) -> None:
        self.held_by = holder
        if not holding:
            self.settled.set()

    async def hold(self) -> None:
        """The job under the lock: run the application until cancelled (the lock lost or serve stopping)."""
        if self.on_take is not None:
            await self.on_take(self.name)
        ari = self.make()
        self.service = ari
        self.aris[self.name] = ari
        self.task = asyncio.current_task()
        log.info("asterisk.holding", server=self.name, app=ari.app)
        run: asyncio.Task[Any] | None = None
        ready: asyncio.Task[Any] | None = None
        extra: asyncio.Task[Any] | None = None
        try:
            run = asyncio.create_task(ari.run(), name=f"ari-{self.name}")
            ready = asyncio.create_task(ari.ready())
            await asyncio.wait([run, ready], return_when=asyncio.FIRST_COMPLETED)
            self.settled.set()
            if ready.done() and not ready.cancelled() and ready.exception() is None:
                self.connected.set()
            if not ready.done():
                ready.cancel()
            if self.on_hold is not None and not run.done():
                extra = asyncio.create_task(self.on_hold(ari), name=f"ari-{self.name}-extra")
            await run
        finally:
            self.connected.clear()
            if self.aris.get(self.name) is ari:
                del self.aris[self.name]
            for task in (extra, run, ready):
                if task is not None:
                    task.cancel()
            await asyncio.gather(*(t for t in (extra, run, ready) if t is not None), return_exceptions=True)


def server_holders(settings: Settings, aris: dict[str, Any], *, client: Any, timeline: Any, pool: Any, clock: Any,
                   recordings: Any, on_call: Any = None,
                   on_take: Callable[[str], Coroutine[Any, Any, None]] | None = None,
                   on_first: Callable[[Any], Coroutine[Any, Any, None]] | None = None) -> list[ServerHolder]:
    """A :class:`ServerHolder` per served server; ``client`` is one client (the only or first server's) or a
    mapping of server name to client (tests and the simulator)."""
    from callcenter.telephony.ari import AriService

    holders = []
    for index, (name, server) in enumerate(settings.telephony.served().items()):
        own = client.get(name) if isinstance(client, Mapping) else (client if index == 0 else None)

        def make(name: str = name, server: AsteriskServer = server, own: Any = own) -> Any:
            ari = AriService(server_settings(settings, server), timeline=timeline, pool=pool, client=own,
                             clock=clock, recordings=recordings)
            ari.server = name
            if on_call is not None:
                ari.on_call = on_call(name)
            return ari

        holder = ServerHolder(name, settings, aris, make, on_first if index == 0 else None)
        holder.on_take = on_take
        holders.append(holder)
    return holders


async def wait_settled(holders: list[ServerHolder]) -> None:
    """Until every server is held and connected here, or held elsewhere (this process stands by)."""
    async with asyncio.timeout(ARI_READY_SECONDS):
        await asyncio.gather(*(holder.settled.wait() for holder in holders))


def holder_probe(holder: ServerHolder, tz: Any) -> Callable[[], list[Any]]:
    """The health board's line for one server: its websocket while held here, else who holds it (standby is
    not a fault: the other process takes the calls)."""
    from callcenter.cli.health_probes import ari_probe
    from callcenter.health.checks import GROUP_TELEPHONY
    from callcenter.health.model import Component, Status

    def probe() -> list[Any]:
        if holder.held:
            components: list[Any] = ari_probe(holder.service, lambda: holder.task, tz)()
            return components
        holder_name = holder.held_by or "another process"
        return [Component(f"ARI {holder.name}", Status.GREEN, f"standby: {holder_name} holds this server's "
                          "application; taken over here if it stops", "standby", GROUP_TELEPHONY)]

    return probe


def fastagi_servers(settings: Settings) -> dict[str, Settings]:
    """The served servers that send FastAGI calls, as each listener's settings: a section's with its agi_port set;
    without sections the one server ``main`` always (its ``telephony.agi_port`` 0 = any free port, as before)."""
    implicit = not settings.telephony.asterisk
    return {name: server_settings(settings, server)
            for name, server in settings.telephony.served().items() if server.agi_port or implicit}
