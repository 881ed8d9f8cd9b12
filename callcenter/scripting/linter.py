"""The checks docs/design.md asks of every script library, each reported as ``file:line:col: message``.

Rules (R-numbers of docs/standards.md):
- ``load``: a file that does not load (malformed YAML, unknown state, template error …).
- ``unknown-prompt``: a ``say`` key with no wording in the default locale's chain.
- ``unknown-script``: a ``script:<name>`` target that names no script.
- ``unreachable``: a state no path from ``start`` reaches.
- ``dead-end``: a state from which no path leads out of the script (hang-up, end, done, another script,
  transfer).
- ``listen-silence``: a ``listen`` without a ``silence`` branch (R-15: what happens when the caller is silent).
- ``hangup-guard``: a hang-up not reached through the ``silence`` branch of a window of at least 5 s that
  follows an apology prompt (R-15, R-17, R-18, R-23 「不可以直接挂机」); in a ``closing`` script a ``normal``
  release after the farewell 「再见」 counts (R-47, R-48: the caller had the chance to hang up first).
- ``forbidden-phrase``: a prompt containing a phrase section 3 forbids (R-52 喂, R-53 不知道 …, R-54 fillers,
  R-59 你).
- ``missing-audio``: a prompt a script says has no audio file in a locale of ``scripts.required_audio_locales``
  (prompts with per-call variables are spoken by live TTS and exempt).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from callcenter.scripting.catalogue import Prompt
from callcenter.scripting.durations import configured_durations
from callcenter.scripting.errors import RenderError
from callcenter.scripting.library import ScriptLibrary
from callcenter.scripting.model import (
    EndAction,
    GotoAction,
    HangupAction,
    ListenAction,
    Mark,
    Script,
    State,
    TransferAction,
)
from callcenter.scripting.options import STANDARD_PAUSE_SECONDS, CentreOptions

# Section 3 of the standards: phrase → the rule that forbids it.
FORBIDDEN_PHRASES: dict[str, str] = {
    "喂": "R-52 never say 喂",
    "不知道": "R-53 never answer 不知道",
    "不归我们管": "R-53 never say 不归我们管",
    "不歸我管": "R-53 never say 不歸我管",
    "这与我无关": "R-53 never say 这与我无关",
    "这是地产公司的事": "R-53 never push the matter to another company",
    "我晕": "R-54 no verbal tics",
    "天啊": "R-54 no verbal tics",
    "怎么这样": "R-54 no verbal tics",
    "真是的": "R-54 no verbal tics",
    "啊": "R-54 no filler words",
    "嗯": "R-54 no filler words",
    "你": "R-59 always 您, never 你",
}
APOLOGY_WORDS = ("对不起", "抱歉", "请原谅", "不好意思")
FAREWELL_WORDS = ("再见",)


@dataclass(frozen=True, order=True, slots=True)
class Problem:
    path: str
    line: int
    col: int
    message: str
    rule: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


def _at(mark: Mark, message: str, rule: str) -> Problem:
    return Problem(mark.path, mark.line, mark.col, message, rule)


def lint(library: ScriptLibrary, centre: CentreOptions) -> list[Problem]:
    """Every problem of the library, sorted by place; ``centre`` gives the configured ``$name`` durations."""
    problems = [Problem(e.path or str(library.directory), e.line, e.col, e.message, "load") for e in library.errors]
    linter = _Linter(library, centre)
    for script in library.scripts.values():
        problems.extend(linter.script(script))
    problems.extend(linter.forbidden_phrases())
    problems.extend(linter.missing_audio())
    return sorted(set(problems))


class _Linter:
    def __init__(self, library: ScriptLibrary, centre: CentreOptions) -> None:
        self.library = library
        self.durations = configured_durations(centre)
        self.locale = library.options.default_locale

    # ------------------------------------------------------------------ per script

    def script(self, script: Script) -> Iterator[Problem]:
        yield from self._references(script)
        yield from self._reachability(script)
        for state in script.states.values():
            if isinstance(state.action, ListenAction) and "silence" not in state.on:
                yield _at(state.mark, f"state {state.name!r}: listen without a silence branch (R-15)", "listen-silence")
        yield from self._hangup_guard(script)

    def _references(self, script: Script) -> Iterator[Problem]:
        for state in script.states.values():
            for ref in state.say:
                if self._find(ref.key) is None:
                    yield _at(ref.mark, f"unknown prompt key {ref.key!r} (not in {self.locale})", "unknown-prompt")
            for target in state.targets():
                name = target.script
                if name is not None and name not in self.library.scripts:
                    yield _at(target.mark, f"unknown script {name!r}", "unknown-script")

    def _find(self, key: str) -> Prompt | None:
        try:
            return self.library.catalogues.find(key, self.locale)
        except RenderError:
            return None

    def _reachability(self, script: Script) -> Iterator[Problem]:
        seen = {script.start}
        todo = deque([script.start])
        while todo:
            for target in script.states[todo.popleft()].targets():
                name = target.state
                if name is not None and name not in seen:
                    seen.add(name)
                    todo.append(name)
        for name, state in script.states.items():
            if name not in seen:
                yield _at(state.mark, f"state {name!r} is unreachable from {script.start!r}", "unreachable")
        live = {name for name, state in script.states.items() if _leaves(state)}
        changed = True
        while changed:
            changed = False
            for name, state in script.states.items():
                if name not in live and any(t.state in live for t in state.targets()):
                    live.add(name)
                    changed = True
        for name, state in script.states.items():
            if name not in live:
                yield _at(state.mark, f"state {name!r} is a dead end: no path from it leaves the script", "dead-end")

    # ------------------------------------------------------------------ no direct hang-up

    def _hangup_guard(self, script: Script) -> Iterator[Problem]:
        incoming: dict[str, list[tuple[State, str]]] = {name: [] for name in script.states}
        for state in script.states.values():
            for branch, target in state.on.items():
                if target.state is not None:
                    incoming[target.state].append((state, branch))
            if isinstance(state.action, GotoAction) and state.action.target.state is not None:
                incoming[state.action.target.state].append((state, "goto"))
            if state.on_max is not None and state.on_max.state is not None:
                incoming[state.on_max.state].append((state, "on_max"))
        for state in script.states.values():
            if not isinstance(state.action, HangupAction):
                continue
            where = f"hang-up in state {state.name!r}"
            if state.say:
                yield _at(state.mark, f"{where} right after its own prompt leaves no 5 s window (R-23)", "hangup-guard")
                continue
            if not incoming[state.name]:
                yield _at(state.mark, f"{where} is not preceded by an apology and a 5 s window (R-23)", "hangup-guard")
            normal_close = script.closing and state.action.disposition == "normal"
            for source, branch in incoming[state.name]:
                problem = self._guard_problem(script, incoming, source, branch, normal_close)
                if problem:
                    yield _at(state.mark, f"{where} (from {source.name!r}): {problem}", "hangup-guard")

    def _guard_problem(
        self,
        script: Script,
        incoming: dict[str, list[tuple[State, str]]],
        source: State,
        branch: str,
        normal_close: bool,
    ) -> str | None:
        if branch != "silence" or not isinstance(source.action, ListenAction):
            return f"reached by {branch!r}, not by the silence of a window (R-23)"
        seconds = source.action.window.resolve(self.durations)
        if seconds < STANDARD_PAUSE_SECONDS:
            return f"its window is {seconds:g} s, the standards pause {STANDARD_PAUSE_SECONDS:g} s (R-15, R-18)"
        words = APOLOGY_WORDS + (FAREWELL_WORDS if normal_close else ())
        texts = self._last_prompts(script, incoming, source, set())
        if not texts:
            return "no apology prompt before its window (R-23)"
        for key, text in texts:
            if not any(word in text for word in words):
                return f"prompt {key!r} before the window is not an apology ({'/'.join(words)}) (R-23)"
        return None

    def _last_prompts(
        self, script: Script, incoming: dict[str, list[tuple[State, str]]], state: State, seen: set[str]
    ) -> list[tuple[str, str]]:
        """The last prompt spoken before ``state``'s window on every path into it."""
        if state.say:
            key = state.say[-1].key
            prompt = self._find(key)
            return [(key, prompt.source if prompt else "")]
        seen.add(state.name)
        out: list[tuple[str, str]] = []
        for source, _ in incoming[state.name]:
            if source.name not in seen:
                out.extend(self._last_prompts(script, incoming, source, seen))
        return out

    # ------------------------------------------------------------------ catalogues and audio

    def forbidden_phrases(self) -> Iterator[Problem]:
        for prompts in self.library.catalogues.prompts.values():
            for prompt in prompts.values():
                for phrase, rule in FORBIDDEN_PHRASES.items():
                    if phrase in prompt.source:
                        message = f"prompt {prompt.key!r} ({prompt.locale}) contains forbidden {phrase!r}: {rule}"
                        yield _at(prompt.mark, message, "forbidden-phrase")

    def missing_audio(self) -> Iterator[Problem]:
        required = self.library.options.required_audio_locales
        if not required:
            return
        used = sorted({ref.key for s in self.library.scripts.values() for st in s.states.values() for ref in st.say})
        for locale in required:
            try:
                self.library.catalogues.chain(locale)
            except RenderError as exc:
                message = f"scripts.required_audio_locales: {exc}"
                yield Problem(str(self.library.directory), 1, 1, message, "missing-audio")
                continue
            for key in used:
                prompt = self.library.catalogues.find(key, locale)
                if prompt is None or prompt.per_call:
                    continue
                # The session plays the audio of the locale the wording came from (the chain's first hit).
                if (prompt.locale, key) not in self.library.audio:
                    path = self.library.audio_path(prompt.locale, key)
                    message = f"prompt {key!r} has no audio for required locale {locale} (expected {path})"
                    yield _at(prompt.mark, message, "missing-audio")


def _leaves(state: State) -> bool:
    """A state whose own action or branches leave the script."""
    if isinstance(state.action, HangupAction | EndAction | TransferAction):
        return True
    return any(t.state is None for t in state.targets())


def format_problems(problems: Iterable[Problem]) -> str:
    return "\n".join(str(p) for p in problems)
