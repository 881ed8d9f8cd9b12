"""How a call ends: who may release it, what its disposition is, and the safe path after a script error.

- R-23: while a script marked ``no_direct_hangup`` runs, an agent's release is refused.
- R-48: on a normal call the agent may not release before the closing phrase has been spoken.
- Only a caller who gives up in the IVR before anyone had the call has abandoned it.
- A script error (an undefined variable at render time, an unknown script …) never leaves the call hanging:
  the session says the apology prompt and transfers the caller to the default group (or leaves the call with
  the agent who already has it), notes ``script.error`` and logs it with the call id.
"""

from __future__ import annotations

import structlog

from callcenter.scripting import notes as ev
from callcenter.scripting.errors import ScriptError
from callcenter.scripting.protocol import Answer, Hangup, HungUp, Note, ReleaseRequested, Transfer
from callcenter.scripting.session.config import ENDED, FALLBACK, LISTENING, PROMPTS, TRANSFERRING
from callcenter.scripting.session.state import SessionState

log = structlog.get_logger("callcenter.scripting.session")


class Ending(SessionState):
    __slots__ = ()

    def _release_requested(self, event: ReleaseRequested) -> None:
        active = self.phase in (PROMPTS, LISTENING) and self.state is not None
        if active and self.script.no_direct_hangup:
            reason = f"R-23: {self.script.name} must not be hung up directly"
            self._out.append(Note(ev.RELEASE_REFUSED, {"by": event.by, "reason": reason}))
            return
        if not self.closing_said:
            reason = "R-48: the caller hangs up first; say the closing phrase before releasing"
            self._out.append(Note(ev.RELEASE_REFUSED, {"by": event.by, "reason": reason}))
            return
        self._abandon_current()
        self.disposition = "normal"
        self.released_by = event.by
        self.phase = ENDED
        self._out.append(Hangup("normal"))

    def _hung_up(self, event: HungUp) -> None:
        if self.disposition is None:
            # Only a caller who gives up in the IVR before anyone had the call has abandoned it.
            abandoned = self._entry and not self.with_agent and not self.closing_said
            self.disposition = "abandoned" if abandoned else "normal"
        if self.released_by is None:
            self.released_by = event.by
        self.phase = ENDED
        self._timer = self._playing = None

    def _fallback(self, exc: Exception) -> None:
        state = self.state.name if self.state is not None else None
        message = str(exc) if isinstance(exc, ScriptError) else f"{type(exc).__name__}: {exc}"
        log.error("script.error", call_id=self.call_id, script=self.script.name, state=state, error=message)
        self._abandon_current()
        self._out.append(Note(ev.SCRIPT_ERROR, {"script": self.script.name, "state": state, "message": message}))
        self.state = None
        if self.phase == FALLBACK:  # the apology itself failed: transfer without it
            self.phase = TRANSFERRING
            self._out.append(Transfer(self.config.default_group))
            return
        if not self.answered:
            self._out.append(Answer())
            self.answered = True
        self.phase = FALLBACK
        play = self._apology()
        self._playing = play.playback_id
        self._out.append(play)
