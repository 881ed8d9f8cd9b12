"""YAML → script model, with every error pointing at ``file:line:col`` (docs/script-format.md).

``yaml.compose`` keeps each node's position, so the loader walks nodes rather than the plain data that
``safe_load`` returns; it also rejects duplicate keys, which ``safe_load`` would silently collapse. This is
the one module of the engine that reads files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from callcenter.scripting.durations import Duration, parse_duration
from callcenter.scripting.errors import ScriptLoadError
from callcenter.scripting.model import (
    BRANCHES,
    DONE,
    DTMF_DIGITS,
    SCRIPT_PREFIX,
    Action,
    EndAction,
    GotoAction,
    HangupAction,
    Kind,
    ListenAction,
    Mark,
    PromptRef,
    Script,
    State,
    Target,
    TransferAction,
)

SCRIPT_KEYS = frozenset({"name", "description", "kind", "start", "states", "no_direct_hangup", "closing"})
STATE_KEYS = frozenset(
    {"say", "hold", "unhold", "listen", "goto", "transfer", "hangup", "end", "on", "max_visits", "max_time", "on_max"}
)
ACTION_KEYS = ("listen", "goto", "transfer", "hangup", "end")
_NULL_TAG = "tag:yaml.org,2002:null"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def mark_of(path: str, node: Node) -> Mark:
    return Mark(path, node.start_mark.line + 1, node.start_mark.column + 1)


def fail(path: str, node: Node, message: str) -> ScriptLoadError:
    m = mark_of(path, node)
    return ScriptLoadError(message, m.path, m.line, m.col)


def compose_text(text: str, path: str) -> Node | None:
    """Parse YAML into nodes; a syntax error becomes a ScriptLoadError at the problem's position."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        raise ScriptLoadError(f"malformed YAML: {problem}", path, line, col) from None
    except yaml.YAMLError as exc:
        raise ScriptLoadError(f"malformed YAML: {exc}", path, 1, 1) from None


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptLoadError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ScriptLoadError(f"not UTF-8 text ({exc.reason})", str(path), 1, 1) from None


def plain(node: Node) -> Any:
    """The Python value of a node (scalars typed the YAML 1.1 way: 5 → int, true → bool)."""
    return SafeConstructor().construct_object(node, deep=True)


def pairs(path: str, node: Node, what: str) -> Iterator[tuple[str, Node, Node]]:
    """(key, key node, value node) of a mapping; non-string and duplicate keys are errors."""
    if not isinstance(node, MappingNode):
        raise fail(path, node, f"{what} must be a mapping")
    seen: set[str] = set()
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            raise fail(path, key_node, f"{what}: keys must be plain strings")
        # The raw text: YAML 1.1 would read the key ``on`` (every branch table) as the boolean true.
        key = key_node.value
        if key in seen:
            raise fail(path, key_node, f"{what}: duplicate key {key!r}")
        seen.add(key)
        yield key, key_node, value_node


def string(path: str, node: Node, what: str) -> str:
    # Raw text for the same reason as keys: a state or group named ``on``, ``no`` or ``110`` stays a string.
    value = node.value if isinstance(node, ScalarNode) and node.tag != _NULL_TAG else None
    if not isinstance(value, str) or not value:
        raise fail(path, node, f"{what} must be a non-empty string")
    return value


def boolean(path: str, node: Node, what: str) -> bool:
    value = plain(node) if isinstance(node, ScalarNode) else None
    if not isinstance(value, bool):
        raise fail(path, node, f"{what} must be true or false")
    return value


# ---------------------------------------------------------------- scripts


def load_script(path: Path) -> Script:
    return parse_script(read_text(path), str(path), expected_name=path.stem)


