"""``callcenter serve --role``: what each role runs, its /healthz and /readyz, and several Asterisk servers held
by one process at a time (issue 17)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from callcenter.calls import events as ev
from callcenter.cli.serve import ServeError, Service, start_service
from callcenter.config import AsteriskServer, Settings
from callcenter.sim.ari import AriSimulator, fixed_media_length
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from callcenter.telephony.ari import AriClient, Backoff

HEALTH = ("127.0.0.1", 0)


def _quick(settings: Settings) -> Settings:
    return replace(settings, web=replace(settings.web, port=0),
                   database=replace(settings.database, job_lock_poll_seconds=0.1))


async def test_the_jobs_role_runs_the_jobs_and_answers_only_health_on_loopback(settings: Settings) -> None:
    service = await start_service(_quick(settings), role="jobs", health_address=HEALTH)
    try:
        assert service.url.startswith("http://127.0.0.1:")
        names = {t.get_name() for t in service.others}
        assert {"overdue-orders", "recordings-sweeper", "health-self-check", "reports"} <= names
        assert service.telephony == [] and service.web.control is None
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{service.url}/healthz")).text == "ok"
            ready = await client.get(f"{service.url}/readyz")
            assert (ready.status_code, ready.text) == (200, "ready")
            assert (await client.get(f"{service.url}/login")).status_code == 404
    finally:
        await service.stop()


async def test_the_web_role_serves_pages_and_runs_no_job_and_no_call(settings: Settings) -> None:
    service = await start_service(_quick(settings), role="web", ari=True)
    try:
        assert service.telephony == [] and service.aris == {}
        assert not {"overdue-orders", "reports", "missed-calls"} & {t.get_name() for t in service.others}
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{service.url}/login")).status_code == 200
            assert (await client.get(f"{service.url}/readyz")).status_code == 200
    finally:
        await service.stop()


async def test_an_unknown_role_and_a_taken_health_port_are_one_line_each(settings: Settings) -> None:
    with pytest.raises(ServeError, match=r"^--role: expected one of all, telephony, web, jobs, got 'pbx'$"):
        await start_service(_quick(settings), role="pbx")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=rf"^web\.health_port: cannot listen on 127\.0\.0\.1:{port}: "):
            await start_service(_quick(settings), role="jobs", health_address=("127.0.0.1", port))


class TwoServers:
    """Two simulated Asterisk servers ``a`` and ``b`` on loopback, on one scaled clock."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = ScaledClock(0.02)
        self.sims: dict[str, AriSimulator] = {}
        self.servers: dict[str, AriServer] = {}

    async def start(self) -> Settings:
        sections = {}
        for name in ("a", "b"):
            # Like asterisk.conf's systemname: the two servers' channel ids (the call ids) never collide.
            sim = AriSimulator(clock=self.clock, recordings_dir=self.settings.recordings.root,
                               media_length=fixed_media_length(3.0), system_name=f"pbx-{name}")
            self.sims[name] = sim
            self.servers[name] = server = await AriServer(sim).start()
            sections[name] = AsteriskServer(ari_url=server.ari_url, ari_app=f"centre-{name}")
        return replace(self.settings, telephony=replace(self.settings.telephony, asterisk=sections))

    def clients(self, settings: Settings) -> dict[str, Any]:
        return {name: AriClient(s.ari_url, s.ari_username, s.ari_password, s.ari_app,
                                backoff=Backoff(first=0.01, cap=0.05, jitter=0.0), request_timeout=3.0)
                for name, s in settings.telephony.servers().items()}

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop()


@pytest.fixture
async def two_servers(settings: Settings) -> AsyncIterator[tuple[TwoServers, Settings]]:
    settings.recordings.root.mkdir(parents=True, exist_ok=True)
    pbx = TwoServers(_quick(settings))
    configured = await pbx.start()
    yield pbx, configured
    await pbx.stop()


async def _start(pbx: TwoServers, settings: Settings, process: str = "tel:1") -> Service:
    return await start_service(settings, role="telephony", agi=False, ari=True, ari_client=pbx.clients(settings),
                               clock=pbx.clock, health_address=HEALTH, reports=False, process=process)


async def _offered(service: Service, call_id: str) -> dict[str, Any]:
    for _ in range(300):
        await service.timeline.flush()
        found = [e for e in service.timeline.events(call_id) if e.type == ev.CALL_OFFERED]
        if found:
            return dict(found[0].data)
        await asyncio.sleep(0.01)
    raise AssertionError(f"call {call_id} was never offered")


