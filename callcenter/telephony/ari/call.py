"""One live ARI call as a :class:`~callcenter.scripting.protocol.Channel` (what :func:`run_call` drives).

How each command is carried out on Asterisk 22 (docs.asterisk.org, Channels / Bridges / Playbacks REST API):

- Ring → ``POST channels/{id}/ring``; the answer itself is the session's timer (R-01). The channel counts the
  rings the caller hears after the first (the runner writes ring 1) as ``ivr.ringing``.
- Answer → ``POST channels/{id}/answer``, then ``POST channels/{id}/variable?variable=TALK_DETECT(set)`` with
  ``telephony.talk_detect``: talk events (ChannelTalkingStarted/Finished) become SpeechStarted/Stopped. A
  silent caller sends no media and so no talk events: the session's own timer ends every window (R-15).
- Play → ``POST {channels|bridges}/{id}/play/{playbackId}?media=sound:<audio>&lang=<locale>`` on the call's
  bridge once the caller is in it (so the bridge recording holds the prompts), else on the channel; the
  outcome is PlaybackFinished. ARI playbacks have no escape digits: a digit in ``escape_digits`` stops the
  playback (``DELETE playbacks/{id}``) and the PlaybackFinished says ``interrupted``.
- StartRecording → a mixing bridge ``cc-<call_id>`` holding the caller, recorded with
  ``POST bridges/{id}/record?name=YYYY/MM/DD/<call_id>&format=wav``: both directions, IVR prompts, the agent
  conversation and music on hold, from answer to hang-up, in the recordings root. Asterisk writes
  ``<astspooldir>/recording/<name>.<format>`` and creates the folders of a name with slashes itself
  (res_stasis_recording.c, ``ast_safe_mkdir``), so that folder must be the recordings root (README "ARI").
- Transfer → :mod:`callcenter.telephony.ari.routing` (three rings per agent, then the neighbour seat, R-02).
- Hold / Unhold → ``POST`` / ``DELETE channels/{id}/moh`` (music on hold to the caller; the session says the
  hold and resume phrases, R-38, R-39).
- Hangup → ``DELETE channels/{id}``.

The timeline events only the transport knows are written here (``ivr.ringing`` after the first ring,
``agent.*``, ``call.bridged``, ``recording.*``); the runner writes the script-level ones.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentState
from callcenter.calls.rings import RingCadence
from callcenter.calls.runner import Clock
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline
from callcenter.config import EntrySettings, Settings
from callcenter.logs import get_logger
from callcenter.recordings import layout
from callcenter.scripting.protocol import (
    Answer,
    Answered,
    Command,
    Digit,
    Event,
    Hangup,
    Hold,
    HungUp,
    Play,
    PlaybackFinished,
    Ring,
    ScriptRequested,
    SpeechStarted,
    SpeechStopped,
    StartRecording,
    StopPlayback,
    Transfer,
    Unhold,
)
from callcenter.telephony.ari.client import AriClient, Json, path_id
from callcenter.telephony.ari.errors import AriConnectionLost, AriError, AriRequestError
from callcenter.voice import PromptAudioError, PromptVoice


class CallHost(Protocol):
    """What a call needs of the application that holds it (AriService): its collaborators and the indexes
    that route Asterisk's events back to the call. A call never reaches into the service beyond this."""

    app: str
    settings: Settings
    client: AriClient
    clock: Clock
    timeline: Timeline
    pool: SeatPool
    cadence: RingCadence
    voice: PromptVoice

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    def forget(self, call: AriCall) -> None: ...

    def index_playback(self, playback_id: str, call: AriCall) -> None: ...

    def unindex_playback(self, playback_id: str) -> None: ...

    def index_recording(self, name: str, call: AriCall) -> None: ...

    def index_leg(self, leg_id: str, call: AriCall) -> None: ...

    def unindex_leg(self, leg_id: str) -> None: ...

    async def register_recording(self, call: AriCall, event: str, fmt: str) -> None: ...

    async def transfer(self, call: AriCall, command: Transfer) -> None:
        """Ring the group's agents for this call (callcenter.telephony.ari.routing)."""

log = get_logger(__name__)

