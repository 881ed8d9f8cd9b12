"""The figures of section 7, each with one definition and its R-number, computed from call summaries.

:data:`DEFINITIONS` is the single place a figure is defined: the reports print it beside the number and the
README quotes it. :class:`Tally` adds call summaries one at a time (so one pass over a day can feed an
hour's, a group's and an agent's tally together) and :meth:`Tally.figures` turns the counts into the
figures as a plain, JSON-ready dict. A rate whose denominator is zero is ``None`` ("no calls"), never 0 %.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from callcenter.metrics.summary import (
    ABANDONED_IVR,
    ABANDONED_QUEUE,
    ABANDONED_RINGING,
    SECONDS_LABELS,
    CallSummary,
)


@dataclass(frozen=True, slots=True)
class Definition:
    key: str
    label: str
    rule: str  # the R-number(s) of docs/standards.md the figure measures
    text: str
    unit: str = ""


DEFINITIONS: tuple[Definition, ...] = (
    Definition("calls_offered", "来电总数 calls offered", "R-124",
               "Calls that reached us (call.offered) in the window; a call belongs to the window it started in."),
    Definition("transferred_to_agents", "转入人工 transferred to agents", "R-122",
               "Calls that joined the agent queue or rang an agent (the answer rate's denominator); a call "
               "still waiting counts once it is answered or ends."),
    Definition("answered_by_agents", "人工接听 answered by agents", "R-122",
               "Transferred calls that an agent picked up (agent.answered)."),
    Definition("answer_rate", "接通率 answer rate", "R-122",
               "answered_by_agents ÷ transferred_to_agents × 100.", "%"),
    Definition("service_level", "服务水平 service level", "R-123",
               "Calls answered by an agent within X seconds of joining the queue ÷ transferred_to_agents × 100 "
               "(X = metrics.service_level_seconds; a caller who gave up counts against it).", "%"),
    Definition("service_level_met", "服务水平达标 service level met", "R-123",
               "service_level ≥ Y (metrics.service_level_target_percent)."),
    Definition("within_three_rings", "三声内接听 answered within three rings", "R-01, R-02, R-127",
               "Agent answers whose own leg rang no longer than three ring periods (an answer exactly at the "
               "start of the 4th ring, 15.0 s on the cn cadence, is within) ÷ answered_by_agents × 100.", "%"),
    Definition("rings_to_answer", "接听响铃次数 rings to answer", "R-01, R-127",
               "Agent answers by the number of rings their leg had started (1, 2, 3, 4+)."),
    Definition("seconds_to_answer", "接听时长分布 seconds to answer", "R-01, R-127",
               "Agent answers by the ringing seconds of their leg, in buckets (lower bound excluded, upper "
               "included)."),
    Definition("average_seconds_to_answer", "平均接听时长 average seconds to answer", "R-01, R-127",
               "Mean ringing seconds of the answering agent's leg, over answered_by_agents.", "s"),
    Definition("overflows", "邻座转接 overflows", "R-02",
               "Agent legs not picked up within the ring limit that moved the call on (agent.skipped)."),
    Definition("abandoned", "放弃 abandoned", "R-124",
               "Calls the caller ended before any agent answered: in the IVR (after it answered, before the "
               "queue), in the queue (no phone ringing), or while ringing (before the IVR answered, or while "
               "an agent's phone rang)."),
    Definition("abandon_rate", "放弃率 abandon rate", "R-124", "abandoned ÷ calls_offered × 100.", "%"),
    Definition("abandoned_while_ringing_by_ring", "响铃中放弃 abandoned while ringing, by ring", "R-01",
               "Callers who hung up while a phone rang, by the ring that had started when they hung up."),
    Definition("average_wait", "平均等待 average wait", "R-123",
               "Mean seconds from joining the queue to an agent's answer, over answered_by_agents.", "s"),
    Definition("average_abandoned_wait", "放弃前平均等待 average wait before abandoning", "R-124",
               "Mean seconds from joining the queue to hanging up, over queued calls that were abandoned.", "s"),
    Definition("silent_calls", "无声电话 silent calls", "R-15",
               "Calls that ended with disposition silent."),
    Definition("silent_call_rate", "无声电话率 silent-call rate", "R-15",
               "silent_calls ÷ calls answered (by the IVR or an agent) × 100.", "%"),
    Definition("silent_calls_full_sequence", "无声电话按规程处理 silent calls handled per script", "R-15",
               "Silent calls whose timeline shows all three 5-second silence windows before the hang-up."),
    Definition("dialect_unresolved", "方言未解决 dialect unresolved", "R-19, R-20, R-21",
               "Calls that ended with disposition dialect_unresolved (each opens a callback work order)."),
    Definition("holds", "保持次数 holds", "R-38", "Times a caller was put on hold (hold.started)."),
    Definition("hold_seconds", "保持时长 hold time", "R-38",
               "Total seconds on hold; a hold still running at the hang-up ends there.", "s"),
    Definition("agent_released_first", "坐席先挂机 agent released first", "R-48",
               "Agent-answered calls the agent ended, except the scripted exceptions (silent, low volume, "
               "noise, malicious call, dialect unresolved)."),
    Definition("release_refused", "拒绝挂机 releases refused", "R-23, R-48",
               "Agent release requests the system refused because the script did not allow it yet."),
    Definition("work_orders_opened", "生成工单 work orders opened", "R-36",
               "Work orders opened from calls in the window (workorder.created)."),
)
DEFINITION_BY_KEY = {d.key: d for d in DEFINITIONS}

RING_LABELS = ("1", "2", "3", "4+")


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


def _mean(total: float, count: int) -> float | None:
    return None if count == 0 else round(total / count, 2)


@dataclass(slots=True)
class Tally:
    """Counts over a set of calls. With ``agent`` set, agent figures are that agent's own (see add)."""

    service_level_seconds: float
    service_level_target: float
    agent: str | None = None
    offered: int = 0
    transferred: int = 0
    answered: int = 0
    answered_any: int = 0
    in_service_level: int = 0
    within_three: int = 0
    rings: list[int] = field(default_factory=lambda: [0] * len(RING_LABELS))
    seconds: list[int] = field(default_factory=lambda: [0] * len(SECONDS_LABELS))
    overflows: int = 0
    abandoned_ivr: int = 0
    abandoned_queue: int = 0
    abandoned_ringing: int = 0
    abandoned_by_ring: dict[int, int] = field(default_factory=dict)
    # Durations are summed in whole milliseconds so that merged tallies equal one tally exactly.
    wait_ms: int = 0
    answer_ms: int = 0
    abandoned_wait_ms: int = 0
    abandoned_wait_count: int = 0
    silent: int = 0
    silent_full: int = 0
    dialect_unresolved: int = 0
    holds: int = 0
    hold_ms: int = 0
    released_first: int = 0
    release_refused: int = 0
    work_orders: int = 0

    def add(self, s: CallSummary) -> None:
        """Count one call. For an agent's tally, "transferred" is a call that rang this agent's phone and
        "answered" one this agent picked up, so the agent's answer rate is the share of their rings answered.

        This runs a few times per call for every report; most calls have no hold, no abandon and a normal
        disposition, so those branches are tested before any counter is touched. The callbacks the centre
        dialled are not counted: section 7 is about calls that reached us (callbacks: callcenter.callbacks).
        """
        if s.outbound:
            return
        self.offered += 1
        agent = self.agent
        skipped = s.skipped_agents
        # A call still waiting has no outcome yet: it joins the denominators when answered or ended.
        decided = s.answered_at is not None or s.ended_at is not None
        if agent is None:
            if s.queued and decided:
                self.transferred += 1
            if skipped:
                self.overflows += len(skipped)
            answered = s.answered_at is not None
        else:
            if agent in s.agents_rung and (decided or s.ringing_agent != agent):
                self.transferred += 1
            if skipped:
                self.overflows += skipped.count(agent)
            answered = s.agent == agent and s.answered_at is not None
        if answered:
            self.answered_any += 1
            self.answered += 1
            self.wait_ms += s.wait_ms
            if (s.wait or 0.0) <= self.service_level_seconds:
                self.in_service_level += 1
            if s.within_three_rings:
                self.within_three += 1
            self.answer_ms += s.answer_ms
            self.rings[min(s.answer_rings or 1, 4) - 1] += 1
            self.seconds[s.seconds_bucket] += 1
            if s.ended_by == "agent" and s.agent_released_first:
                self.released_first += 1
        elif s.ivr_answered:
            self.answered_any += 1
        if s.abandoned:
            self._add_abandon(s)
        disposition = s.disposition
        if disposition == "silent":
            self.silent += 1
            self.silent_full += s.silence_windows >= 3
        elif disposition == "dialect_unresolved":
            self.dialect_unresolved += 1
        if s.holds:
            self.holds += s.holds
            self.hold_ms += round(s.hold_seconds * 1000)
        if s.release_refused:
            self.release_refused += s.release_refused
        if s.work_orders:
            self.work_orders += s.work_orders

    def _add_abandon(self, s: CallSummary) -> None:
        if self.agent is not None and s.abandoned_agent != self.agent:
            return  # an agent is only answerable for callers who gave up while their own phone rang
        where = s.abandoned
        if where == ABANDONED_RINGING:
            self.abandoned_ringing += 1
            ring = s.abandoned_ring or 1
            self.abandoned_by_ring[ring] = self.abandoned_by_ring.get(ring, 0) + 1
        elif where == ABANDONED_QUEUE:
            self.abandoned_queue += 1
        elif where == ABANDONED_IVR:
            self.abandoned_ivr += 1
        if s.abandoned_wait is not None:
            self.abandoned_wait_ms += round(s.abandoned_wait * 1000)
            self.abandoned_wait_count += 1

    def merge(self, other: Tally, sign: int = 1) -> Tally:
        """Add another tally's counts to this one (an hour's tallies make the day's); ``sign=-1`` takes
        them away again (the wallboard recounts a call that changed after it was counted)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))
        self.rings = [a + sign * b for a, b in zip(self.rings, other.rings, strict=True)]
        self.seconds = [a + sign * b for a, b in zip(self.seconds, other.seconds, strict=True)]
        by_ring = self.abandoned_by_ring
        for ring, n in other.abandoned_by_ring.items():
            by_ring[ring] = by_ring.get(ring, 0) + sign * n
            if by_ring[ring] == 0:
                del by_ring[ring]
        return self

    def add_all(self, summaries: Iterable[CallSummary]) -> Tally:
        for s in summaries:
            self.add(s)
        return self

    def figures(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict (keys as in :data:`DEFINITIONS`)."""
        abandoned = self.abandoned_ivr + self.abandoned_queue + self.abandoned_ringing
        service_level = _rate(self.in_service_level, self.transferred)
        return {
            "calls_offered": self.offered,
            "transferred_to_agents": self.transferred,
            "answered_by_agents": self.answered,
            "answer_rate": _rate(self.answered, self.transferred),
            "service_level": service_level,
            "service_level_seconds": self.service_level_seconds,
            "service_level_target": self.service_level_target,
            "service_level_met": None if service_level is None else service_level >= self.service_level_target,
            "answered_within_service_level": self.in_service_level,
            "answered_within_three_rings": self.within_three,
            "within_three_rings": _rate(self.within_three, self.answered),
            "rings_to_answer": dict(zip(RING_LABELS, self.rings, strict=True)),
            "seconds_to_answer": dict(zip(SECONDS_LABELS, self.seconds, strict=True)),
            "average_seconds_to_answer": _mean(self.answer_ms / 1000, self.answered),
            "overflows": self.overflows,
            "abandoned": abandoned,
            "abandoned_in_ivr": self.abandoned_ivr,
            "abandoned_in_queue": self.abandoned_queue,
            "abandoned_while_ringing": self.abandoned_ringing,
            "abandoned_while_ringing_by_ring": {str(k): v for k, v in sorted(self.abandoned_by_ring.items())},
            "abandon_rate": _rate(abandoned, self.offered),
            "average_wait": _mean(self.wait_ms / 1000, self.answered),
            "average_abandoned_wait": _mean(self.abandoned_wait_ms / 1000, self.abandoned_wait_count),
            "silent_calls": self.silent,
            "silent_call_rate": _rate(self.silent, self.answered_any),
            "silent_calls_full_sequence": self.silent_full,
            "dialect_unresolved": self.dialect_unresolved,
            "holds": self.holds,
            "hold_seconds": round(self.hold_ms / 1000, 2),
            "agent_released_first": self.released_first,
            "release_refused": self.release_refused,
            "work_orders_opened": self.work_orders,
        }


_COUNTS = tuple(
    name
    for name, hint in Tally.__annotations__.items()
    if hint in ("int", "float") and name not in ("service_level_seconds", "service_level_target")
)


def figures(
    summaries: Iterable[CallSummary],
    service_level_seconds: float,
    service_level_target: float,
    agent: str | None = None,
) -> dict[str, Any]:
    """The section-7 figures of a set of calls (for one agent's own figures, pass ``agent``)."""
    return Tally(service_level_seconds, service_level_target, agent).add_all(summaries).figures()
