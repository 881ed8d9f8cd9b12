"""Seats for the adapters' tests: a migrated database with the given agents registered (and ready)."""

from __future__ import annotations

from callcenter.calls.agents import Agent, AgentState
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.store import migrate


def seat_pool(settings: Settings, *agents: Agent, timeline: Timeline | None = None, **kwargs: object) -> SeatPool:
    """The seats of ``settings.database.url`` (migrated here) holding ``agents``; those whose ``state`` is
    ready are set ready in the table, as their agents would from the panel."""
    url = settings.database.url
    migrate(url)
    pool = SeatPool(url, timeline=timeline, **kwargs)  # type: ignore[arg-type]
    for agent in agents:
        pool.add(agent)
        if agent.state is not AgentState.OFFLINE:
            pool.store.set_state(agent.id, agent.state, reason=None, now=pool.now(), by="test")
    pool.load()
    return pool
