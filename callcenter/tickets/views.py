"""What the tickets service hands out: who is asking (:class:`Viewer`) and read-only views of orders.

Views are frozen copies of the rows, made inside the caller's unit of work, so a page or a report can keep
them after the session is closed and no caller can change an order except through the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcenter.tickets.deadlines import iso
from callcenter.tickets.models import WorkOrder

# Roles that see confidential orders without an individual grant (the web accounts' roles, R-82/R-143).
CONFIDENTIAL_ROLES = frozenset({"supervisor", "admin"})


@dataclass(frozen=True)
class Viewer:
    """Who is asking. ``confidential_access`` is an individual grant (R-82); some roles hold it by default."""

    name: str
    role: str
    confidential_access: bool = False
    confidential_roles: frozenset[str] = CONFIDENTIAL_ROLES

    @property
    def can_see_confidential(self) -> bool:
        return self.confidential_access or self.role in self.confidential_roles


SYSTEM = Viewer("system", "system", confidential_access=True)


@dataclass(frozen=True)
class OrderFacts:
    """What recording retention needs of a linked order (docs/design.md, retention)."""

    number: str
    is_complaint: bool
    accepted_at: datetime
    closed_at: datetime | None
    confidential: bool


@dataclass(frozen=True)
class SlaOutcome:
    number: str
    deadline: str
    due_at: datetime
    met_at: datetime | None
    met: bool | None  # None: still open and not yet due


@dataclass(frozen=True)
class CallbackStat:
    level: int
    target_rate: float  # R-94 floor: 1.0, 0.10, 0.05
    orders_closed: int  # orders closed in the period (the population)
    due: int  # callbacks of this level created for them
    done: int  # of those, completed (customer reached)
    sampling_rate: float  # due / orders_closed (0.0 when nothing closed)


@dataclass(frozen=True)
class DeadlineView:
    name: str
    title: str
    limit: str
    clock: str
    anchor: str
    due_at: datetime | None
    met_at: datetime | None
    escalated_at: datetime | None
    provisional: bool
    source: str

    def overdue(self, now: datetime) -> bool:
        return self.met_at is None and self.due_at is not None and self.due_at < now


@dataclass(frozen=True)
class CallbackView:
    level: int
    due_at: datetime | None
    done_at: datetime | None
    attempts: int
    agent: str | None
    satisfaction: str | None


@dataclass(frozen=True)
class OrderView:
    number: str
    category: str
    subcategory: str | None
    major: bool
    status: str
    channel: str
    caller_number: str | None
    caller_name: str | None
    summary: str
    details: str
    owner: str
    department: str | None
    assignee: str | None
    confidential: bool
    policy: str
    accepted_at: datetime
    first_contacted_at: datetime | None
    replied_at: datetime | None
    closed_at: datetime | None
    version: int
    deadlines: tuple[DeadlineView, ...]
    calls: tuple[str, ...]
    recordings: tuple[str, ...]
    callbacks: tuple[CallbackView, ...]

    def as_json(self, tz: Any, now: datetime | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            k: getattr(self, k)
            for k in ("number", "category", "subcategory", "major", "status", "channel", "caller_number",
                      "caller_name", "summary", "details", "owner", "department", "assignee", "confidential",
                      "policy", "version")
        }
        for k in ("accepted_at", "first_contacted_at", "replied_at", "closed_at"):
            out[k] = iso(getattr(self, k), tz)
        out["deadlines"] = [
            {"name": d.name, "title": d.title, "limit": d.limit, "clock": d.clock, "anchor": d.anchor,
             "due_at": iso(d.due_at, tz), "met_at": iso(d.met_at, tz), "escalated_at": iso(d.escalated_at, tz),
             "provisional": d.provisional, "source": d.source}
            | ({"overdue": d.overdue(now)} if now is not None else {})
            for d in self.deadlines
        ]
        out["calls"] = list(self.calls)
        out["recordings"] = list(self.recordings)
        out["callbacks"] = [
            {"level": c.level, "due_at": iso(c.due_at, tz), "done_at": iso(c.done_at, tz), "attempts": c.attempts,
             "agent": c.agent, "satisfaction": c.satisfaction}
            for c in self.callbacks
        ]
        return out


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    changes: dict[str, object]


def view_of(o: WorkOrder) -> OrderView:
    return OrderView(
        number=o.number, category=o.category, subcategory=o.subcategory, major=o.major, status=o.status,
        channel=o.channel, caller_number=o.caller_number, caller_name=o.caller_name, summary=o.summary,
        details=o.details, owner=o.owner, department=o.department, assignee=o.assignee, confidential=o.confidential,
        policy=o.policy, accepted_at=o.accepted_at, first_contacted_at=o.first_contacted_at, replied_at=o.replied_at,
        closed_at=o.closed_at, version=o.version,
        deadlines=tuple(
            DeadlineView(d.name, d.title, d.limit_text, d.clock, d.anchor, d.due_at, d.met_at, d.escalated_at,
                         d.provisional, d.source)
            for d in o.deadlines
        ),
        calls=tuple(lk.ref for lk in o.links if lk.kind == "call"),
        recordings=tuple(lk.ref for lk in o.links if lk.kind == "recording"),
        callbacks=tuple(
            CallbackView(c.level, c.due_at, c.done_at, c.attempts, c.agent, c.satisfaction) for c in o.callbacks
        ),
    )
