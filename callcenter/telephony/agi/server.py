"""The FastAGI server: Asterisk's ``AGI(agi://127.0.0.1:4573/<entry>)`` lands here, one task per call.

``callcenter serve`` starts it with :func:`serve_fastagi` as one task of its event loop::

    task = asyncio.create_task(serve_fastagi(settings, timeline, pool))   # runs until cancelled

Robustness rules (issue 3, each tested in tests/telephony/test_agi_hostile.py):

- At most ``telephony.agi_max_calls`` calls at once. A connection beyond that is closed at once with one
  ``agi.full`` warning naming the limit; Asterisk then sets ``AGISTATUS=FAILURE`` and the dialplan goes on
  to its next priority (README: a ``Queue()`` there keeps the caller served).
- The ``agi_`` block must be complete within ``ENV_TIMEOUT`` seconds and within the codec's size limits.
- Every command has a timeout (``telephony.agi_command_timeout_seconds``, plus the command's own length).
- A peer that closes mid-command, sends ``HANGUP``, answers 511, 520 or garbage ends that call only; no
  exception escapes a connection task, and every task is awaited or cancelled on :meth:`FastAGIServer.close`.
- When the process runs out of descriptors, accepting pauses for a second with one ``agi.accept_paused`` error
  instead of spinning (:mod:`.reactor`, tested in tests/telephony/test_agi_reactor.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callcenter.calls.rings import cadence
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.logs import bind_call, get_logger
from callcenter.recordings.layout import relative_path
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.library import load_library
from callcenter.telephony.agi.channel import AGIChannel, AGITransport, CallPlace
from callcenter.telephony.agi.codec import AGIProtocolError
from callcenter.telephony.agi.connection import AGIConnection
from callcenter.telephony.agi.deadlines import Deadlines
from callcenter.telephony.agi.entry import build_session, call_id_from, choose_entry
from callcenter.telephony.agi.reactor import listen
from callcenter.voice import PromptVoice

log = get_logger(__name__)

ENV_TIMEOUT = 5.0

CallHandler = Callable[[AGITransport, dict[str, str]], Awaitable[None]]


@dataclass
class CallContext:
    """What every call of one server shares."""

    settings: Settings
    timeline: Timeline
    pool: SeatPool
    clock: Any = None  # callcenter.calls.runner.Clock; None = the running loop
    recordings: RecordingServiceHooks | None = None


def place_for(settings: Settings) -> CallPlace:
    t = settings.telephony
    return CallPlace(
        voice=PromptVoice.of(settings.scripts),
        recordings=settings.recordings.root,
        recording_format=settings.recordings.format,
        cadence=cadence(t.ring_cadence),
        agent_ring_limit=t.agent_ring_limit,
        command_timeout=t.agi_command_timeout_seconds,
    )


class _LoopClock:
    """The running loop's clock, the runner's default."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()

    def time(self) -> float:
        return self._loop.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self._loop.call_later(delay, callback)


class RecordingServiceHooks:
    """:class:`callcenter.recordings.service.RecordingService` behind the channel's :class:`RecordingHooks`.

    ``started`` registers the recording (free-space check, row, the file MixMonitor writes); ``finished``
    hands the hashing and pydub processing to a worker thread so the call's end is not held up by it; the
    server awaits those threads when it closes."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.pending: set[asyncio.Task[Any]] = set()

    def started(self, call_id: str, at: datetime, fmt: str, caller: str) -> tuple[str, Path]:
        info = self.service.register_recording(call_id=call_id, event="started", at=at, format=fmt, caller=caller)
        return info.path, info.file

    def finished(self, call_id: str, at: datetime, disposition: str | None, agent: str | None) -> None:
        work = asyncio.to_thread(
            self.service.register_recording, call_id=call_id, event="finished", at=at, disposition=disposition,
            agent=agent,
        )
        task = asyncio.get_running_loop().create_task(self._logged(call_id, work))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    @staticmethod
    async def _logged(call_id: str, work: Awaitable[Any]) -> None:
        try:
            await work
        except Exception:
            log.exception("agi.recording_finish_failed", call_id=call_id)

    async def drain(self) -> None:
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)


def _agent_record(pool: SeatPool) -> Callable[[str], dict[str, str]]:
    """The greeting's agent variables (R-12: 工号 by default) for the agent who answered."""

    def record(agent_id: str) -> dict[str, str]:
        agent = pool.agents.get(agent_id)
        if agent is None:
            return {"work_number": agent_id}
        return {"work_number": agent.work_number, "name": agent.name}

    return record


async def run_script_call(context: CallContext, transport: AGITransport, env: dict[str, str]) -> None:
    """One call from its environment to its end: entry → session → :func:`callcenter.calls.runner.run_call`."""
    from callcenter.calls.runner import run_call, session_config

    settings = context.settings
    clock = context.clock or _LoopClock()
    call_id = call_id_from(env)
    bind_call(call_id)
    started_at = datetime.now(UTC)
    choice = choose_entry(settings, env)
    entry = choice.entry
    config = session_config(settings, group=entry.group)
    library = load_library(settings.scripts.directory, settings.scripts)
    local_now = started_at.astimezone(settings.service.tz)
    variables = prompt_variables(settings.service, hotline=entry.hotline or None, now=local_now)
    session = build_session(
        library, choice, call_id=call_id, config=config, variables=variables, agents=_agent_record(context.pool)
    )
    fmt = settings.recordings.format
    channel = AGIChannel(
        transport,
        call_id=call_id,
        place=place_for(settings),
        pool=context.pool,
        timeline=context.timeline,
        clock=clock,
        started_at=started_at,
        locale=entry.locale,
        recording_path=str(relative_path(call_id, started_at, fmt, settings.service.tz)),
        recordings=context.recordings,
        caller=env.get("agi_callerid", ""),
    )
    offered = {
        "entry": choice.name,
        "script": entry.script if choice.known else None,
        "locale": entry.locale,
        "caller": env.get("agi_callerid", ""),
        "callee": env.get("agi_dnid") or env.get("agi_extension", ""),
        "channel": env.get("agi_channel", ""),
        "transport": "agi",
        "group": entry.group,
    }
    outcome = None
    try:
        outcome = await run_call(channel, session, context.timeline, offered=offered, started_at=started_at,
                                 clock=clock)
    finally:
        channel.register_recording_end(outcome.disposition if outcome is not None else None)
        context.timeline.forget(channel.call_id)


