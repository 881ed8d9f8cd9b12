"""A session's options and its fixed names: phases, the answer timer, the fallback apology."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callcenter.scripting.durations import configured_durations
from callcenter.scripting.options import CentreOptions

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