def parse_script(text: str, path: str, expected_name: str | None = None) -> Script:
    root = compose_text(text, path)
    if root is None:
        raise ScriptLoadError("empty script file", path, 1, 1)
    fields: dict[str, tuple[Node, Node]] = {}
    for key, key_node, value_node in pairs(path, root, "a script"):
        if key not in SCRIPT_KEYS:
            raise fail(path, key_node, f"unknown script key {key!r}; expected one of {', '.join(sorted(SCRIPT_KEYS))}")
        fields[key] = (key_node, value_node)
    for required in ("name", "states"):
        if required not in fields:
            raise fail(path, root, f"a script needs {required!r}")
    name = string(path, fields["name"][1], "name")
    if expected_name is not None and name != expected_name:
        raise fail(path, fields["name"][1], f"name {name!r} must equal the file name {expected_name!r}")
    kind: Kind = "situation"
    if "kind" in fields:
        text = string(path, fields["kind"][1], "kind")
        if text not in ("entry", "situation"):
            raise fail(path, fields["kind"][1], f"kind must be 'entry' or 'situation', not {text!r}")
        kind = "entry" if text == "entry" else "situation"
    states = _states(path, fields["states"][1])
    start = next(iter(states))
    if "start" in fields:
        start = string(path, fields["start"][1], "start")
        if start not in states:
            raise fail(path, fields["start"][1], f"start: unknown state {start!r}")
    for state in states.values():
        for target in state.targets():
            if target.state is not None and target.state not in states:
                raise ScriptLoadError(
                    f"state {state.name!r}: unknown state {target.value!r} (known: {', '.join(states)})",
                    target.mark.path,
                    target.mark.line,
                    target.mark.col,
                )
    return Script(
        name=name,
        path=path,
        mark=mark_of(path, root),
        kind=kind,
        start=start,
        states=states,
        description=str(plain(fields["description"][1]) or "") if "description" in fields else "",
        no_direct_hangup=_flag(path, fields, "no_direct_hangup"),
        closing=_flag(path, fields, "closing"),
    )


def _flag(path: str, fields: dict[str, tuple[Node, Node]], key: str) -> bool:
    return key in fields and boolean(path, fields[key][1], key)


def _states(path: str, node: Node) -> dict[str, State]:
    states: dict[str, State] = {}
    for name, key_node, value_node in pairs(path, node, "states"):
        if not _NAME.match(name) or name == DONE or name.startswith(SCRIPT_PREFIX):
            raise fail(path, key_node, f"{name!r} is not a usable state name")
        states[name] = _state(path, name, key_node, value_node)
    if not states:
        raise fail(path, node, "a script needs at least one state")
    return states


def _state(path: str, name: str, key_node: Node, node: Node) -> State:
    where = f"state {name!r}"
    fields: dict[str, tuple[Node, Node]] = {}
    for key, k_node, v_node in pairs(path, node, where):
        if key not in STATE_KEYS:
            raise fail(path, k_node, f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(STATE_KEYS))}")
        fields[key] = (k_node, v_node)
    actions = [k for k in ACTION_KEYS if k in fields]
    if len(actions) != 1:
        found = ", ".join(actions) or "none"
        raise fail(path, key_node, f"{where}: needs exactly one of {', '.join(ACTION_KEYS)} (found {found})")
    action = _action(path, where, actions[0], fields[actions[0]][1])
    on: dict[str, Target] = {}
    if "on" in fields:
        allowed = BRANCHES[type(action)]
        for branch, b_node, t_node in pairs(path, fields["on"][1], f"{where}: on"):
            digit = branch.partition(":")[2] if branch.startswith("dtmf:") else None
            if digit is not None and isinstance(action, ListenAction):
                if len(digit) != 1 or digit not in DTMF_DIGITS:
                    raise fail(path, b_node, f"{where}: {branch!r} needs one digit of 0-9, * or #")
            elif branch not in allowed:
                hint = ", ".join(sorted(allowed)) or "none"
                raise fail(path, b_node, f"{where}: branch {branch!r} does not apply to {actions[0]} (allowed: {hint})")
            on[branch] = _target(path, t_node, f"{where}: on.{branch}")
    max_visits, max_time, on_max = _bounds(path, where, fields)
    return State(
        name=name,
        mark=mark_of(path, key_node),
        action=action,
        say=_say(path, where, fields["say"][1]) if "say" in fields else (),
        hold="hold" in fields and boolean(path, fields["hold"][1], f"{where}: hold"),
        unhold="unhold" in fields and boolean(path, fields["unhold"][1], f"{where}: unhold"),
        on=on,
        max_visits=max_visits,
        max_time=max_time,
        on_max=on_max,
    )