class FastAGIServer:
    """Accepts FastAGI connections and runs each as a call task; bounded, timed, and clean on close."""

    def __init__(
        self,
        settings: Settings,
        handler: CallHandler,
        *,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.host = settings.telephony.agi_host if host is None else host
        self.port = settings.telephony.agi_port if port is None else port
        self.max_calls = settings.telephony.agi_max_calls
        self.command_timeout = settings.telephony.agi_command_timeout_seconds
        self.active = 0
        self.refused = 0
        self.served = 0
        self._tasks: dict[AGIConnection, asyncio.Task[Any]] = {}
        self._open: set[AGIConnection] = set()
        self._server: Any = None  # reactor.EpollServer, or asyncio's Server where there is no epoll
        self._deadlines: Deadlines | None = None

    async def start(self) -> tuple[str, int]:
        # Asterisk opens one connection per call: a burst of calls must not overflow the accept queue.
        backlog = min(4096, max(100, self.max_calls))
        self._deadlines = Deadlines(asyncio.get_running_loop())
        self._server = await listen(self._connection, self.host, self.port, backlog=backlog)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.port = port
        log.info("agi.listening", host=host, port=port, max_calls=self.max_calls)
        return host, port

    def _connection(self) -> AGIConnection:
        return AGIConnection(
            command_timeout=self.command_timeout,
            env_timeout=ENV_TIMEOUT,
            on_open=self._admit,
            on_environment=self._begin,
            on_lost=self._lost,
            deadlines=self._deadlines,
        )

    def _admit(self, connection: AGIConnection) -> bool:
        """A new socket: a call slot, or a clear refusal when all ``agi_max_calls`` slots are taken."""
        if self.active >= self.max_calls:
            self.refused += 1
            log.warning(
                "agi.full",
                message=f"refusing a FastAGI connection: {self.active} calls in progress, "
                f"telephony.agi_max_calls = {self.max_calls}",
                refused_total=self.refused,
            )
            return False
        self.active += 1
        self._open.add(connection)
        return True

    def _lost(self, connection: AGIConnection) -> None:
        if connection in self._open and not connection.env:
            # Closed before its environment was complete: no call task exists to release the slot.
            self._release(connection)
            if connection.error is not None:
                log.warning("agi.bad_environment", error=str(connection.error))

    def _release(self, connection: AGIConnection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            self.active -= 1

    def _begin(self, connection: AGIConnection) -> None:
        # The task removes itself in _serve's finally (a done callback would cost one more loop turn per call).
        self._tasks[connection] = asyncio.get_running_loop().create_task(self._serve(connection))

    async def _serve(self, connection: AGIConnection) -> None:
        env = connection.env
        try:
            await self.handler(connection, env)
        except asyncio.CancelledError:
            pass  # the server is closing
        except AGIProtocolError as exc:
            log.warning("agi.call_ended_by_protocol_error", error=str(exc))
        except Exception:
            log.exception("agi.call_failed", channel=env.get("agi_channel", ""))
        finally:
            self.served += 1
            self._tasks.pop(connection, None)
            self._release(connection)
            await connection.close()

    async def close(self) -> None:
        """Stop accepting, cancel the calls in progress and wait for every task to finish."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for connection in list(self._open):
            self._release(connection)
            await connection.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None


async def serve_fastagi(
    settings: Settings,
    timeline: Timeline,
    pool: SeatPool,
    *,
    clock: Any = None,
    recordings: Any = None,
    handler: CallHandler | None = None,
    started: asyncio.Future[tuple[str, int]] | None = None,
    on_listening: Callable[[FastAGIServer], object] | None = None,
) -> None:
    """Run the FastAGI server until cancelled (``callcenter serve`` runs it as a task).

    - ``recordings``: a :class:`callcenter.recordings.service.RecordingService`; each call's recording is then
      registered when MixMonitor starts and processed when the call ends. Without it the file is still
      recorded (``<root>/YYYY/MM/DD/<call_id>.wav``) and on the timeline, just not registered.
    - ``clock``: the calls' clock (default: the loop; tests pass a :class:`callcenter.sim.clock.ScaledClock`).
    - ``started`` (optional) receives the bound ``(host, port)``; ``handler`` replaces the script runner (the
      benchmark's minimal script uses it). The timeline is flushed by the caller's ``timeline.run_flusher()``.
    - ``on_listening(server)``: the listening server, whose ``port`` and ``active`` calls the health board reads.
    """
    hooks = RecordingServiceHooks(recordings) if recordings is not None else None
    context = CallContext(settings, timeline, pool, clock, hooks)

    async def run(transport: AGITransport, env: dict[str, str]) -> None:
        await run_script_call(context, transport, env)

    server = FastAGIServer(settings, handler or run)
    address = await server.start()
    if started is not None and not started.done():
        started.set_result(address)
    if on_listening is not None:
        on_listening(server)
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()
        if hooks is not None:
            await hooks.drain()
