"""What the agent's call control (hold, resume, mute, DTMF, hang-up, transfers) returns, in any process.

The panel's HTTP API (:mod:`callcenter.web.call_control`) asks the process that holds the live call to act
(:class:`callcenter.web.control.CallControl`); the ARI application carries the action out. Both sides, and a
command carried to another process, speak these two types: a result is plain JSON (``as_dict`` /
``from_dict``) so it crosses a process boundary unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callcenter.errors import CallcenterError

# Every action the panel takes on a live call lands on the timeline as ``control.<action>`` (events.py).
EVENT_PREFIX = "control."


@dataclass(frozen=True, slots=True)
class ControlResult:
    """``status`` is the HTTP status the panel gets: 200 done (or handed to the session, which decides),
    404 the call is not live in this process, 409 the call is not in a state that allows the action."""

    status: int = 200
    state: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "state": dict(self.state), "error": self.error}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlResult:
        return cls(int(data.get("status", 500)), dict(data.get("state") or {}), str(data.get("error", "")))


class ControlRefused(CallcenterError):
    """The live call cannot take this action now (one line for the agent); ``status`` 409 or 404."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status

    def result(self) -> ControlResult:
        return ControlResult(self.status, error=str(self))
