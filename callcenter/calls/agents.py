"""Agents, their groups and states, and the choice of who rings next (R-01, R-02).

An agent group is an ordered row of seats. The first agent rung is the free agent who has waited longest;
when a seat does not pick up within three rings the call moves to the neighbour seat: the next free seat to
the right in the group's order, wrapping round (R-02 「邻座无人时,主动在铃响三声内接听邻座的电话」), skipping
every agent already tried for this call. The choice is :func:`rank_seats`, a pure function: the centre's seats
and their reservations live in the database (:mod:`callcenter.calls.seat_store`, issue 17), which asks this
module who comes next and reserves that seat atomically; :class:`AgentPool` is the same choice over seats held
in memory (this process's view of the table, and the pure tests). Nothing here does I/O or reads a clock.

States as centres use them (issue 15): ready 就绪; not ready 未就绪 with a reason code (break 小休, meal 用餐,
training 培训, meeting 会议, and the centre's own from ``agents.reason_codes``); wrap-up 话后处理 (after_call),
which has a maximum after which the agent is made ready or flagged (:func:`wrap_up_overdue`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from callcenter.errors import CallcenterError


class AgentState(StrEnum):
    READY = "ready"
    NOT_READY = "not_ready"
    AFTER_CALL = "after_call"  # after-call work (话后处理, wrap-up): not offered calls
    RINGING = "ringing"
    ON_CALL = "on_call"
    OFFLINE = "offline"


# Not-ready reason codes every centre has; ``agents.reason_codes`` adds the centre's own (code = label).
REASON_CODES: dict[str, str] = {"break": "小休", "meal": "用餐", "training": "培训", "meeting": "会议"}
# The reason a seat carries in its state when the system, not the agent, put it there.
SYSTEM_REASONS: dict[str, str] = {
    "no_answer": "未接听",  # let a call ring out: away from the seat
    "unavailable": "话机不可达",  # the endpoint could not be reached
    "wrap_up_overdue": "话后处理超时",  # wrap-up longer than agents.wrap_up_max_seconds (flagged)
    "lease_expired": "进程失联",  # the process that held the seat's call died (issue 17)
}


class AgentError(CallcenterError):
    pass


@dataclass(slots=True)
class Agent:
    id: str
    endpoint: str  # e.g. "PJSIP/8001"
    work_number: str  # 工号, said in the greeting by default
    name: str = ""
    groups: tuple[str, ...] = ("default",)
    locales: tuple[str, ...] = ("zh-CN",)
    state: AgentState = AgentState.OFFLINE
    idle_since: float = 0.0  # seconds (any one time base per pool): when the agent last became ready
    reason: str | None = None  # the not-ready reason code, or a SYSTEM_REASONS code
    state_since: float = 0.0
    call_id: str | None = None  # the call the seat is reserved for (ringing / on call)


class SeatView(Protocol):
    """What the wallboard and the health board read of the seats: every seat and the count per state."""

    @property
    def agents(self) -> Mapping[str, Agent]: ...

    def counts(self) -> dict[str, int]: ...


def reason_codes(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every not-ready reason an agent may give: the standard four and the centre's own."""
    return {**REASON_CODES, **(extra or {})}


def check_reason(state: AgentState, reason: str | None, extra: Mapping[str, str] | None = None) -> str | None:
    """The reason to store with ``state``; :class:`AgentError` (one line) for an unknown code or a reason given
    with a state that takes none."""
    if state is not AgentState.NOT_READY:
        if reason:
            raise AgentError(f"reason: only not_ready takes a reason code, not {state.value}")
        return None
    if not reason:
        return None
    codes = reason_codes(extra)
    if reason not in codes:
        raise AgentError(f"reason: unknown reason code {reason!r} (known: {', '.join(codes)})")
    return reason


