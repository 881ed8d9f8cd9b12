"""Who is on the simulated lines: callers with a scenario and agents with a pickup habit.

A :class:`SimCaller` dials in and does things at given times, all counted in the call's own seconds from the
moment the call reached the Stasis application (the same 0 as the call timeline): talk (sends audio, so
TALK_DETECT reports it), make noise (audio too: Asterisk counts pink noise as talking), press digits, hang up
at a time or during the n-th ring it hears. A caller with none of these is silent: it sends no media at all
and, like on a real Asterisk 22, produces no talk events (docs/design.md "Asterisk facts"). A :class:`SimAgent`
is a phone endpoint that answers during its n-th ring, or never, and may talk once answered (its ``speech``
is heard by whoever the bridges and snoops route it to: the channel ``heard`` lists say who heard whom).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callcenter.sim.errors import SimulatorError


@dataclass(frozen=True)
class SimCaller:
    """One inbound call's scenario. Times are seconds since the call entered Stasis."""

    number: str = "13800138000"
    name: str = ""
    args: tuple[str, ...] = ("main",)  # Stasis(app,<args>): the entry point
    language: str = "zh"
    speech: tuple[tuple[float, float], ...] = ()  # (start, duration) of each utterance
    noise: tuple[tuple[float, float], ...] = ()  # (start, duration) of line noise; talks for TALK_DETECT
    dtmf: tuple[tuple[float, str], ...] = ()  # (time, digit)
    hangup_at: float | None = None
    hangup_at_ring: int | None = None  # hang up during this ring (1-based) if still unanswered
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for start, duration in (*self.speech, *self.noise):
            if start < 0 or duration <= 0:
                raise SimulatorError(f"caller {self.number}: audio burst ({start}, {duration}) needs start >= 0, "
                                     "duration > 0")
        for _, digit in self.dtmf:
            if len(digit) != 1 or digit not in "0123456789*#ABCD":
                raise SimulatorError(f"caller {self.number}: {digit!r} is not one DTMF digit")
        if self.hangup_at_ring is not None and self.hangup_at_ring < 1:
            raise SimulatorError(f"caller {self.number}: hangup_at_ring counts from 1")

    @property
    def audio(self) -> tuple[tuple[float, float], ...]:
        """Every interval in which the caller sends audio, speech and noise alike, in time order."""
        return tuple(sorted((*self.speech, *self.noise)))


@dataclass(frozen=True)
class SimAgent:
    """An agent phone: ``answer_at_ring`` = the ring during which it picks up; None = never (R-02 test)."""

    endpoint: str
    answer_at_ring: int | None = 1
    busy: bool = False  # rejects every call at once (cause 17, user busy)
    hangup_after: float | None = None  # seconds after answering, the agent hangs up
    speech: tuple[tuple[float, float], ...] = ()  # (start, duration) of each utterance, seconds after answering
    webrtc: bool = False  # a browser softphone (pjsip.conf webrtc=yes): PJSIP_ENDPOINT(<n>,webrtc) reads "yes"

    def __post_init__(self) -> None:
        for start, duration in self.speech:
            if start < 0 or duration <= 0:
                raise SimulatorError(f"agent {self.endpoint}: utterance ({start}, {duration}) needs start >= 0, "
                                     "duration > 0")
        if "/" not in self.endpoint:
            raise SimulatorError(f"agent endpoint {self.endpoint!r} must be <tech>/<resource>, e.g. PJSIP/8001")
        if self.answer_at_ring is not None and self.answer_at_ring < 1:
            raise SimulatorError(f"agent {self.endpoint}: answer_at_ring counts from 1")


@dataclass(frozen=True)
class SimCustomer:
    """A customer's phone that the centre dials (回访, R-94): reached by its number in the originate's endpoint
    (``Local/<number>@…``, ``PJSIP/<number>@trunk``). It is busy, congested, never answers, or answers during its
    n-th ring and then behaves as ``after_answer`` says, in seconds since the answer (talks, presses keys, hangs
    up during the opening)."""

    number: str
    answer_at_ring: int | None = 1  # None: rings until the originate's timeout
    busy: bool = False  # cause 17, at once
    congestion: bool = False  # cause 34, at once (the network refused)
    after_answer: SimCaller = field(default_factory=SimCaller)

    def __post_init__(self) -> None:
        if not self.number or not self.number.isdigit():
            raise SimulatorError(f"customer number {self.number!r} must be digits")
        if self.answer_at_ring is not None and self.answer_at_ring < 1:
            raise SimulatorError(f"customer {self.number}: answer_at_ring counts from 1")
        if self.busy and self.congestion:
            raise SimulatorError(f"customer {self.number}: busy or congested, not both")
