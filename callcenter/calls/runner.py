"""Run one script session against one live call: the real-clock driver of the sans-I/O session.

The FastAGI and ARI adapters each turn a call into a :class:`~callcenter.scripting.protocol.Channel` and hand
it to :func:`run_call`. The runner owns the call's clock: it stamps every event from the channel with its
offset since the call reached us, turns :class:`StartTimer` into timers on that clock, passes every other
command (except :class:`Note`) to the channel, and appends every event and command to the call timeline
(callcenter/calls/events.py) at ``started_at + offset``. When the caller hangs up it cancels its timers and its
reader task and closes the channel: nothing of the call outlives it.

Typical use by an adapter::

    session = open_session(library, settings, entry.script, call_id=call_id, locale=entry.locale)
    outcome = await run_call(channel, session, timeline, offered={"entry": name, "caller": number, ...})
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from callcenter.calls import events as ev
from callcenter.calls.rings import cadence
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.scripting.durations import configured_durations
from callcenter.scripting.library import ScriptLibrary
from callcenter.scripting.protocol import (
    CancelTimer,
    Channel,
    Command,
    Digit,
    Event,
    Hangup,
    Hold,
    HungUp,
    Note,
    Play,
    PlaybackFinished,
    Ring,
    ScriptRequested,
    SpeechStarted,
    SpeechStopped,
    StartTimer,
    TimerFired,
    Transfer,
    TransferResult,
    Unhold,
    stamped,
)
from callcenter.scripting.session import ScriptSession, SessionConfig

log = get_logger(__name__)


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """The call's clock: ``time()`` in seconds (monotonic) and ``call_later`` for timers (asyncio's loop fits)."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


class DrivenSession(Protocol):
    """What the driver needs of a session: a :class:`ScriptSession`, or an adapter's wrapper around one."""

    @property
    def finished(self) -> bool: ...

    @property
    def disposition(self) -> str | None: ...

    @property
    def released_by(self) -> str | None: ...

    def start(self, *, answered: bool = False, at: float = 0.0) -> list[Command]: ...

    def handle(self, event: Event) -> list[Command]: ...


@dataclass(frozen=True, slots=True)
class CallOutcome:
    call_id: str
    disposition: str
    by: str
    duration: float


# ---------------------------------------------------------------- building a session from the settings


def session_config(settings: Settings, *, group: str | None = None) -> SessionConfig:
    """The session settings of this centre: answer after ``answer_after_rings`` rings of its cadence (R-01);
    ``group`` (the entry's) or ``telephony.default_group`` takes a caller the script does not hand over."""
    profile = cadence(settings.telephony.ring_cadence)
    return SessionConfig(
        answer_delay=profile.answer_delay(settings.telephony.answer_after_rings),
        rings=settings.telephony.answer_after_rings,
        default_group=group or settings.telephony.default_group,
        durations=configured_durations(settings.service),
        chars_per_second=settings.scripts.speech_chars_per_second,
        agent_label=settings.service.agent_label,
    )


def open_session(
    library: ScriptLibrary,
    settings: Settings,
    script: str,
    *,
    call_id: str,
    locale: str | None = None,
    variables: Mapping[str, Any] | None = None,
    group: str | None = None,
    agents: Callable[[str], Mapping[str, str]] | None = None,
) -> ScriptSession:
    """A session of ``script`` for one call with this centre's settings. ``variables``: see
    :func:`callcenter.scripting.catalogue.prompt_variables` (the adapter knows the caller and the time)."""
    return ScriptSession(
        library,
        script,
        call_id=call_id,
        locale=locale,
        variables=variables,
        config=session_config(settings, group=group),
        agents=agents,
    )


# ---------------------------------------------------------------- the driver


