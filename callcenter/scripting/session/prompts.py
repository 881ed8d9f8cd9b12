"""What a session says: a state's prompts rendered up front, then played one after the other.

Every prompt of a state is rendered before the first is played, so a template error surfaces before anything
is said. A prompt lasts its audio file's length, or its text's estimate at ``chars_per_second``. A
:class:`~callcenter.scripting.protocol.PlaybackFinished` plays the next prompt or, after the last, does what
the state does next; the closing script's prompts mark the closing phrase as spoken (R-48).
"""

from __future__ import annotations

from callcenter.scripting.errors import ScriptError
from callcenter.scripting.model import State
from callcenter.scripting.protocol import Play, PlaybackFinished, Transfer
from callcenter.scripting.session.config import FALLBACK, FALLBACK_KEY, FALLBACK_TEXT, IDLE, PROMPTS, TRANSFERRING
from callcenter.scripting.session.state import SessionState


class Prompts(SessionState):
    __slots__ = ()

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
        if self.script.closing and not event.error:
            self.closing_said = True  # the closing phrase has been spoken (one not played was not said)
        if self._queue:
            self._play_next()
            return
        assert self.state is not None
        target = self._after_prompts(self.state)
        if target is not None:
            self._follow(target)

    def _apology(self) -> Play:
        try:
            return self._play(FALLBACK_KEY)
        except ScriptError:
            text = FALLBACK_TEXT
            duration = round(len(text) / self.config.chars_per_second, 3)
            return Play(f"p{next(self._ids)}", FALLBACK_KEY, text, self.locale, None, duration)
