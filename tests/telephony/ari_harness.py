"""A simulated Asterisk 22 on loopback sockets and the ARI application connected to it, for the ARI tests.

Everything runs on one :class:`ScaledClock` (``scale`` real seconds per call second), so a 15-second ring
takes a few hundred milliseconds and no test sleeps to wait for a timing. Every REST response and event the
simulator sends is checked against the Swagger models (``harness.check.errors`` must stay empty).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from callcenter.calls.agents import Agent, AgentState
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline, TimelineEvent
from callcenter.config import Settings
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.protocol import Play
from callcenter.sim.ari import AriSimulator, AriTrafficCheck, LocalLink, fixed_media_length
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from callcenter.telephony.ari import AriClient, AriService, Backoff
from tests.calls.seats_kit import seat_pool

PROMPT_SECONDS = 3.0


@dataclass
class Harness:
    settings: Settings
    clock: ScaledClock
    sim: AriSimulator
    server: AriServer
    service: AriService
    timeline: Timeline
    pool: SeatPool
    check: AriTrafficCheck
    task: asyncio.Task[Any]

    async def call(self, caller: SimCaller, *, limit: float = 200.0):  # type: ignore[no-untyped-def]
        """Place a call and wait (at most ``limit`` call seconds) until it is over; returns the sim channel."""
        chan = self.sim.place_call(caller, app=self.settings.telephony.ari_app)
        try:
            async with asyncio.timeout(self.clock.real(limit) + 2):
                ended = await self.sim.wait_ended(chan.id)
                await self.service.outcome(chan.id)
        except TimeoutError:
            await self.timeline.flush()
            seen = [(round(e.offset, 2), e.type, e.data) for e in self.timeline.events(chan.id)]
            raise AssertionError(f"call not over after {limit} s; the caller heard {chan.heard}; "
                                 f"timeline: {seen}") from None

        await asyncio.sleep(self.clock.real(0.5))  # late events (RecordingFinished) reach the timeline
        # ... however busy the machine: a recording still open in the service finishes within 2 s of real time.
        for _ in range(200):
            if not self.service.recording_open(chan.id):
                break
            await asyncio.sleep(0.01)
        return ended

    async def events(self, call_id: str, skip: Iterable[str] = ("command",)) -> list[TimelineEvent]:
        await self.timeline.flush()
        return [e for e in self.timeline.events(call_id) if e.type not in set(skip)]

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.server.stop()


async def start(
    settings: Settings,
    *,
    agents: Iterable[tuple[str, SimAgent]] = (),
    scale: float = 0.04,
    timeline: Timeline | None = None,
    telephony: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
    before_service: Callable[[AriSimulator], Awaitable[None]] | None = None,
    recordings: Any = None,
) -> Harness:
    if telephony:
        settings = replace(settings, telephony=replace(settings.telephony, **telephony))
    if service:
        settings = replace(settings, service=replace(settings.service, **service))
    clock = ScaledClock(scale)
    root: Path = settings.recordings.root
    sim = AriSimulator(clock=clock, recordings_dir=root, media_length=fixed_media_length(PROMPT_SECONDS),
                       username=settings.telephony.ari_username, password=settings.telephony.ari_password)
    check = AriTrafficCheck(sim.docs)
    sim.add_observer(check)
    server = await AriServer(sim).start()
    seats = []
    for agent_id, sim_agent in agents:
        sim.add_agent(sim_agent)
        seats.append(Agent(agent_id, sim_agent.endpoint, work_number=agent_id[-3:], state=AgentState.READY))
    tl = timeline or Timeline(None)
    pool = seat_pool(settings, *seats, timeline=tl)
    if before_service is not None:
        await before_service(sim)
    settings = replace(settings, telephony=replace(settings.telephony, ari_url=server.ari_url))
    t = settings.telephony
    client = AriClient(t.ari_url, t.ari_username, t.ari_password, t.ari_app,
                       backoff=Backoff(first=0.01, cap=0.05, jitter=0.0), request_timeout=3.0)
    svc = AriService(settings, timeline=tl, pool=pool, client=client, clock=clock, recordings=recordings)
    task = asyncio.create_task(svc.run())
    async with asyncio.timeout(5):
        await svc.ready()
    return Harness(settings, clock, sim, server, svc, tl, pool, check, task)


async def start_local(settings: Settings, sim: AriSimulator,
                      timeline: Timeline | None = None) -> tuple[AriService, asyncio.Task[Any]]:
    """The ARI application on ``sim`` over the in-process link (no sockets), connected; cancel the task to stop."""

    async def link() -> LocalLink:
        return LocalLink(sim, settings.telephony.ari_app)

    client = AriClient("http://unused/ari", "u", "p", settings.telephony.ari_app, link_factory=link, use_http=False)
    timeline = timeline or Timeline(None)
    service = AriService(settings, timeline=timeline, client=client, clock=sim.clock,
                         pool=seat_pool(settings, timeline=timeline))
    task = asyncio.create_task(service.run())
    async with asyncio.timeout(3):
        await service.ready()
    return service, task


async def render_prompts_first(service: AriService) -> None:
    """Prompts are synthesised on first use, in real time; on the simulator's fast clock that would shift every
    key press of these scenarios. Rendered first, each prompt lasts the simulator's fixed 3 s."""
    catalogues = service.library().catalogues
    for holiday in ("", "春节"):
        variables = prompt_variables(service.settings.service, caller={"surname": "王", "honorific": "先生"},
                                     holiday=holiday)
        for key in catalogues.prompts["zh-CN"]:
            if key.startswith("callback."):
                text = catalogues.render(key, "zh-CN", variables)
                await service.voice.media(Play("warm", key, text, "zh-CN"))


def heard(chan: Any, what: str) -> list[tuple[float, str]]:
    """What the simulated caller experienced of one kind: [(call seconds, detail)]. A prompt's media is
    ``sound:<absolute stem>`` whose last part is the prompt key (recorded or rendered): read back as
    ``sound:<key>``."""
    return [(t, _by_key(detail)) for t, kind, detail in chan.heard if kind == what]


def _by_key(media: str) -> str:
    scheme, _, name = media.partition(":")
    return f"{scheme}:{name.rpartition('/')[2]}" if scheme == "sound" and name.startswith("/") else media


def of_type(events: list[TimelineEvent], type_: str) -> list[TimelineEvent]:
    return [e for e in events if e.type == type_]