async def run_call(
    channel: Channel,
    session: DrivenSession,
    timeline: Timeline,
    *,
    answered: bool = False,
    offered: Mapping[str, Any] | None = None,
    started_at: datetime | None = None,
    clock: Clock | None = None,
) -> CallOutcome:
    """Drive ``session`` on ``channel`` until the call ends; returns its disposition, who ended it, and its length.

    - ``answered``: False for a new inbound call (the session rings, answers after the configured rings,
      records, then runs its script); True when the channel is already answered.
    - ``offered``: data of the ``call.offered`` timeline event (entry, script, locale, caller, callee,
      channel, transport, group); written first when given.
    - ``started_at``: wall-clock instant the call reached us (default: now, UTC); every timeline event gets
      ``at = started_at + offset``.
    - ``clock``: defaults to the running loop (``loop.time()`` / ``loop.call_later``); tests inject one.
    Never raises for a caller hang-up and never leaves a task or timer behind; ``channel.close()`` is always
    awaited. The timeline is not flushed here (``Timeline.run_flusher`` does that).
    """
    run = _CallRun(channel, session, timeline, clock or asyncio.get_running_loop(), started_at)
    with structlog.contextvars.bound_contextvars(call_id=channel.call_id):
        return await run.run(answered, offered)


class _CallRun:
    def __init__(
        self, channel: Channel, session: DrivenSession, timeline: Timeline, clock: Clock, started_at: datetime | None
    ) -> None:
        self.channel = channel
        self.session = session
        self.timeline = timeline
        self.clock = clock
        self.call_id = channel.call_id
        self.started_at = started_at or datetime.now(UTC)
        self.t0 = clock.time()
        self.inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.timers: dict[str, TimerHandle] = {}
        self.plays: dict[str, Play] = {}
        self.hold_since: float | None = None
        self.transfer_group: str | None = None
        self.ended_by: str | None = None
        self.cause = "normal"

    def offset(self) -> float:
        return self.clock.time() - self.t0

    def record(self, type: str, data: dict[str, Any] | None = None, offset: float | None = None) -> None:
        off = self.offset() if offset is None else offset
        self.timeline.append(self.call_id, type, data, at=self.started_at + timedelta(seconds=off), offset=off)

    async def run(self, answered: bool, offered: Mapping[str, Any] | None) -> CallOutcome:
        if offered is not None:
            # A call offered to us is a new one: no database read for its first sequence number on the loop.
            self.timeline.expect_new(self.call_id)
            self.record(ev.CALL_OFFERED, dict(offered), 0.0)
        reader = asyncio.create_task(self._read(), name=f"call-events-{self.call_id}")
        try:
            await self._perform_all(self.session.start(answered=answered, at=0.0))
            while not self.session.finished:
                event = stamped(await self.inbox.get(), self.offset())
                self._observe(event)
                await self._perform_all(self.session.handle(event))
                if isinstance(event, HungUp):
                    self.ended_by, self.cause = event.by, event.cause
                    break
        finally:
            for handle in self.timers.values():
                handle.cancel()
            self.timers.clear()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._close()
        by = self.ended_by or self.session.released_by or "system"
        disposition = self.session.disposition or "normal"
        duration = self.offset()
        self.record(ev.HANGUP, {"by": by, "cause": self.cause, "disposition": disposition})
        return CallOutcome(self.call_id, disposition, by, round(duration, 3))

    async def _read(self) -> None:
        """Forward the channel's events to the inbox until the caller is gone."""
        try:
            while True:
                event = await self.channel.next_event()
                self.inbox.put_nowait(event)
                if isinstance(event, HungUp):
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken channel is a call that ended
            self.inbox.put_nowait(HungUp(cause="channel_error", by="system"))
            log.warning("channel failed; treating as hang-up", error=str(exc))

    async def _close(self) -> None:
        try:
            await self.channel.close()
        except Exception as exc:
            log.warning("channel close failed", error=str(exc))

    # ------------------------------------------------------------------ commands

    async def _perform_all(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Note):
                self.record(command.type, dict(command.data))
            elif isinstance(command, StartTimer):
                self._start_timer(command)
            elif isinstance(command, CancelTimer):
                handle = self.timers.pop(command.name, None)
                if handle is not None:
                    handle.cancel()
                self.record(ev.COMMAND, {"command": "cancel_timer", "name": command.name, "result": "cancelled"})
            else:
                await self._perform(command)
                if isinstance(command, Hangup):
                    self.ended_by = self.session.released_by or "system"
                    return

    def _start_timer(self, command: StartTimer) -> None:
        # The event carries the instant the timer was due, so a window of 5 s is 5 s on the timeline even
        # when the loop runs the callback a little late.
        due = self.offset() + command.seconds

        def fire(name: str = command.name) -> None:
            self.timers.pop(name, None)
            self.inbox.put_nowait(TimerFired(name, at=due))

        self.timers[command.name] = self.clock.call_later(command.seconds, fire)
        data = {"command": "start_timer", "name": command.name, "seconds": command.seconds, "result": "scheduled"}
        self.record(ev.COMMAND, data)

    async def _perform(self, command: Command) -> None:
        self._record_command(command)
        begun = time.perf_counter()
        try:
            await self.channel.perform(command)
            result = "ok"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the channel reports a dead call as HungUp; keep going until then
            log.warning("command failed", command=type(command).__name__, error=str(exc))
            result = f"error: {exc}"
        ms = round((time.perf_counter() - begun) * 1000, 1)
        self.record(ev.COMMAND, {"command": _command_name(command), "result": result, "ms": ms})

    def _record_command(self, command: Command) -> None:
        if isinstance(command, Ring):
            self.record(ev.IVR_RINGING, {"ring": 1})
        elif isinstance(command, Play):
            self.plays[command.playback_id] = command
            self.record(ev.PROMPT_STARTED, _prompt_data(command))
        elif isinstance(command, Transfer):
            self.transfer_group = command.group
            self.record(ev.QUEUE_ENTERED, {"group": command.group})
        elif isinstance(command, Hold):
            self.hold_since = self.offset()
            self.record(ev.HOLD_STARTED, {})
        elif isinstance(command, Unhold):
            since, self.hold_since = self.hold_since, None
            self.record(ev.HOLD_ENDED, {"seconds": round(self.offset() - since, 3) if since is not None else 0.0})

    # ------------------------------------------------------------------ events

    def _observe(self, event: Event) -> None:
        at = event.at
        if isinstance(event, SpeechStarted):
            self.record(ev.SPEECH_STARTED, {}, at)
        elif isinstance(event, SpeechStopped):
            self.record(ev.SPEECH_STOPPED, {"duration": event.duration}, at)
        elif isinstance(event, Digit):
            self.record(ev.DTMF, {"digit": event.digit}, at)
        elif isinstance(event, PlaybackFinished):
            play = self.plays.pop(event.playback_id, None)
            if play is not None and event.error:
                log.error("prompt not played", call_id=self.call_id, key=play.key, locale=play.locale,
                          error=event.error)
                self.record(ev.PROMPT_FAILED, {**_prompt_data(play), "error": event.error}, at)
            elif play is not None:
                self.record(ev.PROMPT_FINISHED, {**_prompt_data(play), "interrupted": event.interrupted}, at)
        elif isinstance(event, TransferResult):
            reason = {"answered": "agent", "caller_gone": "abandoned"}.get(event.status, "timeout")
            data = {"group": self.transfer_group, "reason": reason, "status": event.status, "agent": event.agent}
            self.record(ev.QUEUE_LEFT, data, at)
        elif isinstance(event, ScriptRequested):
            self.record(ev.SCRIPT_REQUESTED, {"script": event.script, "by": event.by}, at)
        # TimerFired, ReleaseRequested, Answered, HungUp: the session's notes and call.hangup say what they did


def _prompt_data(play: Play) -> dict[str, Any]:
    return {"key": play.key, "text": play.text, "locale": play.locale, "playback_id": play.playback_id}


_COMMAND_NAMES: dict[type, str] = {}


def _command_name(command: Command) -> str:
    kind = type(command)
    name = _COMMAND_NAMES.get(kind)
    if name is None:  # worked out once per command class, not per command
        name = _COMMAND_NAMES[kind] = "".join(f"_{c.lower()}" if c.isupper() else c for c in kind.__name__).lstrip("_")
    return name
