"""The script model: what a loaded script is, independent of YAML (docs/script-format.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from callcenter.scripting.durations import Duration

# Where a value came from in its file (1-based), so every error and lint problem can point at it.


@dataclass(frozen=True, slots=True)
class Mark:
    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


# Special targets besides a state name: "done" ends the script; "script:<name>" starts another one.
DONE = "done"
SCRIPT_PREFIX = "script:"

Kind = Literal["entry", "situation"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a branch goes: a state of the same script, ``done``, or ``script:<name>``."""

    value: str
    mark: Mark
    # Derived from ``value`` once (sessions follow targets on every step).
    is_done: bool = field(init=False, default=False)
    script: str | None = field(init=False, default=None)
    state: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        value = self.value
        if value == DONE:
            object.__setattr__(self, "is_done", True)
        elif value.startswith(SCRIPT_PREFIX):
            object.__setattr__(self, "script", value[len(SCRIPT_PREFIX) :])
        else:
            object.__setattr__(self, "state", value)


@dataclass(frozen=True, slots=True)
class PromptRef:
    key: str
    mark: Mark


@dataclass(frozen=True, slots=True)
class ListenAction:
    window: Duration


@dataclass(frozen=True, slots=True)
class GotoAction:
    target: Target


# ``transfer: default`` hands the caller to the call's own group: its entry's (``[telephony.entries.*] group``) or,
# on a callback, its campaign's. Any other name is that agent group.
CALL_GROUP = "default"


@dataclass(frozen=True, slots=True)
class TransferAction:
    group: str


@dataclass(frozen=True, slots=True)
class HangupAction:
    disposition: str


@dataclass(frozen=True, slots=True)
class EndAction:
    pass


Action = ListenAction | GotoAction | TransferAction | HangupAction | EndAction

# The branches each action may have in ``on`` (``dtmf:<d>`` is checked separately).
BRANCHES: dict[type, frozenset[str]] = {
    ListenAction: frozenset({"speech", "dtmf", "silence"}),
    TransferAction: frozenset({"answered", "no_agent"}),
    GotoAction: frozenset(),
    HangupAction: frozenset(),
    EndAction: frozenset(),
}
ALL_DIGITS = "0123456789*#"
DTMF_DIGITS = frozenset(ALL_DIGITS)


@dataclass(frozen=True, slots=True)
class State:
    name: str
    mark: Mark
    action: Action
    say: tuple[PromptRef, ...] = ()
    hold: bool = False
    unhold: bool = False
    on: dict[str, Target] = field(default_factory=dict)
    max_visits: int | None = None
    # Seconds since the state was first entered in this run of its script (the dialect loop's $dialect_max).
    max_time: Duration | None = None
    on_max: Target | None = None
    # Derived once at load (the session asks for them on every prompt and window).
    escape_digits: str = field(init=False, default="")
    listens_for_digits: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        digits = [b[5:] for b in self.on if b.startswith("dtmf:")]
        escape = ALL_DIGITS if "dtmf" in self.on else "".join(digits)
        if not isinstance(self.action, ListenAction):
            escape = ""
        object.__setattr__(self, "escape_digits", escape)
        object.__setattr__(self, "listens_for_digits", bool(escape))

    def branch(self, name: str) -> Target | None:
        return self.on.get(name)

    def digit_branch(self, digit: str) -> Target | None:
        """``dtmf:<d>`` wins over ``dtmf`` (docs/script-format.md)."""
        return self.on.get(f"dtmf:{digit}") or self.on.get("dtmf")

    def targets(self) -> list[Target]:
        out = list(self.on.values())
        if isinstance(self.action, GotoAction):
            out.append(self.action.target)
        if self.on_max is not None:
            out.append(self.on_max)
        return out


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    path: str
    mark: Mark
    kind: Kind
    start: str
    states: dict[str, State]
    description: str = ""
    # R-23 「不可以直接挂机」: while this script runs, an agent's release is refused.
    no_direct_hangup: bool = False
    # this script speaks the closing phrase; after its first prompt an agent may release.
    closing: bool = False

    def state(self, name: str) -> State:
        return self.states[name]
