"""The session itself: driving it (start, handle) and walking the script's states.

:class:`ScriptSession` assembles the session's parts (``prompts``, ``listening``, ``handover``, ``ending``)
and holds what is left: entering a script and its states (with their ``max_visits``/``max_time`` bounds),
following targets, and what a state does once its prompts are spoken (listen, go to, transfer, hang up, end).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from callcenter.scripting import notes as ev
from callcenter.scripting.errors import ScriptError
from callcenter.scripting.library import ScriptLibrary
from callcenter.scripting.model import (
    CALL_GROUP,
    EndAction,
    GotoAction,
    HangupAction,
    ListenAction,
    Script,
    State,
    Target,
    TransferAction,
)
from callcenter.scripting.protocol import (
    Answer,
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
    StartRecording,
    StartTimer,
    TimerFired,
    Transfer,
    TransferResult,
    Unhold,
)
from callcenter.scripting.session.config import (
    ANSWER_TIMER,
    ENDED,
    IDLE,
    LISTENING,
    MAX_STEPS_WITHOUT_WAIT,
    RINGING,
    TRANSFERRING,
    SessionConfig,
)
from callcenter.scripting.session.ending import Ending
from callcenter.scripting.session.handover import Handover
from callcenter.scripting.session.listening import Listening
from callcenter.scripting.session.prompts import Prompts


class ScriptSession(Prompts, Listening, Handover, Ending):
    """The state machine of one call running the library's scripts."""

    __slots__ = ()

    def __init__(
        self,
        library: ScriptLibrary,
        script: str,
        *,
        call_id: str,
        locale: str | None = None,
        variables: Mapping[str, Any] | None = None,
        config: SessionConfig | None = None,
        agents: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        """``variables``: see :func:`~callcenter.scripting.catalogue.prompt_variables`. ``agents`` maps an
        agent id from a :class:`TransferResult` to ``{"work_number", "name"}`` so the answering agent's
        greeting names them (R-12); without it the id is the work number."""
        self.library = library
        self.call_id = call_id
        self.locale = locale or library.options.default_locale
        library.catalogues.chain(self.locale)  # an unknown locale fails here, before the call is answered
        self.variables: dict[str, Any] = dict(variables or {})
        self._frozen: dict[str, Any] = {}  # the variables' hashable forms, made as prompts need them
        self.config = config or SessionConfig(chars_per_second=library.options.speech_chars_per_second)
        self._agents = agents
        self.script = library.script(script)
        self.state = None
        self.phase = IDLE
        self.disposition: str | None = None
        self.released_by: str | None = None
        self.with_agent = False
        self.closing_said = False
        self.scripts_finished = 0
        self._entry = False
        self._held = False
        self._queue: list[Play] = []
        self._playing: str | None = None
        self._timer: str | None = None
        self._window = 0.0
        self._silences = 0
        self._visits: dict[str, int] = {}
        self._first_entry: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._now = 0.0
        self.answered = False
        self._out: list[Command] = []

    # ------------------------------------------------------------------ driving

    @property
    def finished(self) -> bool:
        return self.phase == ENDED

    def start(self, *, answered: bool = False, at: float = 0.0) -> list[Command]:
        """The first commands: ring and the answer timer for a new call (R-01), else the first state."""
        self._now = at
        self.answered = answered
        if answered:
            return self._guarded(ScriptSession._enter_script, self.script)
        self._entry = True
        if self.config.answer_delay <= 0:
            return self._guarded(ScriptSession._answer)
        self.phase = RINGING
        return [Ring(), StartTimer(ANSWER_TIMER, self.config.answer_delay)]

    def handle(self, event: Event) -> list[Command]:
        """Commands in answer to one event (its ``at`` is the call's clock)."""
        if self.phase == ENDED:
            return []
        self._now = event.at
        handler = _HANDLERS.get(type(event))
        if handler is None:  # Answered, SpeechStopped: nothing to decide
            return []
        return self._guarded(handler, event)

    def _guarded(self, step: Callable[..., None], *args: Any) -> list[Command]:
        # Commands are collected as they are decided, so a failure half-way keeps what was already
        # decided (a cancelled timer, a stopped prompt) and adds the safe path after it.
        out: list[Command] = []
        self._out = out
        try:
            step(self, *args)
        except Exception as exc:  # a script error must never leave the call hanging
            self._fallback(exc)
        self._out = []
        return out

    def set_variables(self, **values: Any) -> None:
        """Change template variables mid-call (the agent typed the caller's surname, R-08). Always through
        here: rendered texts are cached by the variables' values."""
        self.variables.update(values)
        self._frozen = {}

    # ------------------------------------------------------------------ states

    def _answer(self) -> None:
        self._out.append(Answer())
        self.answered = True
        self._out.append(Note(ev.IVR_ANSWERED, {"rings": self.config.rings, "seconds": round(self._now, 3)}))
        self._out.append(StartRecording())
        self._enter_script(self.script)

    def _enter_script(self, script: Script) -> None:
        self._silences = 0
        self._begin(script)
        self._enter(script.start)

    def _begin(self, script: Script) -> None:
        """A new run of a script: its loop bounds count from zero. Silence steps run on across
        ``script:`` hand-overs (silent_call → silent_followup is one R-15 sequence); caller input, an
        agent answering and a script the agent starts reset them."""
        self.script = script
        self._visits = {}
        self._first_entry = {}

    def _enter(self, name: str) -> None:
        for _ in range(MAX_STEPS_WITHOUT_WAIT):
            state = self.script.states[name]
            if state.on_max is not None and self._over_bounds(state):
                target: Target | None = state.on_max
            else:
                target = self._start_state(state)
            if target is None:
                return
            next_state = self._resolve(target)
            if next_state is None:
                return
            name = next_state
        raise ScriptError(f"script {self.script.name!r}: more than {MAX_STEPS_WITHOUT_WAIT} steps without a wait")

    def _over_bounds(self, state: State) -> bool:
        """``max_visits``/``max_time``: visits and time since the first entry in this run of the script."""
        visits = self._visits[state.name] = self._visits.get(state.name, 0) + 1
        first = self._first_entry.setdefault(state.name, self._now)
        if state.max_visits is not None and visits > state.max_visits:
            return True
        return state.max_time is not None and self._now - first >= state.max_time.resolve(self.config.durations)

    def _start_state(self, state: State) -> Target | None:
        self.state = state
        out = self._out
        out.append(Note(ev.SCRIPT_STATE, {"script": self.script.name, "state": state.name}))
        if state.hold:
            out.append(Hold())
            self._held = True
        if state.unhold:  # always sent: a script may be started on a call someone else put on hold
            out.append(Unhold())
            self._held = False
        self._queue = self._prompts(state)
        if self._queue:
            self._play_next()
            return None
        return self._after_prompts(state)

    def _resolve(self, target: Target) -> str | None:
        """Follow a target; returns the next state of the current script to enter, or None when done here."""
        if target.is_done:
            self._script_done()
            return None
        other = target.script
        if other is not None:
            self._begin(self.library.script(other))
            return self.script.start
        return target.value

    def _follow(self, target: Target | None) -> None:
        if target is None:  # no branch for what happened: the script is over (the linter reports this)
            self._script_done()
            return
        next_state = self._resolve(target)
        if next_state is not None:
            self._enter(next_state)

    def _after_prompts(self, state: State) -> Target | None:
        """What a state does once its prompts are spoken; returns a target to follow at once, if any."""
        action = state.action
        self._playing = None
        out = self._out
        if isinstance(action, ListenAction):
            window = action.window
            seconds = window.seconds if window.ref is None else self.config.durations[window.ref]
            self._timer = f"w{next(self._ids)}"
            self._window = seconds
            self.phase = LISTENING
            out.append(Listen(seconds, state.listens_for_digits))
            out.append(StartTimer(self._timer, seconds))
            out.append(Note(ev.LISTEN_STARTED, {"seconds": seconds, "state": state.name}))
            return None
        if isinstance(action, GotoAction):
            return action.target
        if isinstance(action, TransferAction):
            self.phase = TRANSFERRING
            out.append(Transfer(self.config.default_group if action.group == CALL_GROUP else action.group))
            return None
        if isinstance(action, HangupAction):
            self.disposition = action.disposition
            self.released_by = "system"
            self.phase = ENDED
            out.append(Hangup(action.disposition))
            return None
        assert isinstance(action, EndAction)
        self._script_done()
        return None

    def _script_done(self) -> None:
        """The script finished (``end``/``done``). An IVR caller nobody has taken yet goes to the group."""
        self.scripts_finished += 1
        self.state = None
        self._playing = None
        if self._entry and not self.with_agent:
            self.phase = TRANSFERRING
            self._out.append(Transfer(self.config.default_group))
            return
        self.phase = IDLE


_HANDLERS: dict[type, Callable[[ScriptSession, Any], None]] = {
    PlaybackFinished: ScriptSession._playback_finished,
    TimerFired: ScriptSession._timer_fired,
    SpeechStarted: ScriptSession._speech,
    Digit: ScriptSession._digit,
    TransferResult: ScriptSession._transfer_result,
    ScriptRequested: ScriptSession._script_requested,
    ReleaseRequested: ScriptSession._release_requested,
    HungUp: ScriptSession._hung_up,
}
