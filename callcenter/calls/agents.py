"""Agents, their groups and states, and the choice of who rings next (R-01, R-02).

An agent group is an ordered row of seats. The first agent rung is the free agent who has waited longest;
when a seat does not pick up within three rings the call moves to the neighbour seat: the next free seat to
the right in the group's order, wrapping round (R-02 「邻座无人时,主动在铃响三声内接听邻座的电话」), skipping
every agent already tried for this call. Both adapters (FastAGI ``Dial`` and ARI originate) use this one pool;
the pool holds no I/O and reads no clock (times are passed in).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from callcenter.errors import CallcenterError


class AgentState(StrEnum):
    READY = "ready"
    NOT_READY = "not_ready"
    AFTER_CALL = "after_call"  # after-call work (话后处理): not offered calls
    RINGING = "ringing"
    ON_CALL = "on_call"
    OFFLINE = "offline"


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
    idle_since: float = 0.0


@dataclass
class AgentPool:
    """All agents of this process, keyed by id, with each group's seat order."""

    agents: dict[str, Agent] = field(default_factory=dict)
    seats: dict[str, list[str]] = field(default_factory=dict)

    def add(self, agent: Agent) -> Agent:
        if agent.id in self.agents:
            raise AgentError(f"agent {agent.id!r} is already registered")
        self.agents[agent.id] = agent
        for group in agent.groups:
            self.seats.setdefault(group, []).append(agent.id)
        return agent

    def get(self, agent_id: str) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise AgentError(f"unknown agent {agent_id!r}") from None

    def set_state(self, agent_id: str, state: AgentState, now: float = 0.0) -> Agent:
        agent = self.get(agent_id)
        if state is AgentState.READY and agent.state is not AgentState.READY:
            agent.idle_since = now
        agent.state = state
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
        """The agent to ring next, or None when no free agent is left in the group.

        With ``after`` (the seat that just failed to answer) this is the neighbour seat (R-02); otherwise the
        longest-idle ready agent. Agents with a matching locale skill are preferred when ``locale`` is given.
        """
        if group not in self.seats:
            raise AgentError(f"unknown agent group {group!r}")
        skip = set(tried)
        order = self.seats[group]
        if after is not None and after in order:
            i = order.index(after)
            order = order[i + 1 :] + order[: i + 1]
        free = [self.agents[a] for a in order if a not in skip and self.agents[a].state is AgentState.READY]
        if locale is not None:
            skilled = [a for a in free if locale in a.locales]
            free = skilled or free
        if not free:
            return None
        if after is not None:
            return free[0]
        return min(free, key=lambda a: a.idle_since)

    def reserve(self, agent_id: str) -> bool:
        """Ready → ringing, atomically for this process; False when someone else got the agent first."""
        agent = self.get(agent_id)
        if agent.state is not AgentState.READY:
            return False
        agent.state = AgentState.RINGING
        return True
