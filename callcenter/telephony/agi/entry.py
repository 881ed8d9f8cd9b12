"""Which script a FastAGI call runs: ``agi://host:4573/<entry>`` → ``settings.telephony.entries[<entry>]``.

A call whose entry is unknown (a dialplan typo, a new DID nobody configured) is never dropped: it rings and is
answered like any call, hears the apology (R-14 「对不起,请稍等」, catalogue key ``fallback.apology``) and is
handed to the default agent group through the ``agent_queue`` script, whose queue prompts and bounds apply
(:class:`UnknownEntrySession`). The mistake is logged and noted on the timeline as ``script.error``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from callcenter.calls import events as ev
from callcenter.config import EntrySettings, Settings
from callcenter.logs import get_logger
from callcenter.scripting.errors import ScriptError
from callcenter.scripting.library import ScriptLibrary
from callcenter.scripting.protocol import (
    Answer,
    Command,
    Event,
    HungUp,
    Note,
    Play,
    PlaybackFinished,
    Ring,
    StartRecording,
    StartTimer,
    TimerFired,
    Transfer,
)
from callcenter.scripting.session import FALLBACK_KEY, FALLBACK_TEXT, ScriptSession, SessionConfig

log = get_logger(__name__)

QUEUE_SCRIPT = "agent_queue"
_CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class EntryChoice:
    name: str
    entry: EntrySettings
    known: bool


def entry_name(env: dict[str, str]) -> str:
    """The entry: FastAGI's ``agi_network_script`` (``main`` of ``agi://127.0.0.1:4573/main?x=1``); for classic
    AGI (``AGI(/usr/local/bin/callcenter-agi,main)``) the first argument."""
    script = env.get("agi_network_script")
    if script is None:
        return env.get("agi_arg_1", "").strip()
    return script.split("?", 1)[0].strip("/")


def choose_entry(settings: Settings, env: dict[str, str]) -> EntryChoice:
    name = entry_name(env)
    entry = settings.entry(name)
    if entry is not None:
        return EntryChoice(name, entry, True)
    fallback = EntrySettings(
        script=QUEUE_SCRIPT,
        locale=settings.scripts.default_locale,
        hotline=settings.service.hotline,
        group=settings.telephony.default_group,
    )
    return EntryChoice(name, fallback, False)


def call_id_from(env: dict[str, str]) -> str:
    """Asterisk's ``agi_uniqueid`` when it is a safe single path component (it names the recording file);
    otherwise a fresh id, so a hostile value never reaches a path."""
    unique = env.get("agi_uniqueid", "")
    if _CALL_ID.match(unique) and ".." not in unique:
        return unique
    return f"agi-{uuid.uuid4().hex[:16]}"


def build_session(
    library: ScriptLibrary,
    choice: EntryChoice,
    *,
    call_id: str,
    config: SessionConfig,
    variables: dict[str, Any],
    agents: Callable[[str], Mapping[str, str]] | None = None,
) -> ScriptSession | UnknownEntrySession:
    """The script session of an entry; an unknown entry (or an entry naming a missing script) gets the
    apology-then-queue session."""
    if choice.known:
        try:
            return ScriptSession(
                library, choice.entry.script, call_id=call_id, locale=choice.entry.locale,
                variables=variables, config=config, agents=agents,
            )
        except ScriptError as exc:
            log.error("agi.entry_script_missing", call_id=call_id, entry=choice.name, error=str(exc))
            reason = f"entry {choice.name!r}: {exc}"
    else:
        log.error("agi.unknown_entry", call_id=call_id, entry=choice.name)
        reason = f"unknown entry {choice.name!r}"
    return UnknownEntrySession(
        library, call_id=call_id, locale=choice.entry.locale, config=config, variables=variables, reason=reason,
        agents=agents,
    )


class UnknownEntrySession:
    """Ring, answer, record, apologise, then the ``agent_queue`` script for the default group (never a drop)."""

    ANSWER_TIMER = "answer"
    APOLOGY_ID = "apology"

    def __init__(
        self,
        library: ScriptLibrary,
        *,
        call_id: str,
        locale: str,
        config: SessionConfig,
        variables: dict[str, Any],
        reason: str,
        agents: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        self.library = library
        self.call_id = call_id
        self.locale = locale
        self.config = config
        self.reason = reason
        self.inner: ScriptSession | None = None
        try:
            self.inner = ScriptSession(
                library, QUEUE_SCRIPT, call_id=call_id, locale=locale, variables=variables, config=config,
                agents=agents,
            )
        except ScriptError:
            self.inner = None  # no queue script in this library: a plain transfer to the group
        self._ended = False
        self._disposition: str | None = None
        self._by: str | None = None

    @property
    def finished(self) -> bool:
        return self.inner.finished if self.inner is not None and self.inner.answered else self._ended

    @property
    def disposition(self) -> str | None:
        return self.inner.disposition if self.inner is not None and self.inner.disposition else self._disposition

    @property
    def released_by(self) -> str | None:
        return self.inner.released_by if self.inner is not None and self.inner.released_by else self._by

    def start(self, *, answered: bool = False, at: float = 0.0) -> list[Command]:
        if answered:
            return self._apology()
        if self.config.answer_delay <= 0:
            return self._answer(at)
        return [Ring(), StartTimer(self.ANSWER_TIMER, self.config.answer_delay)]

    def handle(self, event: Event) -> list[Command]:
        if self.finished:
            return []
        if self.inner is not None and self.inner.answered:
            return self.inner.handle(event)
        if isinstance(event, HungUp):
            self._ended = True
            self._disposition = "abandoned"
            self._by = event.by
            return []
        if isinstance(event, TimerFired) and event.name == self.ANSWER_TIMER:
            return self._answer(event.at)
        if isinstance(event, PlaybackFinished) and event.playback_id == self.APOLOGY_ID:
            if self.inner is not None:
                return self.inner.start(answered=True, at=event.at)
            return [Transfer(self.config.default_group)]
        return []

    def _answer(self, at: float) -> list[Command]:
        return [
            Answer(),
            Note(ev.IVR_ANSWERED, {"rings": self.config.rings, "seconds": round(at, 3)}),
            StartRecording(),
            *self._apology(),
        ]

    def _apology(self) -> list[Command]:
        try:
            prompt = self.library.catalogues.lookup(FALLBACK_KEY, self.locale)
            text = prompt.render({})
            audio_seconds = self.library.audio.get((prompt.locale, FALLBACK_KEY))
            locale = prompt.locale
        except Exception:
            text, audio_seconds, locale = FALLBACK_TEXT, None, self.locale
        duration = audio_seconds if audio_seconds is not None else len(text) / self.config.chars_per_second
        audio = FALLBACK_KEY if audio_seconds is not None else None
        note = Note(ev.SCRIPT_ERROR, {"script": None, "state": None, "message": self.reason})
        return [note, Play(self.APOLOGY_ID, FALLBACK_KEY, text, locale, audio, round(duration, 3))]
