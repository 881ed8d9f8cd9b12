"""Durations as scripts write them: ``500ms``, ``5s``, ``2m``, or ``$name`` for one the centre configures."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from callcenter.scripting.options import CentreOptions

_LITERAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0}

# The names a script may use after ``$`` and the CentreOptions field each one reads.
CONFIGURED: Mapping[str, str] = {
    "dialect_recheck": "dialect_recheck_seconds",
    "dialect_max": "dialect_max_seconds",
    "caller_hangup_wait": "caller_hangup_wait_seconds",
}


@dataclass(frozen=True, slots=True)
class Duration:
    """A literal number of seconds, or a reference to a configured duration resolved per session."""

    seconds: float = 0.0
    ref: str | None = None

    def resolve(self, configured: Mapping[str, float]) -> float:
        return self.seconds if self.ref is None else configured[self.ref]

    def __str__(self) -> str:
        return f"${self.ref}" if self.ref else f"{self.seconds:g}s"


def parse_duration(text: object) -> Duration:
    """Parse one duration; a ValueError says what is accepted."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like 5s, 500ms, 2m or $name, got {text!r}")
    if isinstance(text, int | float):
        raise ValueError(f"a duration needs a unit: write {text}s, not {text}")
    if not isinstance(text, str):
        raise ValueError(f"expected a duration like 5s, 500ms, 2m or $name, got {text!r}")
    if text.startswith("$"):
        name = text[1:]
        if name not in CONFIGURED:
            raise ValueError(f"unknown configured duration ${name}; known: {', '.join('$' + n for n in CONFIGURED)}")
        return Duration(ref=name)
    m = _LITERAL.match(text)
    if not m:
        raise ValueError(f"expected a duration like 5s, 500ms, 2m or $name, got {text!r}")
    return Duration(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def configured_durations(centre: CentreOptions) -> dict[str, float]:
    """The ``$name`` durations of one centre, from its options."""
    return {name: float(getattr(centre, field)) for name, field in CONFIGURED.items()}
