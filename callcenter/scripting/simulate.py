"""A virtual-clock driver: runs script sessions against simulated callers, no real time passes.

One :class:`Simulator` holds one heap of timed events for any number of calls (the engine benchmark runs
10,000 at once); :func:`simulate` runs one call and returns its timeline in the format of
docs/script-format.md. A prompt lasts its ``Play.duration`` (audio length, or the text estimate); timers fire
exactly when due; at the same instant the caller's own actions come first (they were scheduled first).
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from callcenter.scripting import notes as ev
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.errors import ScriptError
from callcenter.scripting.library import ScriptLibrary
from callcenter.scripting.options import CentreOptions
from callcenter.scripting.protocol import (
    Answer,
    CancelTimer,
    Command,
    Digit,
    Event,
    Hangup,
    Hold,
    HungUp,
    Listen,
    Note,
    Play,
    PlaybackFinished,
    ReleaseRequested,
    Ring,
    ScriptRequested,
    SpeechStarted,
    SpeechStopped,
    StartRecording,
    StartTimer,
    StopPlayback,
    TimerFired,
    Transfer,
    TransferResult,
    TransferStatus,
    Unhold,
)
from callcenter.scripting.session import ScriptSession, SessionConfig

DEFAULT_SPEECH_SECONDS = 1.0
# A simulation that is still going after this much virtual time is a script that never ends.
DEFAULT_LIMIT_SECONDS = 4 * 3600.0
# The work number of the simulated agent who answers every transfer.
SIM_AGENT = "1001"


class SimulationError(ScriptError):
    """A bad caller spec, or a simulation that does not end."""


class Driven(Protocol):
    """What the simulator drives: a :class:`ScriptSession`, or the benchmark's hand-written baseline."""

    @property
    def finished(self) -> bool: ...

    scripts_finished: int
    disposition: str | None
    released_by: str | None

    def start(self, *, answered: bool = False, at: float = 0.0) -> list[Command]: ...

    def handle(self, event: Event) -> list[Command]: ...


# ---------------------------------------------------------------- caller specs

_SPEC = re.compile(
    r"^(?:(?P<speech>speech)@(?P<st>\d+(?:\.\d+)?)(?:\+(?P<sd>\d+(?:\.\d+)?))?"
    r"|dtmf:(?P<digit>[0-9*#])@(?P<dt>\d+(?:\.\d+)?)"
    r"|(?P<hangup>hangup)@(?P<ht>\d+(?:\.\d+)?)"
    r"|release@(?P<rt>\d+(?:\.\d+)?)"
    r"|script:(?P<script>[A-Za-z_][A-Za-z0-9_.-]*)@(?P<pt>\d+(?:\.\d+)?)"
    r"|(?P<silent>silent)|(?P<no_agent>no_agent))$"
)
SPEC_HELP = "silent, speech@T, speech@T+D, dtmf:D@T, hangup@T, release@T, script:NAME@T or no_agent"


@dataclass(frozen=True, slots=True)
class CallerPlan:
    """Timed events of the simulated far end (and the agent's clicks), plus how transfers end."""

    events: tuple[Event, ...] = ()
    transfer: TransferStatus = "answered"


def parse_caller(specs: Iterable[str]) -> CallerPlan:
    """Parse caller specs (``silent``, ``speech@3``, ``speech@3+2``, ``dtmf:1@4``, ``hangup@20``; also the
    agent's ``release@T`` and ``script:NAME@T``, and ``no_agent`` for transfers nobody answers)."""
    out: list[Event] = []
    transfer: TransferStatus = "answered"
    for spec in specs:
        m = _SPEC.match(spec.strip())
        if not m:
            raise SimulationError(f"bad caller spec {spec!r}; expected {SPEC_HELP}")
        if m["speech"]:
            start = float(m["st"])
            length = float(m["sd"]) if m["sd"] else DEFAULT_SPEECH_SECONDS
            out += [SpeechStarted(at=start), SpeechStopped(at=start + length, duration=length)]
        elif m["digit"]:
            out.append(Digit(m["digit"], at=float(m["dt"])))
        elif m["hangup"]:
            out.append(HungUp(by="caller", at=float(m["ht"])))
        elif m["rt"]:
            out.append(ReleaseRequested(by="agent", at=float(m["rt"])))
        elif m["script"]:
            out.append(ScriptRequested(m["script"], by="agent", at=float(m["pt"])))
        elif m["no_agent"]:
            transfer = "no_agent"
    return CallerPlan(tuple(sorted(out, key=lambda e: e.at)), transfer)


# ---------------------------------------------------------------- the driver


@dataclass(eq=False)
class SimCall:
    session: Driven
    plan: CallerPlan
    record: bool = True
    timeline: list[dict[str, Any]] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)
    playing: dict[str, str] = field(default_factory=dict)
    over: bool = False
    _ended: int = 0

    def log(self, t: float, type: str, **data: Any) -> None:
        if self.record:
            self.timeline.append({"t": round(t, 3), "type": type, **data})


