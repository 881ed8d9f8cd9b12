"""The whole service in a background thread for the browser tests: the web app on 127.0.0.1 port 0, the ARI
application, and the ARI simulator as its Asterisk, all on one accelerated clock (no test sleeps for a
timing: a 15-second silence sequence takes about 1.5 s)."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from callcenter.calls.agents import AgentState
from callcenter.calls.timeline import TimelineEvent
from callcenter.cli.serve import Service, start_service
from callcenter.config import load_settings
from callcenter.sim.ari import AriSimulator, fixed_media_length
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from callcenter.telephony.ari import AriClient, Backoff

T = TypeVar("T")
PROMPT_SECONDS = 3.0


class LiveService:
    """Owns a private event loop thread; tests call :meth:`run` to do things on it."""

    def __init__(self, base: Path, accounts_db: Path, scale: float = 0.1) -> None:
        self.scale = scale
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-service", daemon=True)
        self.thread.start()
        db = base / "live.sqlite3"
        shutil.copyfile(accounts_db, db)
        s = load_settings(environ={})
        self.settings = replace(
            s,
            database=replace(s.database, url=f"sqlite:///{db}"),
            recordings=replace(s.recordings, root=base / "recordings"),
            metrics=replace(s.metrics, reports_directory=base / "reports"),
            web=replace(s.web, port=0, secret_key="browser-" + "k" * 40, secret_file=base / "secret"),
        )
        self.service: Service = self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> Service:
        self.clock = ScaledClock(self.scale)
        root = self.settings.recordings.root
        root.mkdir(parents=True, exist_ok=True)
        t = self.settings.telephony
        self.sim = AriSimulator(clock=self.clock, recordings_dir=root, media_length=fixed_media_length(PROMPT_SECONDS),
                                username=t.ari_username, password=t.ari_password)
        self.ari_server = await AriServer(self.sim).start()
        self.settings = replace(self.settings, telephony=replace(t, ari_url=self.ari_server.ari_url))
        t = self.settings.telephony
        client = AriClient(t.ari_url, t.ari_username, t.ari_password, t.ari_app,
                           backoff=Backoff(first=0.01, cap=0.05, jitter=0.0), request_timeout=3.0)

        async def prepare(service: Service) -> None:
            # agent1 (工号 8001) picks up during the 3rd ring: the panel sees rings 1, 2, 3.
            self.sim.add_agent(SimAgent("PJSIP/8001", answer_at_ring=3))
            await service.pool.set_state("agent1", AgentState.READY)

        return await start_service(self.settings, agi=False, ari=True, ari_client=client, clock=self.clock,
                                   reports=False, prepare=prepare)

    @property
    def url(self) -> str:
        return self.service.url

    def place_call(self, caller: SimCaller) -> str:
        async def place() -> str:
            return str(self.sim.place_call(caller, app=self.settings.telephony.ari_app).id)

        return self.run(place())

    def ready(self, agent: str = "agent1") -> None:
        async def set_ready() -> None:
            await self.service.pool.set_state(agent, AgentState.READY)

        self.run(set_ready())

    def events(self, call_id: str) -> list[TimelineEvent]:
        async def read() -> list[TimelineEvent]:
            await self.service.timeline.flush()
            return self.service.timeline.events(call_id)

        return self.run(read())

    def close(self) -> None:
        async def stop() -> None:
            await self.service.stop()
            await self.ari_server.stop()

        try:
            self.run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