def _bounds(
    path: str, where: str, fields: dict[str, tuple[Node, Node]]
) -> tuple[int | None, Duration | None, Target | None]:
    """``max_visits`` and/or ``max_time`` bound a loop; both need ``on_max``, which needs one of them."""
    max_visits = max_time = None
    if "max_visits" in fields:
        v_node = fields["max_visits"][1]
        max_visits = plain(v_node) if isinstance(v_node, ScalarNode) else None
        if not isinstance(max_visits, int) or isinstance(max_visits, bool) or max_visits < 1:
            raise fail(path, v_node, f"{where}: max_visits must be a positive integer")
    if "max_time" in fields:
        t_node = fields["max_time"][1]
        try:
            max_time = parse_duration(plain(t_node))
        except ValueError as exc:
            raise fail(path, t_node, f"{where}: max_time: {exc}") from None
    bounded = max_visits is not None or max_time is not None
    if bounded and "on_max" not in fields:
        key = "max_visits" if "max_visits" in fields else "max_time"
        raise fail(path, fields[key][0], f"{where}: {key} needs on_max (where to go after it)")
    if not bounded and "on_max" in fields:
        raise fail(path, fields["on_max"][0], f"{where}: on_max needs max_visits or max_time")
    on_max = _target(path, fields["on_max"][1], f"{where}: on_max") if bounded else None
    return max_visits, max_time, on_max


def _action(path: str, where: str, key: str, node: Node) -> Action:
    if key == "listen":
        try:
            window = parse_duration(plain(node))
        except ValueError as exc:
            raise fail(path, node, f"{where}: listen: {exc}") from None
        return ListenAction(window)
    if key == "goto":
        return GotoAction(_target(path, node, f"{where}: goto"))
    if key == "transfer":
        return TransferAction(string(path, node, f"{where}: transfer"))
    if key == "hangup":
        return HangupAction(string(path, node, f"{where}: hangup"))
    if not boolean(path, node, f"{where}: end"):
        raise fail(path, node, f"{where}: end must be true (leave it out otherwise)")
    return EndAction()


def _target(path: str, node: Node, what: str) -> Target:
    value = string(path, node, what)
    if value.startswith(SCRIPT_PREFIX) and not _NAME.match(value[len(SCRIPT_PREFIX) :]):
        raise fail(path, node, f"{what}: {value!r} does not name a script")
    return Target(value, mark_of(path, node))


def _say(path: str, where: str, node: Node) -> tuple[PromptRef, ...]:
    items = node.value if isinstance(node, SequenceNode) else [node]
    if not items:
        raise fail(path, node, f"{where}: say needs at least one prompt key")
    return tuple(PromptRef(string(path, item, f"{where}: say"), mark_of(path, item)) for item in items)


# ---------------------------------------------------------------- prompt catalogues


def load_prompt_file(path: Path) -> list[tuple[str, str, Mark]]:
    """(key, template source, mark of the value) for every prompt of one catalogue file."""
    return parse_prompts(read_text(path), str(path))


def parse_prompts(text: str, path: str) -> list[tuple[str, str, Mark]]:
    root = compose_text(text, path)
    if root is None:
        return []
    out = []
    for key, key_node, value_node in pairs(path, root, "a prompt catalogue"):
        if not _NAME.match(key):
            raise fail(path, key_node, f"{key!r} is not a usable prompt key")
        value = plain(value_node) if isinstance(value_node, ScalarNode) else None
        if not isinstance(value, str) or not value.strip():
            raise fail(path, value_node, f"prompt {key!r} must be a non-empty string")
        out.append((key, value, _text_mark(path, value_node)))
    return out


def _text_mark(path: str, node: Node) -> Mark:
    # A block scalar (| or >) starts on the line after its indicator; point at its first character.
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        return Mark(path, node.start_mark.line + 2, 1)
    return mark_of(path, node)


# ---------------------------------------------------------------- prompt audio


def audio_seconds(path: Path) -> float:
    """Length of a WAV file from its header (no decoding); a broken file is a ScriptLoadError."""
    import wave

    try:
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            return wav.getnframes() / rate if rate else 0.0
    except (wave.Error, EOFError, OSError) as exc:
        raise ScriptLoadError(f"unreadable WAV file: {exc}", str(path), 1, 1) from None
