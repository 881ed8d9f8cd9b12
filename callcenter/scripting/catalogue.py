"""Prompt catalogues: the exact wording of every prompt, per locale, as sandboxed Jinja2 templates.

Templates run in a :class:`~jinja2.sandbox.SandboxedEnvironment` with ``StrictUndefined``: a template cannot
reach Python internals, and a missing variable is an error rather than an empty gap in a spoken sentence.
Caller-supplied values (a surname typed by the agent, a number) are passed as data and never compiled, so
``{{ 7*7 }}`` as a surname is spoken as those characters (tested). Prompts that use no per-call variable are
rendered once at load time: the wording is fixed and a call pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from callcenter.scripting.errors import RenderError, ScriptLoadError
from callcenter.scripting.model import Mark
from callcenter.scripting.options import CentreOptions

# The variables of docs/script-format.md: roots, and the attributes of the two records.
VARIABLES: Mapping[str, frozenset[str] | None] = {
    "hotline": None,
    "center": None,
    "agent": frozenset({"label", "work_number", "name"}),
    "caller": frozenset({"surname", "honorific", "address"}),
    "time_of_day": None,
    "greeting_time": None,
    "holiday": None,
}
# Fixed for a centre: a prompt that uses only these can be synthesised once (callcenter prompts build).
CENTRE_VARIABLES = frozenset({"hotline", "center"})
# R-08 / 000:215: how to address a caller whose name is not known yet.
UNKNOWN_CALLER_ADDRESS = "先生(女士)"

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True, slots=True)
class Prompt:
    key: str
    locale: str
    source: str
    mark: Mark
    variables: frozenset[str]
    template: Any = field(repr=False, compare=False)
    # The rendered text when the prompt uses no variable at all; None otherwise.
    constant: str | None = None
    # The variables it uses, in a fixed order (the render cache's key).
    roots: tuple[str, ...] = ()
    # Rendered texts by the values of the variables the prompt uses: a centre has one hotline and a few
    # hundred agents, so a busy IVR renders each greeting once per agent, not once per call.
    _rendered: dict[tuple[Any, ...], str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def per_call(self) -> bool:
        """True when the wording depends on the call (agent, caller, time), not only on the centre."""
        return not self.variables <= CENTRE_VARIABLES

    def render(self, variables: Mapping[str, Any], frozen: dict[str, Any] | None = None) -> str:
        """The text for these variables. ``frozen``: a dict the caller keeps per set of variables, in which
        their hashable forms are kept as they are first needed (a session freezes each value once, not once
        per prompt); it must be emptied when the variables change."""
        if self.constant is not None:
            return self.constant
        if frozen is None:
            frozen = {}
        try:
            key = []
            for name in self.roots:
                value = frozen.get(name, _MISSING)
                if value is _MISSING:
                    value = _frozen(variables.get(name, _MISSING))
                    frozen[name] = value
                key.append(value)
            text = self._rendered.get(tuple(key))
        except TypeError:  # a value that cannot be a key: render without the cache
            return self._render(variables)
        if text is None:
            text = self._render(variables)
            if len(self._rendered) >= RENDER_CACHE_SIZE:
                self._rendered.clear()
            self._rendered[tuple(key)] = text
        return text

    def _render(self, variables: Mapping[str, Any]) -> str:
        try:
            return str(self.template.render(variables))
        except TemplateError as exc:
            raise RenderError(
                f"prompt {self.key!r} ({self.locale}): {exc.message or exc}",
                self.mark.path,
                self.mark.line,
                self.mark.col,
            ) from None


RENDER_CACHE_SIZE = 4096
_MISSING = object()


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a variable's value (records are flat dicts of strings)."""
    if type(value) is str:
        return value
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def compile_prompt(key: str, locale: str, source: str, mark: Mark) -> Prompt:
    """Compile one template; a syntax error or an unknown variable is a ScriptLoadError at its place."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        line = mark.line + (exc.lineno or 1) - 1
        message = f"prompt {key!r}: template syntax error: {exc.message}"
        raise ScriptLoadError(message, mark.path, line, mark.col) from None
    used = _check_variables(key, tree, mark)
    template = _ENV.from_string(tree)
    constant = template.render({}) if not used else None
    return Prompt(key, locale, source, mark, frozenset(used), template, constant, tuple(sorted(used)))


def _check_variables(key: str, tree: nodes.Template, mark: Mark) -> set[str]:
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    used = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"} - assigned
    for name in sorted(used):
        if name not in VARIABLES:
            raise ScriptLoadError(
                f"prompt {key!r}: undefined variable {name!r} (known: {', '.join(VARIABLES)})",
                mark.path,
                mark.line,
                mark.col,
            )
    for attr in tree.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name) and attr.node.name in used:
            allowed = VARIABLES[attr.node.name]
            if allowed is None or attr.attr not in allowed:
                known = ", ".join(sorted(allowed or ()))
                raise ScriptLoadError(
                    f"prompt {key!r}: undefined variable {attr.node.name}.{attr.attr!s}"
                    + (f" (known: {known})" if known else ""),
                    mark.path,
                    mark.line,
                    mark.col,
                )
    return used


@dataclass
class Catalogues:
    """Every locale's prompts and the locale chains that say where a missing key is looked up next."""

    default_locale: str
    chains: Mapping[str, tuple[str, ...]]
    prompts: dict[str, dict[str, Prompt]] = field(default_factory=dict)
    _found: dict[tuple[str, str], Prompt] = field(default_factory=dict, repr=False)

    def add(self, prompt: Prompt) -> None:
        self.prompts.setdefault(prompt.locale, {})[prompt.key] = prompt
        self._found.clear()

    def locales(self) -> list[str]:
        return sorted(set(self.prompts) | set(self.chains) | {self.default_locale})

    def chain(self, locale: str) -> tuple[str, ...]:
        """The lookup order for ``locale`` (docs/design.md: dialect sets fall back toward Mandarin)."""
        if locale in self.chains:
            chain = self.chains[locale]
        elif locale in self.prompts or locale == self.default_locale:
            chain = (locale,)
        else:
            raise RenderError(f"unknown locale {locale!r} (known: {', '.join(self.locales())})")
        return chain if self.default_locale in chain else (*chain, self.default_locale)

    def find(self, key: str, locale: str) -> Prompt | None:
        found = self._found.get((key, locale))
        if found is not None:
            return found
        for candidate in self.chain(locale):
            prompt = self.prompts.get(candidate, {}).get(key)
            if prompt is not None:
                self._found[(key, locale)] = prompt  # the catalogues never change once loaded
                return prompt
        return None

    def lookup(self, key: str, locale: str) -> Prompt:
        prompt = self.find(key, locale)
        if prompt is None:
            looked = ", ".join(self.chain(locale))
            raise RenderError(f"unknown prompt key {key!r} in locale {locale!r} (looked in {looked})")
        return prompt

    def render(self, key: str, locale: str, variables: Mapping[str, Any]) -> str:
        return self.lookup(key, locale).render(variables)

    def keys(self, locales: Iterable[str] | None = None) -> set[str]:
        wanted = self.prompts if locales is None else {loc: self.prompts.get(loc, {}) for loc in locales}
        return {key for prompts in wanted.values() for key in prompts}


