"""What one session holds: the fields every concern of the session reads and writes.

:class:`SessionState` is the base of the session's parts (``prompts``, ``listening``, ``handover``,
``ending``) and of :class:`~callcenter.scripting.session.machine.ScriptSession`, which assembles them. It
declares the fields once (as ``__slots__``: a busy IVR holds thousands of sessions) and names the steps one
part asks of another, so each part can be read, and type-checked, on its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from callcenter.scripting.library import ScriptLibrary
from callcenter.scripting.model import Script, State, Target
from callcenter.scripting.protocol import Command, Play
from callcenter.scripting.session.config import SessionConfig


class SessionState:
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
    library: ScriptLibrary
    call_id: str
    locale: str
    variables: dict[str, Any]
    config: SessionConfig
    script: Script
    state: State | None
    phase: str
    disposition: str | None
    released_by: str | None
    with_agent: bool
    closing_said: bool
    scripts_finished: int
    answered: bool
    _agents: Callable[[str], Mapping[str, str]] | None
    _frozen: dict[str, Any]
    _entry: bool
    _held: bool
    _queue: list[Play]
    _playing: str | None
    _timer: str | None
    _window: float
    _silences: int
    _visits: dict[str, int]
    _first_entry: dict[str, float]
    _ids: itertools.count[int]
    _now: float
    _out: list[Command]

    # The steps one part of the session asks of another (each defined once, in the part named).

    def set_variables(self, **values: Any) -> None:  # machine
        raise NotImplementedError

    def _answer(self) -> None:  # machine
        raise NotImplementedError

    def _enter_script(self, script: Script) -> None:  # machine
        raise NotImplementedError

    def _after_prompts(self, state: State) -> Target | None:  # machine
        raise NotImplementedError

    def _follow(self, target: Target | None) -> None:  # machine
        raise NotImplementedError

    def _prompts(self, state: State) -> list[Play]:  # prompts
        raise NotImplementedError

    def _play(self, key: str, escape: str = "") -> Play:  # prompts
        raise NotImplementedError

    def _play_next(self) -> None:  # prompts
        raise NotImplementedError

    def _apology(self) -> Play:  # prompts
        raise NotImplementedError

    def _abandon_current(self) -> None:  # handover
        raise NotImplementedError

    def _fallback(self, exc: Exception) -> None:  # ending
        raise NotImplementedError