def rank_seats(
    seats: Sequence[Agent],
    *,
    locale: str | None = None,
    tried: Iterable[str] = (),
    after: str | None = None,
) -> list[Agent]:
    """The ready agents of one group (``seats`` in the group's seat order) in the order they should ring.

    With ``after`` (the seat that just failed to answer, R-02) the neighbour seats to its right, wrapping round;
    otherwise the longest idle first (ties: seat order). Agents with the call's locale skill come before the
    others when ``locale`` is given. ``tried`` agents are left out.
    """
    skip = set(tried)
    order = list(seats)
    ids = [a.id for a in order]
    if after is not None and after in ids:
        i = ids.index(after)
        order = order[i + 1 :] + order[: i + 1]
    free = [a for a in order if a.id not in skip and a.state is AgentState.READY]
    if after is None:
        free.sort(key=lambda a: a.idle_since)  # stable: seat order among equals
    if locale is not None:
        free = [a for a in free if locale in a.locales] + [a for a in free if locale not in a.locales]
    return free


def wrap_up_overdue(agent: Agent, now: float, max_seconds: float) -> bool:
    """True when the agent has been in wrap-up (after_call) longer than the maximum (0: no maximum) and has not
    been flagged for it yet."""
    return (
        max_seconds > 0
        and agent.state is AgentState.AFTER_CALL
        and agent.reason != "wrap_up_overdue"
        and now - agent.state_since >= max_seconds
    )


@dataclass
class AgentPool:
    """Seats held in memory, keyed by id, with each group's seat order: this process's view of the centre's
    seats (:class:`~callcenter.calls.seat_pool.SeatPool` keeps it equal to the table), and the pure tests'."""

    agents: dict[str, Agent] = field(default_factory=dict)
    seats: dict[str, list[str]] = field(default_factory=dict)

    def add(self, agent: Agent) -> Agent:
        if agent.id in self.agents:
            raise AgentError(f"agent {agent.id!r} is already registered")
        self.agents[agent.id] = agent
        for group in agent.groups:
            self.seats.setdefault(group, []).append(agent.id)
        return agent

    def replace_all(self, agents: Iterable[Agent], seats: Mapping[str, Sequence[str]]) -> None:
        """Take a fresh copy of the table: every seat and each group's order."""
        self.agents = {a.id: a for a in agents}
        self.seats = {g: list(ids) for g, ids in seats.items()}

    def get(self, agent_id: str) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise AgentError(f"unknown agent {agent_id!r}") from None

    def set_state(self, agent_id: str, state: AgentState, now: float = 0.0, reason: str | None = None) -> Agent:
        agent = self.get(agent_id)
        if state is AgentState.READY and agent.state is not AgentState.READY:
            agent.idle_since = now
        if state is not agent.state or reason != agent.reason:
            agent.state_since = now
        agent.state = state
        agent.reason = reason
        return agent

    def groups(self) -> list[str]:
        return list(self.seats)

    def in_group(self, group: str) -> list[Agent]:
        return [self.agents[a] for a in self.seats.get(group, [])]

    def counts(self) -> dict[str, int]:
        """Agents by state, for the wallboard."""
        out = {s.value: 0 for s in AgentState}
        for agent in self.agents.values():
            out[agent.state.value] += 1
        return out

    def next_free(
        self,
        group: str,
        *,
        locale: str | None = None,
        tried: Iterable[str] = (),
        after: str | None = None,
    ) -> Agent | None:
        """The agent to ring next (:func:`rank_seats`), or None when no free agent is left in the group."""
        if group not in self.seats:
            raise AgentError(f"unknown agent group {group!r}")
        ranked = rank_seats(self.in_group(group), locale=locale, tried=tried, after=after)
        return ranked[0] if ranked else None

    def reserve(self, agent_id: str) -> bool:
        """Ready → ringing in memory; False when the agent is not ready. (The centre's reservation is the
        database's: :meth:`callcenter.calls.seat_pool.SeatPool.reserve`.)"""
        agent = self.get(agent_id)
        if agent.state is not AgentState.READY:
            return False
        agent.state = AgentState.RINGING
        return True