# ---------------------------------------------------------------- the variables of one call


def time_of_day(now: datetime) -> str:
    """上午/中午/下午/晚上 (R-150; the sources give no hour boundaries, these are the project's)."""
    h = now.hour
    if 5 <= h < 11:
        return "上午"
    if 11 <= h < 13:
        return "中午"
    if 13 <= h < 18:
        return "下午"
    return "晚上"


def greeting_time(now: datetime) -> str:
    """早上好/中午好/下午好/晚上好, the time-of-day greetings of 000:267 (R-150)."""
    return {"上午": "早上好", "中午": "中午好", "下午": "下午好", "晚上": "晚上好"}[time_of_day(now)]


def agent_variables(agent: Mapping[str, str], agent_label: str = "work_number") -> dict[str, str]:
    """``agent.*``: R-12, the agent is named by work number (工号) unless the centre chose display names."""
    work_number = str(agent.get("work_number", "") or "")
    name = str(agent.get("name", "") or "")
    label = name if agent_label == "name" and name else work_number
    return {"work_number": work_number, "name": name, "label": label}


def prompt_variables(
    centre: CentreOptions,
    *,
    hotline: str | None = None,
    agent: Mapping[str, str] | None = None,
    caller: Mapping[str, str] | None = None,
    now: datetime | None = None,
    holiday: str = "",
) -> dict[str, Any]:
    """The template variables of one call. Values left out stay undefined, so a prompt that needs them
    fails loudly (and the session falls back) instead of speaking a sentence with a hole in it."""
    out: dict[str, Any] = {"hotline": hotline or centre.hotline, "center": centre.center, "holiday": holiday}
    if agent is not None:
        out["agent"] = agent_variables(agent, centre.agent_label)
    surname = str((caller or {}).get("surname", "") or "")
    honorific = str((caller or {}).get("honorific", "") or "")
    # surname + honorific once the name is known, 先生(女士) before.
    address = f"{surname}{honorific or centre.female_honorific}" if surname else UNKNOWN_CALLER_ADDRESS
    out["caller"] = {"surname": surname, "honorific": honorific, "address": address}
    if now is not None:
        out["time_of_day"] = time_of_day(now)
        out["greeting_time"] = greeting_time(now)
    return out
