"""Timelines written by hand: each test says, second by second, what happened on its calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callcenter.calls import events as ev
from callcenter.calls.rings import cadence
from callcenter.calls.timeline import Timeline
from callcenter.metrics.summary import CallSummary, summarise

CN = cadence("cn")


class HandCall:
    """Appends one call's events at offsets (seconds) from its start."""

    def __init__(self, timeline: Timeline, call_id: str, start: datetime) -> None:
        # The timeline stores UTC (SQLite drops offsets), as the adapters write it.
        self.timeline, self.call_id, self.start = timeline, call_id, start.astimezone(UTC)

    def at(self, t: float, type: str, /, **data: Any) -> HandCall:
        self.timeline.append(self.call_id, type, data, at=self.start + timedelta(seconds=t), offset=t)
        return self

    def offered(self, group: str = "default") -> HandCall:
        return self.at(0, ev.CALL_OFFERED, entry="hotline", group=group)

    def ivr(self, seconds: float = 1.0) -> HandCall:
        return self.at(0, ev.IVR_RINGING, ring=1).at(seconds, ev.IVR_ANSWERED, rings=1, seconds=seconds)

    def rings(self, start: float, agent: str, count: int, group: str = "default") -> HandCall:
        """``count`` rings of ``agent``'s phone, the first at ``start`` (5 s apart on the cn cadence)."""
        for ring in range(1, count + 1):
            self.at(start + CN.ring_starts(ring), ev.AGENT_RINGING, agent=agent, group=group, ring=ring)
        return self


def summaries_of(timeline: Timeline) -> list[CallSummary]:
    timeline.flush_sync()
    return summarise(timeline.since(0, limit=100_000), CN)
