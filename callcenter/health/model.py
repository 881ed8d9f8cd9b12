"""What the health board says: components, each green / amber / red with a one-line reason and a measured value.

R-119 「每天…检查,并作好登记」 and 「随时检查…在线状态」: every check reduces to a :class:`Component`; a
:class:`HealthReport` is the set of them at one instant. A component that ``blocks_calls`` (the database, the
ARI websocket, the FastAGI listener) makes this process unable to take calls while it is red: that is what
``/readyz`` answers for a load balancer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Status.GREEN: 0, Status.AMBER: 1, Status.RED: 2}
LABELS = {Status.GREEN: "正常", Status.AMBER: "注意", Status.RED: "故障"}


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=lambda s: s.rank, default=Status.GREEN)


@dataclass(frozen=True, slots=True)
class Component:
    """One checked part of the service; ``value`` is what was measured (shown beside the reason)."""

    name: str
    status: Status
    reason: str
    value: str = ""
    group: str = ""
    blocks_calls: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "status": self.status.value,
            "label": LABELS[self.status],
            "reason": self.reason,
            "value": self.value,
            "blocks_calls": self.blocks_calls,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Component:
        return cls(str(data["name"]), Status(data["status"]), str(data.get("reason", "")), str(data.get("value", "")),
                   str(data.get("group", "")), bool(data.get("blocks_calls", False)), dict(data.get("detail") or {}))


@dataclass(frozen=True, slots=True)
class HealthReport:
    checked_at: datetime
    components: tuple[Component, ...]
    source: str = "service"  # "service": the running process; "local": what the CLI could check by itself

    @property
    def status(self) -> Status:
        return worst([c.status for c in self.components])

    @property
    def ready(self) -> bool:
        """False when a red component keeps this process from taking calls."""
        return not any(c.blocks_calls and c.status is Status.RED for c in self.components)

    @property
    def red(self) -> list[Component]:
        return [c for c in self.components if c.status is Status.RED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "status": self.status.value,
            "label": LABELS[self.status],
            "ready": self.ready,
            "source": self.source,
            "components": [c.as_dict() for c in self.components],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthReport:
        components = tuple(Component.from_dict(c) for c in data.get("components", []))
        return cls(datetime.fromisoformat(str(data["checked_at"])), components, str(data.get("source", "service")))
