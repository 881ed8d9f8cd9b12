"""One call's script session: events in, commands out, no clock and no socket (STYLE.md §1).

A session is driven by :meth:`ScriptSession.start` and :meth:`ScriptSession.handle`; every wait is a
:class:`StartTimer` the driver turns into a :class:`TimerFired`. The rules of the service it enforces:

- R-01: an IVR entry rings, answers after the configured rings (a timer), records (R-numbers of section 6),
  then runs the script's first state.
- R-15 (DESIGN.md): a listening window starts when the last prompt has *finished*; caller speech or a digit
  in the window cancels its timer and takes the ``speech``/``dtmf`` branch; so does speech or a digit while a
  listening state's prompt is still playing (the prompt is stopped: "speech at any point ends the sequence").
- R-23: while a script marked ``no_direct_hangup`` runs, an agent's release is refused.
- R-48: on a normal call the agent may not release before the closing phrase has been spoken.
- A script error (an undefined variable at render time, an unknown script …) never leaves the call hanging:
  the session says the apology prompt and transfers the caller to the default group (or leaves the call with
  the agent who already has it), notes ``script.error`` and logs it with the call id.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from callcenter.scripting import notes as ev
from callcenter.scripting.catalogue import agent_variables
from callcenter.scripting.durations import configured_durations
from callcenter.scripting.errors import ScriptError
from callcenter.scripting.library import ScriptLibrary
from callcenter.scripting.model import (
    EndAction,
    GotoAction,
    HangupAction,
    ListenAction,
    Script,
    State,
    Target,
    TransferAction,
)
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
    StartRecording,
    StartTimer,
    StopPlayback,
    TimerFired,
    Transfer,
    TransferResult,
    Unhold,
)

log = structlog.get_logger(__name__)

ANSWER_TIMER = "answer"
# R-14 item 8 「对不起,请稍等」: said before the fallback transfer when the catalogue has no fallback.apology.
FALLBACK_KEY = "fallback.apology"
FALLBACK_TEXT = "对不起,请稍等"
# A chain of goto states without a prompt between them longer than this is a loop, not a script.
MAX_STEPS_WITHOUT_WAIT = 100

# What the session is waiting for.
RINGING, PROMPTS, LISTENING, TRANSFERRING, FALLBACK, IDLE, ENDED = (
    "ringing",
    "prompts",
    "listening",
    "transferring",
    "fallback",
    "idle",
    "ended",
)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What one session needs, as plain values; the edge fills it from the settings
    (``callcenter.calls.runner.session_config``). ``answer_delay``: seconds from offer to answer, from the
    ring cadence (``callcenter.calls.rings.cadence(...).answer_delay(rings)``)."""

    answer_delay: float = 0.0
    rings: int = 1
    default_group: str = "default"
    durations: Mapping[str, float] = field(default_factory=lambda: configured_durations(CentreOptions()))
    chars_per_second: float = 4.0
    agent_label: str = "work_number"


class ScriptSession:
    """The state machine of one call running the library's scripts."""

    __slots__ = (
        "_agents",
        "_entry",
        "_first_entry",
        "_frozen",
        "_held",
        "_ids",
        "_now",
        "_out",
        "_playing",
        "_queue",
        "_silences",
        "_timer",
        "_visits",
        "_window",
        "answered",
        "call_id",
        "closing_said",
        "config",
        "disposition",
        "library",
        "locale",
        "phase",
        "released_by",
        "script",
        "scripts_finished",
        "state",
        "variables",
        "with_agent",
    )
    script: Script
    state: State | None
    disposition: str | None
    released_by: str | None

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
        self._out = out = []
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

    def _prompts(self, state: State) -> list[Play]:
        """Render every prompt of a state up front, so a template error surfaces before anything is said."""
        if not state.say:
            return []
        escape = state.escape_digits
        return [self._play(ref.key, escape) for ref in state.say]

    def _play(self, key: str, escape: str = "") -> Play:
        prompt = self.library.catalogues.lookup(key, self.locale)
        text = prompt.constant if prompt.constant is not None else prompt.render(self.variables, self._frozen)
        audio = None if prompt.per_call else self.library.audio.get((prompt.locale, key))
        duration = audio if audio is not None else len(text) / self.config.chars_per_second
        return Play(
            f"p{next(self._ids)}",
            key,
            text,
            prompt.locale,
            key if audio is not None else None,
            round(duration, 3),
            escape,
        )

    def _play_next(self) -> None:
        play = self._queue.pop(0)
        self._playing = play.playback_id
        self.phase = PROMPTS
        self._out.append(play)

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
            out.append(Transfer(action.group))
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

    # ------------------------------------------------------------------ events

    def _playback_finished(self, event: PlaybackFinished) -> None:
        if event.playback_id != self._playing:
            return  # stopped earlier by barge-in, or not ours
        if self.phase == FALLBACK:
            self._playing = None
            if self.with_agent:
                self.phase = IDLE
            else:
                self.phase = TRANSFERRING
                self._out.append(Transfer(self.config.default_group))
            return
        if self.script.closing:
            self.closing_said = True  # the closing phrase has been spoken
        if self._queue:
            self._play_next()
            return
        assert self.state is not None
        target = self._after_prompts(self.state)
        if target is not None:
            self._follow(target)

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

    def _transfer_result(self, event: TransferResult) -> None:
        if event.status == "answered":
            self.with_agent = True
            self._silences = 0  # a new party on the line: R-15 steps count from the agent's greeting
            if event.agent:
                record = self._agents(event.agent) if self._agents else {"work_number": event.agent}
                self.set_variables(agent=agent_variables(record, self.config.agent_label))
        if self.phase != TRANSFERRING:
            return
        state = self.state
        if state is not None and isinstance(state.action, TransferAction):
            if event.status == "answered":
                self._follow(state.branch("answered") or Target("done", state.mark))
                return
            branch = state.branch("no_agent") if event.status in ("no_agent", "failed") else None
            if branch is not None:
                self._follow(branch)
                return
        # Without a branch the caller stays queued for the group, or is already gone.
        self.state = None
        self.phase = IDLE

    def _script_requested(self, event: ScriptRequested) -> None:
        if self.phase == RINGING:
            return  # nobody to speak to yet
        script = self.library.script(event.script)
        self._abandon_current()
        self._enter_script(script)

    def _abandon_current(self) -> None:
        """Stop what runs (a new script, a release, the safe path). A script cut short leaves nobody on
        hold music; one that finished on hold (``hold``: the agent looks something up) keeps it."""
        if self._held and self.state is not None:
            self._out.append(Unhold())
            self._held = False
        if self._timer is not None:
            self._out.append(CancelTimer(self._timer))
            self._timer = None
        if self._playing is not None:
            self._out.append(StopPlayback(self._playing))
            self._playing = None
        self._queue = []

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

    # ------------------------------------------------------------------ the safe path

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

    def _apology(self) -> Play:
        try:
            return self._play(FALLBACK_KEY)
        except ScriptError:
            text = FALLBACK_TEXT
            duration = round(len(text) / self.config.chars_per_second, 3)
            return Play(f"p{next(self._ids)}", FALLBACK_KEY, text, self.locale, None, duration)


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
