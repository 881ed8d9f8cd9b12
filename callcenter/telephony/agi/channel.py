"""One live AGI call as a :class:`~callcenter.scripting.protocol.Channel`: script commands become AGI commands.

AGI is one command at a time and most commands block for as long as they last (a prompt plays for its
length, ``Dial`` for the ringing and then the whole bridged conversation), so :meth:`AGIChannel.perform`
only queues a command and a worker task carries the queue out in order; outcomes come back as events.

How each command is carried out (docs.asterisk.org, AGI commands and dialplan applications):

- Ring → ``EXEC Ringing``; the answer itself is the session's timer (R-01). Answer → ``ANSWER``.
- Play → ``STREAM FILE <scripts/sounds/<locale>/<audio>> "<escape digits>"``: ``result`` is 0 or the ASCII
  code of the digit that interrupted it. ``-1`` means "error or hang-up", so ``CHANNEL STATUS`` tells the two
  apart (511 = gone). A prompt without audio waits its estimated length (``EXEC Wait``) so timing stays true.
- Listen → ``EXEC BackgroundDetect silence/<n>,<sil>,<min>``: plays Asterisk's own silence file of n ≤ 10 s
  while watching the caller: a digit ends it with the digit's ASCII code (only a digit that can start an
  extension of the AGI's dialplan context counts, see README), talk sets ``TALK_DETECTED`` (ms), read with
  ``GET VARIABLE``. Why not WaitForSilence: it waits *for* silence, so a silent caller ends it at once and
  speech is never reported; WaitForNoise reports noise but not digits. The window is ALWAYS bounded twice:
  the session's own timer ends it on the driver's clock, and each chunk ends with its file, because a caller
  whose phone sends no audio at all produces no detection (docs/design.md, R-15). If BackgroundDetect is not
  loaded (EXEC returns -2) the window falls back to ``WAIT FOR DIGIT``.
- StartRecording → ``EXEC MixMonitor <root>/YYYY/MM/DD/<call_id>.wav`` (both directions, answer to hang-up).
- Transfer → per agent reserved by :meth:`SeatPool.reserve` (longest idle, then the neighbour seat, R-02):
  ``EXEC Dial(<endpoint>,<3 rings in seconds>,g)`` then ``GET VARIABLE DIALSTATUS``: ANSWER bridges (Dial
  returns when the conversation ends; the answer instant is reconstructed from ``ANSWEREDTIME_MS``), NOANSWER
  skips the agent (``agent.skipped``) for the neighbour, no one left → :class:`TransferResult` ``no_agent``
  and the caller stays queued for the session's queue prompts.
- Hangup → ``HANGUP``; Hold/Unhold → ``EXEC StartMusicOnHold``/``StopMusicOnHold``.
- StopPlayback: AGI cannot stop a ``STREAM FILE`` in flight (only its escape digits can), so the prompt
  plays to its end; what AGI cannot do, the ARI adapter does (barge-in by speech during a prompt).

The channel writes the timeline events only the transport knows (``agent.ringing/answered/skipped``,
``call.bridged``, ``recording.*``, and one ``command`` per AGI command with ``transport: "agi"`` and its
round trip in ms); the runner writes the script-level ones (``call.offered``, ``queue.entered/left``,
prompts, windows, ``call.hangup`` …), so no fact is written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentState
from callcenter.calls.rings import RingCadence
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline
from callcenter.logs import get_logger
from callcenter.scripting.protocol import (
    Answer,
    Answered,
    Command,
    Digit,
    Event,
    Hangup,
    Hold,
    HungUp,
    Listen,
    Play,
    PlaybackFinished,
    Ring,
    SpeechStarted,
    SpeechStopped,
    StartRecording,
    Transfer,
    Unhold,
)
from callcenter.telephony.agi.codec import (
    AGICommandTimeout,
    AGIDeadChannel,
    AGIHangup,
    AGIProtocolError,
    Reply,
    app_args,
)
from callcenter.telephony.agi.dialing import AgentDialing, _Gone
from callcenter.voice import PromptAudioError, PromptVoice

log = get_logger(__name__)

# BackgroundDetect: a talk token counts once 100 ms of sound is followed by 150 ms of silence. It reports a
# token only when it ends, so the shorter pause lets a caller's first words ("喂,你好。", then a 0.3 s pause)
# end a silent-call window at once; with 500 ms, measured on Asterisk 22, the same caller starting
# 0.7 s into a window was heard only after S2. Speech that runs on without a 150 ms pause past a window's
# end is heard at its first pause: only ARI (TALK_DETECT) hears speech the moment it starts.
TALK_SILENCE_MS = 150
TALK_MIN_MS = 100
# Asterisk's core sounds ship silence/1 … silence/10.
MAX_SILENCE_FILE = 10
ALL_DIGITS = "0123456789*#"


class AGITransport(Protocol):
    """What the channel needs from a FastAGI connection or the classic-AGI (pyst2) transport."""

    env: dict[str, str]
    last_ms: float
    on_hangup: Callable[[str], None] | None

    @property
    def hung_up(self) -> bool: ...

    async def execute(self, name: str, *args: object, limit: float | None = None) -> Reply: ...

    async def close(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float: ...


class RecordingHooks(Protocol):
    """The recordings service as the channel sees it (callcenter.telephony.agi.server wires the real one).

    ``started`` returns the recording's path relative to the root and the absolute file for MixMonitor, or
    raises when the recording is refused (disk below ``recordings.min_free_bytes``, R-119); it does blocking
    I/O and runs in a thread. ``finished`` must return at once (it schedules the processing)."""

    def started(self, call_id: str, at: datetime, fmt: str, caller: str) -> tuple[str, Path]: ...

    def finished(self, call_id: str, at: datetime, disposition: str | None, agent: str | None) -> None: ...


@dataclass(frozen=True)
class CallPlace:
    """Where a call's files go and how its legs ring; fixed for the call's life."""

    voice: PromptVoice  # where each prompt's audio is (recorded, or rendered from the call's text)
    recordings: Path  # the recordings root
    recording_format: str
    cadence: RingCadence
    agent_ring_limit: int
    command_timeout: float


class AGIChannel(AgentDialing):
    """The :class:`~callcenter.scripting.protocol.Channel` of one AGI call."""

    def __init__(
        self,
        transport: AGITransport,
        *,
        call_id: str,
        place: CallPlace,
        pool: SeatPool,
        timeline: Timeline,
        clock: Clock,
        started_at: datetime,
        locale: str = "zh-CN",
        recording_path: str | None = None,
        recordings: RecordingHooks | None = None,
        caller: str = "",
    ) -> None:
        self.call_id = call_id
        self.transport = transport
        self.place = place
        self.pool = pool
        self.timeline = timeline
        self.clock = clock
        self.started_at = started_at
        self.locale = locale
        self.recording_path = recording_path  # relative to the recordings root
        self.recordings = recordings
        self.caller = caller
        self._disposition: str | None = None
        self._t0 = clock.time()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._gone = False
        self._released = False  # we sent HANGUP
        self._hangup_queued = False  # the session asked for the release
        self._caller_gone = False  # the caller's channel is gone (hang-up, 511, closed socket)
        self._busy = False
        self._peer_gone: str | None = None
        self._closed = False
        self._recording_started = False
        self._queue_since: float | None = None
        self._group_warned = False
        self._no_talk_detect = False
        self._agent: Agent | None = None
        self._took_call: str | None = None  # the agent who answered, kept for the recording's metadata
        self._recording_ended: datetime | None = None
        transport.on_hangup = self._peer_hung_up

    # ------------------------------------------------------------------ Channel protocol

    async def perform(self, command: Command) -> None:
        """Queue ``command``; timers and notes belong to the driver and are ignored here."""
        if self._gone or self._closed:
            return
        if isinstance(command, Ring | Answer | Play | Listen | StartRecording | Transfer | Hold | Unhold | Hangup):
            if isinstance(command, Hangup):
                self._hangup_queued = True
            self._commands.put_nowait(command)
            if self._worker is None:
                self._worker = asyncio.create_task(self._work(), name=f"agi-call-{self.call_id}")

    async def next_event(self) -> Event:
        return await self._events.get()

    async def close(self) -> None:
        """Stop the worker, hang the caller up if the call is still up, finish the recording, close the socket."""
        if self._closed:
            return
        self._closed = True
        worker = self._worker
        if worker is not None and not worker.done() and worker is not asyncio.current_task():
            if self._hangup_queued and not self._caller_gone:
                # Our own release: AGI cannot interrupt the command in flight (a listening chunk ending now, as
                # the session's window timer fired a moment earlier), so let the worker reach the HANGUP.
                limit = MAX_SILENCE_FILE + self.place.command_timeout
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(worker), limit)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
        if not self._released and not self._caller_gone and not self.transport.hung_up:
            with contextlib.suppress(AGIProtocolError):
                await self._cmd("HANGUP", limit=2.0)
        self._finish_recording()  # first: the recording's end is the call's, not after a database write
        await self._release_agent(AgentState.AFTER_CALL)
        await self.transport.close()

    # ------------------------------------------------------------------ worker

    async def _work(self) -> None:
        while True:
            command = await self._commands.get()
            self._busy = True
            try:
                await self._carry_out(command)
            except _Gone:
                return
            except AGICommandTimeout as exc:
                log.error("agi.command_timeout", call_id=self.call_id, error=str(exc))
                self._hung_up("agi_timeout", by="system")
                return
            except (AGIHangup, AGIDeadChannel):
                self._hung_up("caller_hangup", by="caller")
                return
            except AGIProtocolError as exc:
                # 510/520 or a malformed reply: a bug or a version mismatch. The call goes on without it.
                log.error("agi.command_failed", call_id=self.call_id, command=type(command).__name__, error=str(exc))
            finally:
                self._busy = False
            if self._peer_gone is not None:
                self._hung_up(self._peer_gone, by="caller")
                return

    async def _carry_out(self, command: Command) -> None:
        if isinstance(command, Ring):
            await self._exec("Ringing")
        elif isinstance(command, Answer):
            await self._cmd("ANSWER")
            self._emit(Answered())
        elif isinstance(command, Play):
            await self._play(command)
        elif isinstance(command, Listen):
            await self._listen(command)
        elif isinstance(command, StartRecording):
            await self._record()
        elif isinstance(command, Transfer):
            await self._transfer(command)
        elif isinstance(command, Hold):
            await self._exec("StartMusicOnHold", command.music_class)
        elif isinstance(command, Unhold):
            await self._exec("StopMusicOnHold")
        elif isinstance(command, Hangup):
            self._released = True
            self._disposition = command.disposition
            with contextlib.suppress(AGIHangup):
                await self._cmd("HANGUP")
            self._hung_up(command.disposition, by="system")
            raise _Gone

    # ------------------------------------------------------------------ AGI plumbing

    async def _cmd(self, name: str, *args: object, limit: float | None = None) -> Reply:
        """One AGI command, logged to the timeline as a ``command`` event with its round trip."""
        text = " ".join([name, *(str(a) for a in args)])[:200]
        try:
            reply = await self.transport.execute(name, *args, limit=limit)
        except AGIProtocolError as exc:
            failed = type(exc).__name__
            self._note(ev.COMMAND, {"command": text, "result": failed, "ms": self._ms(), "transport": "agi"})
            raise
        result = reply.line or _reply_text(reply)
        self._note(ev.COMMAND, {"command": text, "result": result, "ms": self._ms(), "transport": "agi"})
        return reply

    def _ms(self) -> float:
        return round(self.transport.last_ms, 3)

    async def _exec(self, app: str, *args: object, limit: float | None = None) -> Reply:
        if not args:
            return await self._cmd("EXEC", app, limit=limit)
        return await self._cmd("EXEC", app, app_args(*args), limit=limit)

    async def _alive_after_failure(self) -> None:
        """result=-1 is "error or hang-up": ask the channel which (511, or a state of 0/1 "down", means gone)."""
        try:
            reply = await self._cmd("CHANNEL STATUS")
        except (AGIDeadChannel, AGIHangup):
            reply = None
        if reply is None or self.transport.hung_up or (reply.value is not None and reply.value <= 1):
            self._hung_up("caller_hangup", by="caller")
            raise _Gone

    async def _variable(self, name: str) -> str | None:
        reply = await self._cmd("GET VARIABLE", name)
        return reply.data if reply.value == 1 else None

    # ------------------------------------------------------------------ commands

    async def _play(self, play: Play) -> None:
        limit = play.duration + self.place.command_timeout
        try:
            path = await self.place.voice.media(play)
        except PromptAudioError as exc:
            self._emit(PlaybackFinished(play.playback_id, error=str(exc)))
            return
        reply = await self._cmd("STREAM FILE", str(path), play.escape_digits, limit=limit)
        if reply.failed:
            # -1 with the channel alive: Asterisk could not open the file (its log says which); nothing was heard
            await self._alive_after_failure()
            self._emit(PlaybackFinished(play.playback_id, error=f"STREAM FILE {path}: result=-1"))
            return
        if reply.digit:
            self._emit(Digit(reply.digit))
        self._emit(PlaybackFinished(play.playback_id, interrupted=bool(reply.digit)))

    async def _listen(self, listen: Listen) -> None:
        remaining = listen.seconds
        while remaining > 0 and self._commands.empty():
            chunk = min(MAX_SILENCE_FILE, max(1, math.ceil(remaining - 1e-9)))
            heard = await self._detect(chunk, listen.digits)
            if heard:
                return
            remaining -= chunk

    async def _detect(self, seconds: int, digits: bool) -> bool:
        """One BackgroundDetect chunk; True when the caller spoke or pressed a digit."""
        limit = seconds + self.place.command_timeout
        reply = None
        if not self._no_talk_detect:
            reply = await self._exec(
                "BackgroundDetect", f"silence/{seconds}", TALK_SILENCE_MS, TALK_MIN_MS, limit=limit
            )
            if reply.value == -2:  # app_talkdetect not loaded: digits only from now on, still bounded
                self._no_talk_detect = True
                log.error("agi.no_backgrounddetect", call_id=self.call_id)
                reply = None
        if reply is None:
            reply = await self._cmd("WAIT FOR DIGIT", seconds * 1000, limit=limit)
        if reply.failed:
            await self._alive_after_failure()
            return False
        if reply.digit:
            if digits:
                self._emit(Digit(reply.digit))
                return True
            return False
        talk = await self._variable("TALK_DETECTED")
        if talk is None:
            return False
        await self._cmd("SET VARIABLE", "TALK_DETECTED", "")
        try:
            duration = max(0.0, int(talk) / 1000.0)
        except ValueError:
            duration = 0.0
        self._emit(SpeechStarted())
        self._emit(SpeechStopped(duration=duration))
        return True

    async def _record(self) -> None:
        if self.recording_path is None or self._recording_started:
            return
        if self.recordings is not None:
            now = self.started_at + timedelta(seconds=self._offset())
            try:
                rel, target = await asyncio.to_thread(
                    self.recordings.started, self.call_id, now, self.place.recording_format, self.caller
                )
            except Exception as exc:  # refused (disk full, R-119) or the store is down: the call goes on
                log.error("agi.recording_refused", call_id=self.call_id, error=str(exc))
                return
            self.recording_path = str(rel)
        else:
            target = self.place.recordings / self.recording_path
            await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        reply = await self._exec("MixMonitor", str(target))
        if reply.failed:
            await self._alive_after_failure()
            log.error("agi.recording_failed", call_id=self.call_id, path=str(target))
            return
        self._recording_started = True
        self._note(ev.RECORDING_STARTED, {"path": self.recording_path, "format": self.place.recording_format})

    # ------------------------------------------------------------------ bookkeeping

    def _peer_hung_up(self, why: str) -> None:
        """The transport saw a HANGUP line (or EOF). Between commands the call ends now; during one, the
        command first finishes reading what Asterisk still reports (Dial's DIALSTATUS after a bridged call)."""
        cause = "caller_hangup" if why == "hangup" else why
        if self._busy:
            self._peer_gone = cause
        else:
            self._hung_up(cause, by="caller")

    def _hung_up(self, cause: str, *, by: str) -> None:
        if by == "caller":
            self._caller_gone = True
        if self._gone:
            return
        self._gone = True
        self._emit(HungUp(cause=cause, by=by))

    def _emit(self, event: Event) -> None:
        self._events.put_nowait(event)

    def _offset(self) -> float:
        return self.clock.time() - self._t0

    def _note(self, type_: str, data: dict[str, Any], *, offset: float | None = None) -> None:
        at = self._offset() if offset is None else offset
        self.timeline.append(
            self.call_id, type_, data, at=self.started_at + timedelta(seconds=at), offset=round(at, 3)
        )

    async def _release_agent(self, state: AgentState) -> None:
        if self._agent is not None:
            with contextlib.suppress(Exception):
                await self.pool.release(self._agent.id, state, call_id=self.call_id)
            self._agent = None

    def _finish_recording(self) -> None:
        if not self._recording_started or self.recording_path is None:
            return
        self._recording_started = False
        path = self.place.recordings / self.recording_path
        try:
            size = path.stat().st_size
        except OSError:
            size = 0  # Asterisk may write the file on another host (shared volume not mounted here)
        data = {"path": self.recording_path, "format": self.place.recording_format, "bytes": size}
        self._note(ev.RECORDING_FINISHED, data)
        self._recording_ended = self.started_at + timedelta(seconds=self._offset())

    def register_recording_end(self, disposition: str | None) -> None:
        """Hand the finished recording to the recordings service with the call's disposition, which the
        driver knows only once the call is over (a caller's hang-up carries none on the AGI side)."""
        if self.recordings is None or self._recording_ended is None:
            return
        ended, self._recording_ended = self._recording_ended, None
        try:
            self.recordings.finished(self.call_id, ended, disposition or self._disposition, self._took_call)
        except Exception:
            log.exception("agi.register_recording_failed", call_id=self.call_id)


def _reply_text(reply: Reply) -> str:
    parts = [str(reply.code), f"result={reply.result}"]
    if reply.data is not None:
        parts.append(f"({reply.data})")
    if reply.endpos is not None:
        parts.append(f"endpos={reply.endpos}")
    return " ".join(parts)