async def test_one_process_holds_each_server_and_a_standby_takes_both_over(
    two_servers: tuple[TwoServers, Settings],
) -> None:
    pbx, settings = two_servers
    first = await _start(pbx, settings)
    second = await _start(pbx, settings, "tel:2")
    try:
        assert sorted(first.aris) == ["a", "b"] and second.aris == {}
        async with httpx.AsyncClient() as client:
            # A standby is ready: it takes the calls over when the holder stops.
            assert (await client.get(f"{second.url}/readyz")).status_code == 200
        report = await second.health.board.check()
        assert next(c.reason for c in report.components if c.name == "ARI a").startswith("standby: ")
        assert next(c.status.value for c in report.components if c.name == "命令通道 commands") == "green"
        for name in ("a", "b"):
            chan = pbx.sims[name].place_call(SimCaller(hangup_at=1.0), app=f"centre-{name}")
            data = await _offered(first, str(chan.id))
            assert data["server"] == name  # the call carries its server (call.offered)
        await first.stop()
        async with asyncio.timeout(5):  # 0.1 s lock poll, then connect: the standby holds both
            await asyncio.gather(*(holder.connected.wait() for holder in second.holders))
        assert sorted(second.aris) == ["a", "b"]
        chan = pbx.sims["b"].place_call(SimCaller(hangup_at=1.0), app="centre-b")
        assert (await _offered(second, str(chan.id)))["server"] == "b"
    finally:
        await first.stop()
        await second.stop()


async def test_postgres_a_web_process_acts_on_a_call_the_telephony_process_holds(
    two_servers: tuple[TwoServers, Settings], pg_url: str,
) -> None:
    from callcenter.calls.commands import owner_of
    from callcenter.scripting.protocol import ReleaseRequested, ScriptRequested

    pbx, settings = two_servers
    settings = replace(settings, database=replace(settings.database, url=pg_url))
    telephony = await _start(pbx, settings)
    web = await start_service(settings, role="web", reports=False, process="web:3")
    try:
        assert web.web.control is not None and web.web.monitoring is not None
        chan = pbx.sims["b"].place_call(SimCaller(hangup_at=30.0), app="centre-b")
        call_id = str(chan.id)
        await _offered(telephony, call_id)
        await telephony.commands.written()
        owner = await asyncio.to_thread(owner_of, pg_url, call_id)
        assert owner is not None and (owner.process, owner.server) == (telephony.commands.process, "b")
        dialer = await asyncio.to_thread(owner_of, pg_url, "dialer")  # agents' calls are placed by tel:1
        assert dialer is not None and dialer.process == "tel:1" and web.web.dialing is not None
        # The web process holds no call: the button goes through call_commands to the telephony process.
        assert await web.web.control.send(call_id, ScriptRequested("silent_call", by="8001"))
        assert web.commands.routed == 1 and telephony.commands.executed == 1
        refused = await web.web.control.control(call_id, "no-such-action", {}, "8001")
        assert refused.status in (400, 404, 409) and refused.error
        async with asyncio.timeout(10):
            await telephony.aris["b"].outcome(call_id)
            await telephony.commands.written()
        assert await asyncio.to_thread(owner_of, pg_url, call_id) is None
        assert not await web.web.control.send(call_id, ReleaseRequested(by="8001"))  # ended: not live
    finally:
        await web.stop()
        await telephony.stop()


async def test_a_process_that_loses_a_server_lock_stands_by_again_instead_of_stopping(
    two_servers: tuple[TwoServers, Settings],
) -> None:
    # Seen under load by the scale test: every job lock of a live process lost at once (a slow check); the
    # callback dialer, which runs while the first server is held, ended with that hold and stopped serve.
    pbx, settings = two_servers
    service = await start_service(settings, role="telephony", agi=False, ari=True, ari_client=pbx.clients(settings),
                                  clock=pbx.clock, health_address=HEALTH, reports=False, process="tel:1")
    try:
        first = service.holders[0]
        assert first.held and first.name == "a"
        lock_file = settings.database.url.removeprefix("sqlite:///") + f".job-asterisk-{first.name}.lock"
        held_before = first.service
        os.replace(lock_file, lock_file + ".gone")  # the flock now names another file: the lock is lost
        for _ in range(250):  # lost within a 0.1 s poll, then taken again by the same process
            if first.service is not held_before and first.held:
                break
            await asyncio.sleep(0.02)
        async with asyncio.timeout(5):
            await first.connected.wait()
        assert first.service is not held_before and first.held
        assert [t.get_name() for t in service.telephony if t.done()] == []  # nothing serve watches has ended
        chan = pbx.sims["a"].place_call(SimCaller(hangup_at=1.0), app="centre-a")
        assert (await _offered(service, str(chan.id)))["server"] == "a"
    finally:
        await service.stop()