# Q.850 causes as the call timeline names them (call.hangup "cause").
_CAUSES = {16: "normal", 17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected", 31: "normal", 34: "congestion"}
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


def safe_id(text: str) -> str:
    """An identifier usable as a channel, bridge or playback id (a single URI segment, a file name)."""
    return _SAFE_ID.sub("_", text)


async def clean_up(client: AriClient, method: str, uri: str, what: str) -> None:
    """A request that removes what may be gone already (a hung-up channel, a destroyed bridge): not an error."""
    try:
        await client.request(method, uri)
    except AriError as exc:
        log.debug(f"ari {what} clean-up found nothing", uri=uri, error=str(exc))


async def hang_up_quietly(client: AriClient, channel_id: str, what: str) -> None:
    await clean_up(client, "DELETE", f"channels/{path_id(channel_id)}", what)


@dataclass
class _Playback:
    session_id: str
    escape_digits: str
    stop_requested: bool = False
    uncertain: bool = False  # the request was in flight when the websocket dropped


@dataclass
class CallStats:
    """What R-01/R-02 compliance needs per call (also in the timeline: ivr.answered, agent.*)."""

    ivr_rings: int | None = None
    ivr_seconds: float | None = None
    agent_rings: int | None = None
    agent_seconds: float | None = None
    agent: str | None = None
    skipped: list[str] = field(default_factory=list)


class AriCall:
    """The caller's channel, its bridge, its agent legs and its recording, driven by the runner."""

    def __init__(self, service: CallHost, channel: Json, entry_name: str, entry: EntrySettings) -> None:
        self.service = service
        self.client = service.client
        self.clock = service.clock
        self.call_id: str = channel["id"]
        self.channel_id: str = channel["id"]
        self.caller: str = str(channel.get("caller", {}).get("number", ""))
        self.callee: str = str(channel.get("dialplan", {}).get("exten", ""))
        self.entry_name, self.entry = entry_name, entry
        self.locale = entry.locale
        self.t0 = self.clock.time()
        self.started_at = datetime.now(UTC)
        self.stats = CallStats()
        self.bridge_id: str | None = None
        self.caller_in_bridge = False
        self.recording: str | None = None  # ARI recording name (relative path without extension)
        self.playbacks: dict[str, _Playback] = {}
        self.legs: dict[str, Any] = {}  # agent leg channel id → routing._Leg
        self.agent: Agent | None = None
        self.agent_leg: str | None = None
        self.answered = channel.get("state") == "Up"
        self.gone = False
        self.hanging_up = False  # ChannelHangupRequest seen: the caller is leaving
        self.hangup_requested = False
        self.agent_released = False
        self.queued_at: float | None = None
        self.direction = "inbound"  # "outbound": a callback the centre dialled (outbound.py)
        self.standby: tuple[str, Any] | None = None  # a preview callback's agent leg, answered and waiting
        self.on_hold = False  # the agent put the caller on hold from the panel (controls.py)
        self.muted = False  # the agent's microphone is muted (controls.py)
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ring_timer: Any = None
        self._ring_started: float | None = None

    # ------------------------------------------------------------------ Channel protocol

    def offset(self) -> float:
        return self.clock.time() - self.t0

    def note(self, type: str, data: dict[str, Any], offset: float | None = None) -> None:
        off = self.offset() if offset is None else offset
        self.service.timeline.append(self.call_id, type, data, at=self.started_at + timedelta(seconds=off), offset=off)

    def push(self, event: Event) -> None:
        self._events.put_nowait(event)

    async def next_event(self) -> Event:
        return await self._events.get()

    async def perform(self, command: Command) -> None:
        if self.gone:
            return
        handler = _HANDLERS.get(type(command))
        if handler is not None:
            await handler(self, command)
        # Listen, StartTimer, CancelTimer, Note: TALK_DETECT is already on; timers and notes are the runner's.

    async def close(self) -> None:
        """After the caller's hang-up: stop the agent legs, destroy the bridge (ends the recording)."""
        self.gone = True
        self._stop_ring_count()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for leg_id in list(self.legs):
            await self.quietly("DELETE", f"channels/{path_id(leg_id)}")
        if self.agent is not None:
            await self.service.pool.release(self.agent.id, AgentState.AFTER_CALL, call_id=self.call_id)
        # A seat whose ring the hang-up cut short: its own release was cancelled with the transfer above, and this
        # process would renew its lease for good (R-124 abandoned while ringing; found by tests/scale).
        for agent_id in self.service.pool.held_for(self.call_id):
            await self.service.pool.release(agent_id, AgentState.READY, call_id=self.call_id)
        if self.bridge_id is not None:
            await self.quietly("DELETE", f"bridges/{path_id(self.bridge_id)}")
        self.service.forget(self)

    async def quietly(self, method: str, uri: str, query: dict[str, Any] | None = None) -> Any:
        """A clean-up request whose failure changes nothing (the thing is already gone)."""
        try:
            return await self.client.request(method, uri, query)
        except AriError as exc:
            log.debug("ari cleanup request failed", uri=uri, error=str(exc))
            return None

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ commands

    async def _ring(self, _command: Ring) -> None:
        await self.client.request("POST", f"channels/{path_id(self.channel_id)}/ring")
        self._ring_started = self.offset()
        self._count_rings(2)

    def _count_rings(self, ring: int) -> None:
        """``ivr.ringing`` at the start of ring 2, 3, … while the caller still waits (ring 1: the runner)."""
        cad = self.service.cadence
        assert self._ring_started is not None
        due = self._ring_started + cad.ring_starts(ring)

        def rang() -> None:
            if not self.answered and not self.gone:
                self.note(ev.IVR_RINGING, {"ring": ring}, offset=due)
                self._count_rings(ring + 1)

        self._ring_timer = self.clock.call_later(max(0.0, due - self.offset()), rang)

    def _stop_ring_count(self) -> None:
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None

    async def _answer(self, _command: Answer) -> None:
        # TALK_DETECT goes out with the answer, not after its response: one round trip per call, not two.
        channel = f"channels/{path_id(self.channel_id)}"
        talk_detect = {"variable": "TALK_DETECT(set)", "value": self.service.settings.telephony.talk_detect}
        await asyncio.gather(self.client.request("POST", f"{channel}/answer"),
                             self.client.request("POST", f"{channel}/variable", talk_detect))
        self.answered = True
        self._stop_ring_count()
        seconds = self.offset()
        ringing = seconds - self._ring_started if self._ring_started is not None else 0.0
        self.stats.ivr_seconds = round(seconds, 3)
        self.stats.ivr_rings = self.service.cadence.rings_at(ringing)
        self.push(Answered())

    async def _play(self, command: Play) -> None:
        ari_id = safe_id(f"{self.call_id}-{command.playback_id}")
        target = (f"bridges/{path_id(self.bridge_id)}" if self.bridge_id and self.caller_in_bridge
                  else f"channels/{path_id(self.channel_id)}")
        try:
            media = await self.service.voice.media(command)
        except PromptAudioError as exc:
            self.push(PlaybackFinished(command.playback_id, error=str(exc)))
            return
        state = _Playback(command.playback_id, command.escape_digits)
        self.playbacks[ari_id] = state
        self.service.index_playback(ari_id, self)
        # An absolute path: Asterisk opens the project's file itself (no link into its sounds folder).
        query = {"media": f"sound:{media}"}
        try:
            await self.client.request("POST", f"{target}/play/{path_id(ari_id)}", query)
        except AriConnectionLost:
            state.uncertain = True  # reconciled on reconnect: never sent twice (no duplicated prompt)
        except AriRequestError as exc:
            self.playbacks.pop(ari_id, None)
            self.push(PlaybackFinished(command.playback_id, error=f"POST play: {exc}"))

    async def _stop_playback(self, command: StopPlayback) -> None:
        for ari_id, state in list(self.playbacks.items()):
            if state.session_id == command.playback_id:
                await self._stop(ari_id, state)

    async def _stop(self, ari_id: str, state: _Playback) -> None:
        state.stop_requested = True
        try:
            await self.client.request("DELETE", f"playbacks/{path_id(ari_id)}")
        except AriRequestError as exc:
            if exc.status != 404:  # 404: it had just finished; its PlaybackFinished is on the way
                raise

    async def start_recording(self, _command: StartRecording | None = None) -> None:
        if self.recording is not None:
            return
        await self.ensure_bridge()
        assert self.bridge_id is not None
        rel = layout.relative_path(self.call_id, self.started_at, self.service.settings.recordings.format,
                                   self.service.settings.service.tz)
        fmt = rel.suffix.lstrip(".")
        await self.service.register_recording(self, "started", fmt)
        name = str(rel.with_suffix(""))
        self.recording = name
        self.service.index_recording(name, self)
        try:
            await self.client.request("POST", f"bridges/{path_id(self.bridge_id)}/record",
                                      {"name": name, "format": fmt, "ifExists": "append"})
        except AriRequestError as exc:
            if exc.status != 409:
                raise
            # "A recording with the same name is in progress": a call adopted after a restart of the service is
            # still recorded by its bridge; that recording goes on and its end is this call's.
            log.info("ari recording of an adopted call goes on", call_id=self.call_id, recording=name)
            return
        self.note(ev.RECORDING_STARTED, {"path": str(rel), "format": fmt})

    async def ensure_bridge(self) -> str:
        """The call's mixing bridge with the caller in it (created once)."""
        if self.bridge_id is None:
            bridge_id = f"cc-{safe_id(self.call_id)}"
            try:
                await self.client.request("POST", "bridges", {"type": "mixing", "bridgeId": bridge_id,
                                                              "name": f"call {self.call_id}"})
            except AriRequestError as exc:
                if exc.status != 409:  # 409: it survived a reconnect and is ours already
                    raise
            self.bridge_id = bridge_id
        if not self.caller_in_bridge:
            await self.client.request("POST", f"bridges/{path_id(self.bridge_id)}/addChannel",
                                      {"channel": self.channel_id})
            self.caller_in_bridge = True
        return self.bridge_id

    async def _transfer(self, command: Transfer) -> None:
        if self.queued_at is None:
            self.queued_at = self.offset()
        self.spawn(self.service.transfer(self, command))

    async def _hold(self, command: Hold) -> None:
        self.on_hold = True
        await self.client.request("POST", f"channels/{path_id(self.channel_id)}/moh",
                                  {"mohClass": command.music_class})

    async def _unhold(self, _command: Unhold) -> None:
        self.on_hold = False
        await self.client.request("DELETE", f"channels/{path_id(self.channel_id)}/moh")

    async def hang_up(self, _command: Hangup | None = None) -> None:
        self.hangup_requested = True
        try:
            await self.client.request("DELETE", f"channels/{path_id(self.channel_id)}", {"reason": "normal"})
        except AriRequestError as exc:
            if exc.status == 404:
                self.caller_gone("normal")

    # ------------------------------------------------------------------ events from Asterisk

    def on_channel_event(self, message: Json) -> None:
        kind = message["type"]
        if kind == "ChannelTalkingStarted":
            self.push(SpeechStarted())
        elif kind == "ChannelTalkingFinished":
            self.push(SpeechStopped(duration=int(message.get("duration", 0)) / 1000))
        elif kind == "ChannelDtmfReceived":
            digit = str(message.get("digit", ""))
            self._escape(digit)
            self.push(Digit(digit))
        elif kind == "ChannelHangupRequest":
            self.hanging_up = True
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            self.caller_gone(_CAUSES.get(int(message.get("cause", 16)), "normal"))

    def _escape(self, digit: str) -> None:
        for ari_id, state in list(self.playbacks.items()):
            if digit and digit in state.escape_digits and not state.stop_requested:
                self.spawn(self._stop(ari_id, state))

    def on_playback_finished(self, ari_id: str, error: str = "") -> None:
        state = self.playbacks.pop(ari_id, None)
        self.service.unindex_playback(ari_id)
        # Asterisk also ends a prompt "failed" when the caller hangs up in the middle of it: that prompt was
        # heard up to the hang-up, not refused.
        cut_by_hangup = bool(error) and (self.hanging_up or self.gone)
        if cut_by_hangup:
            error = ""
        if state is not None:
            self.push(PlaybackFinished(state.session_id, interrupted=state.stop_requested or cut_by_hangup,
                                       error=error))

    def caller_gone(self, cause: str) -> None:
        """The caller's channel ended (or was found gone on reconcile): one HungUp, the legs released."""
        if self.gone:
            return
        self.gone = True
        self._stop_ring_count()
        by = "agent" if self.agent_released else ("system" if self.hangup_requested else "caller")
        for leg in self.legs.values():
            leg.resolve("caller_gone")
        self.push(HungUp(cause=cause, by=by))

    def request_script(self, script: str, by: str = "agent") -> None:
        """The panel's one-click situation script (silent call, dialect D1/D2, hold, …) on this live call."""
        self.push(ScriptRequested(script, by=by))

    def recording_finished(self, recording: Json) -> None:
        rel = f"{recording.get('name')}.{recording.get('format')}"
        path: Path = self.service.settings.recordings.root / rel
        size = path.stat().st_size if path.is_file() else None
        self.note(ev.RECORDING_FINISHED, {"path": rel, "format": recording.get("format"), "bytes": size})
        self.service.spawn(self.service.register_recording(self, "finished", str(recording.get("format"))))


_Handler = Callable[[AriCall, Any], Any]
_HANDLERS: dict[type, _Handler] = {
    Ring: AriCall._ring,
    Answer: AriCall._answer,
    Play: AriCall._play,
    StopPlayback: AriCall._stop_playback,
    StartRecording: AriCall.start_recording,
    Transfer: AriCall._transfer,
    Hold: AriCall._hold,
    Unhold: AriCall._unhold,
    Hangup: AriCall.hang_up,
}

