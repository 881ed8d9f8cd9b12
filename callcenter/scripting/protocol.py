"""The vocabulary between a script session and whatever carries the call (docs/design.md, Habits).

A session is sans-I/O: it takes :data:`Event` values and returns lists of :data:`Command` values. It never
reads a clock: every event carries ``at``, seconds on the call's own clock (0 = the call reached us), and
every wait is a :class:`StartTimer` that the driver turns into a :class:`TimerFired` event. The FastAGI
adapter, the ARI adapter, the virtual-clock simulator and the benchmarks are drivers of this one contract.

Channels (the adapters' side of a live call) report events with ``at`` left unset; the driver that owns the
call's clock stamps them on receipt (:func:`stamped`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

UNSET = math.nan

# ---------------------------------------------------------------- events: what happened on the call


@dataclass(frozen=True, slots=True)
class Answered:
    """The caller's channel is answered (by the IVR or, after a transfer, by an agent)."""

    at: float = UNSET


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started talking (TALK_DETECT / BackgroundDetect). Noise counts as talking on Asterisk."""

    at: float = UNSET


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    at: float = UNSET
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class Digit:
    """One DTMF digit from the caller."""

    digit: str = ""
    at: float = UNSET


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A :class:`Play` ended; ``interrupted`` when stopped early (escape digit, :class:`StopPlayback`);
    ``error`` says why when the prompt was not played at all (no audio, Asterisk could not open it): the caller
    heard nothing, so the session does not count the prompt as said."""

    playback_id: str = ""
    interrupted: bool = False
    at: float = UNSET
    error: str = ""


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: str = ""
    at: float = UNSET


TransferStatus = Literal["answered", "no_agent", "caller_gone", "failed"]


@dataclass(frozen=True, slots=True)
class TransferResult:
    """How a :class:`Transfer` ended: bridged to ``agent``, no agent picked up (back to the queue), …"""

    status: TransferStatus = "answered"
    agent: str | None = None
    at: float = UNSET


@dataclass(frozen=True, slots=True)
class ScriptRequested:
    """An agent clicked a situation script in the panel (silent call, dialect D1, hold, closing, …)."""

    script: str = ""
    by: str = "agent"
    at: float = UNSET


@dataclass(frozen=True, slots=True)
class ReleaseRequested:
    """The agent wants to hang up; the session decides whether the standards allow it yet (R-23, R-48)."""

    by: str = "agent"
    at: float = UNSET


@dataclass(frozen=True, slots=True)
class HungUp:
    """The call is gone. ``by`` is who released first: ``caller``, ``agent`` or ``system``."""

    cause: str = "normal"
    by: str = "caller"
    at: float = UNSET


Event = (
    Answered
    | SpeechStarted
    | SpeechStopped
    | Digit
    | PlaybackFinished
    | TimerFired
    | TransferResult
    | ScriptRequested
    | ReleaseRequested
    | HungUp
)


def stamped(event: Event, at: float) -> Event:
    """``event`` with ``at`` set, unless the channel already set it."""
    return event if not math.isnan(event.at) else replace(event, at=at)


# ---------------------------------------------------------------- commands: what the call should do


@dataclass(frozen=True, slots=True)
class Ring:
    """Send ringing indication to the caller (the answer itself comes from a timer, R-01)."""


@dataclass(frozen=True, slots=True)
class Answer:
    pass


@dataclass(frozen=True, slots=True)
class Play:
    """Speak one prompt. ``audio`` is the sound name relative to the locale's sounds folder, without
    extension (Asterisk's convention), or None when no recording exists; ``duration`` is the audio's length
    or the documented estimate from the text, used by simulators. Digits in ``escape_digits`` interrupt it."""

    playback_id: str
    key: str
    text: str
    locale: str
    audio: str | None = None
    duration: float = 0.0
    escape_digits: str = ""


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class Listen:
    """Watch for caller speech and digits for up to ``seconds`` (the window's own timer is separate)."""

    seconds: float
    digits: bool = True


@dataclass(frozen=True, slots=True)
class StartRecording:
    """Record both directions of the call from now to hang-up (MixMonitor / ARI bridge record)."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the caller to a free agent of ``group`` (three rings each, then the neighbour, R-01/R-02)."""

    group: str
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    music_class: str = "default"


@dataclass(frozen=True, slots=True)
class Unhold:
    pass


@dataclass(frozen=True, slots=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """Release the call with a disposition (``normal``, ``silent``, ``low_volume``, ``noise``,
    ``dialect_unresolved``, ``script_error`` …)."""

    disposition: str = "normal"


@dataclass(frozen=True, slots=True)
class Note:
    """A fact for the call timeline that only the session knows (state entered, silence window elapsed,
    release refused …). Drivers append it to the timeline as ``type`` with ``data``; nothing else happens."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


Command = (
    Ring
    | Answer
    | Play
    | StopPlayback
    | Listen
    | StartRecording
    | Transfer
    | Hold
    | Unhold
    | StartTimer
    | CancelTimer
    | Hangup
    | Note
)


class Channel(Protocol):
    """One live call as an adapter (FastAGI, ARI, simulator) presents it to the driver.

    ``perform`` starts a command and returns promptly; its outcome arrives later as events from
    ``next_event`` (a :class:`Play` ends in :class:`PlaybackFinished`, a :class:`Transfer` in
    :class:`TransferResult`, the caller's hang-up in :class:`HungUp`). Timers are the driver's, not the
    channel's. After :class:`HungUp` the driver calls ``close`` and performs nothing more.
    """

    call_id: str

    async def perform(self, command: Command) -> None: ...

    async def next_event(self) -> Event: ...

    async def close(self) -> None: ...
