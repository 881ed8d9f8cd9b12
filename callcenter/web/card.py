"""The script card: the exact words the agent should say now, rendered by the engine's prompt catalogue.

R-04 (greeting), R-08 (surname + honorific once known), R-12 (工号 or name per ``service.agent_label``). When
the session has prompted something on this call (a situation script is running), the card shows that
prompt's text exactly as the engine rendered it for the timeline; otherwise it renders the catalogue key that
fits where the call is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callcenter.config import Settings
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.errors import ScriptError
from callcenter.scripting.library import load_library
from callcenter.web.live import LiveCall
from callcenter.web.users import User

GREETING_KEY = "greeting.standard"
NAMED_KEY = "address.named"


@dataclass(frozen=True, slots=True)
class Card:
    key: str
    text: str
    hint: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "text": self.text, "hint": self.hint}


def script_label(settings: Settings, name: str) -> str:
    """A script's name for people: the Chinese part of its description (``无声电话 — R-15`` → 无声电话)."""
    try:
        script = load_library(settings.scripts.directory, settings.scripts).scripts.get(name)
    except ScriptError:
        return name
    if script is None or not getattr(script, "description", ""):
        return name
    return str(script.description).split("—")[0].strip() or name


def render(settings: Settings, key: str, locale: str, user: User, address: dict[str, str] | None) -> str:
    library = load_library(settings.scripts.directory, settings.scripts)
    variables = prompt_variables(
        settings.service,
        agent={"work_number": user.work_number, "name": user.display_name},
        caller=address or {},
    )
    return library.catalogues.render(key, locale, variables)


def script_card(settings: Settings, call: LiveCall | None, user: User, address: dict[str, str] | None) -> Card | None:
    """What to say now on ``call`` (None when there is no call to speak on)."""
    if call is None or call.phase in ("ivr", "queued", "ended"):
        return None
    try:
        if call.phase in ("talking", "hold") and call.prompt_text and call.script and call.script_state:
            return Card(call.prompt_key, call.prompt_text,
                        f"话术 {script_label(settings, call.script)} · {call.script_state}")
        if call.phase == "ringing":
            return Card(GREETING_KEY, render(settings, GREETING_KEY, call.locale, user, address),
                        "接听后请说 (say on answering, R-04)")
        if address and address.get("surname"):
            return Card(NAMED_KEY, render(settings, NAMED_KEY, call.locale, user, address),
                        "已知客户姓氏:称呼姓氏+先生/女士 (R-08)")
        return Card(GREETING_KEY, render(settings, GREETING_KEY, call.locale, user, address), "现在请说 (R-04)")
    except ScriptError as exc:
        return Card("", "", f"话术无法显示:{exc}")
