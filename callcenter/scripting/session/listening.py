"""Listening windows and caller input (R-15, docs/design.md "Silent call").

A window starts when the last prompt has *finished*; when its timer fires with no speech and no digit, the
state's ``silence`` branch is taken and the step counted. Caller speech or a digit in the window cancels its
timer and takes the ``speech``/``dtmf`` branch; so does speech or a digit while a listening state's prompt is
still playing (the prompt is stopped: "speech at any point ends the sequence"). The answer timer of a ringing
IVR entry (R-01) fires here too.
"""

from __future__ import annotations

from callcenter.scripting import notes as ev
from callcenter.scripting.model import ListenAction
from callcenter.scripting.protocol import CancelTimer, Digit, Note, SpeechStarted, StopPlayback, TimerFired
from callcenter.scripting.session.config import ANSWER_TIMER, LISTENING, PROMPTS, RINGING
from callcenter.scripting.session.state import SessionState


class Listening(SessionState):
    __slots__ = ()

    def _timer_fired(self, event: TimerFired) -> None:
        if event.name == ANSWER_TIMER and self.phase == RINGING:
            self._answer()
            return
        if event.name != self._timer or self.phase != LISTENING or self.state is None:
            return  # a window already cancelled by speech or a digit
        self._timer = None
        self._silences += 1
        state = self.state
        self._out.append(
            Note(ev.SILENCE_WINDOW, {"seconds": self._window, "state": state.name, "step": self._silences})
        )
        self._follow(state.branch("silence"))

    def _speech(self, event: SpeechStarted) -> None:
        self._caller_input(None)

    def _digit(self, event: Digit) -> None:
        self._caller_input(event.digit)

    def _caller_input(self, digit: str | None) -> None:
        state = self.state
        if state is None or not isinstance(state.action, ListenAction):
            return
        target = state.branch("speech") if digit is None else state.digit_branch(digit)
        if target is None:
            return  # not a branch of this state: the window goes on
        if self.phase == LISTENING and self._timer is not None:
            self._out.append(CancelTimer(self._timer))
            self._timer = None
        elif self.phase == PROMPTS and self._playing is not None:
            self._out.append(StopPlayback(self._playing))
            self._playing = None
            self._queue = []
        else:
            return
        self._silences = 0
        self._follow(target)