class Simulator:
    """One virtual clock and one heap of timed events for many simultaneous calls."""

    def __init__(self, *, limit: float = DEFAULT_LIMIT_SECONDS) -> None:
        self.now = 0.0
        self.limit = limit
        self._heap: list[tuple[float, int, SimCall, Event]] = []
        self._seq = itertools.count()

    def add_call(self, session: Driven, plan: CallerPlan, *, answered: bool, record: bool = True) -> SimCall:
        call = SimCall(session, plan, record)
        for event in plan.events:
            self._push(event.at, call, event)
        self._perform(call, session.start(answered=answered, at=self.now))
        return call

    def _push(self, at: float, call: SimCall, event: Event) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), call, event))

    def run(self) -> None:
        heap = self._heap
        while heap:
            at, _, call, event = heapq.heappop(heap)
            if call.over:
                continue
            if at > self.limit:
                raise SimulationError(f"simulation still running after {self.limit:g} s of virtual time")
            self.now = at
            if isinstance(event, TimerFired):
                if event.name in call.cancelled:
                    continue
            elif isinstance(event, PlaybackFinished):
                if call.playing.pop(event.playback_id, None) is None:
                    continue  # stopped before its end
            self._observe(call, event)
            self._perform(call, call.session.handle(event))
            if isinstance(event, HungUp):
                self._end(call, event.by)

    def _observe(self, call: SimCall, event: Event) -> None:
        if not call.record:
            return
        t = self.now
        if isinstance(event, SpeechStarted):
            call.log(t, "speech")
        elif isinstance(event, Digit):
            call.log(t, "dtmf", digit=event.digit)
        elif isinstance(event, TransferResult):
            call.log(t, "agent", status=event.status, agent=event.agent)
        elif isinstance(event, ScriptRequested):
            call.log(t, "script", script=event.script, by=event.by)
        elif isinstance(event, ReleaseRequested):
            call.log(t, "release", by=event.by)

    def _perform(self, call: SimCall, commands: list[Command]) -> None:
        t = self.now
        for command in commands:
            if type(command) is Play:
                call.playing[command.playback_id] = command.key
                self._push(t + command.duration, call, PlaybackFinished(command.playback_id, at=t + command.duration))
                call.log(t, "say", key=command.key, text=command.text, duration=command.duration)
            elif type(command) is StartTimer:
                self._push(t + command.seconds, call, TimerFired(command.name, at=t + command.seconds))
            elif type(command) is CancelTimer:
                call.cancelled.add(command.name)
            elif type(command) is StopPlayback:
                key = call.playing.pop(command.playback_id, None)
                if key is not None:
                    call.log(t, "stop", key=key)
            elif type(command) is Note:
                self._note(call, t, command)
            elif type(command) is Listen:
                call.log(t, "listen", seconds=command.seconds)
            elif type(command) is Transfer:
                self._script_end(call, t)
                call.log(t, "transfer", group=command.group)
                agent = SIM_AGENT if call.plan.transfer == "answered" else None
                self._push(t, call, TransferResult(call.plan.transfer, agent, at=t))
            elif type(command) is Hangup:
                self._end(call, call.session.released_by or "system")
                return
            elif type(command) is Ring:
                call.log(t, "ring")
            elif type(command) is Answer:
                call.log(t, "answer")
            elif type(command) is StartRecording:
                call.log(t, "record")
            elif type(command) is Hold:
                call.log(t, "hold")
            elif type(command) is Unhold:
                call.log(t, "unhold")
        self._script_end(call, t)

    @staticmethod
    def _script_end(call: SimCall, t: float) -> None:
        """Log ``end`` once per finished script (before the transfer of an IVR caller it leads to)."""
        if call.session.scripts_finished > call._ended:
            call._ended = call.session.scripts_finished
            call.log(t, "end")

    @staticmethod
    def _note(call: SimCall, t: float, note: Note) -> None:
        data = note.data
        if note.type == ev.SCRIPT_STATE:
            call.log(t, "state", script=data["script"], state=data["state"])
        elif note.type == ev.SILENCE_WINDOW:
            call.log(t, "silence", seconds=data["seconds"], state=data["state"], step=data["step"])
        elif note.type == ev.SCRIPT_ERROR:
            call.log(t, "error", message=data["message"])
        elif note.type == ev.RELEASE_REFUSED:
            call.log(t, "release_refused", reason=data["reason"])

    def _end(self, call: SimCall, by: str) -> None:
        if not call.over:
            call.over = True
            call.log(self.now, "hangup", disposition=call.session.disposition, by=by)


def simulate(
    library: ScriptLibrary,
    script: str,
    callers: Iterable[str] = ("silent",),
    *,
    variables: Mapping[str, Any] | None = None,
    locale: str | None = None,
    config: SessionConfig | None = None,
    answered: bool | None = None,
    call_id: str = "sim",
) -> list[dict[str, Any]]:
    """Run ``script`` once against the caller ``callers`` describe; the timeline as a list of dicts.

    ``variables`` default to the built-in centre's (hotline, center; no agent, no time of day).
    ``answered`` defaults to False for an ``entry`` script (ring, answer, record first) and True for a
    ``situation`` script (started on a call already answered).
    """
    plan = parse_caller(callers)
    if variables is None:
        variables = prompt_variables(CentreOptions())
    session = ScriptSession(library, script, call_id=call_id, locale=locale, variables=variables, config=config)
    if answered is None:
        answered = session.script.kind == "situation"
    sim = Simulator()
    call = sim.add_call(session, plan, answered=answered)
    sim.run()
    return call.timeline
