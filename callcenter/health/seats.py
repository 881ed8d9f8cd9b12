"""Which seats the adapters found unreachable: fed the timeline's ``agent.skipped`` events.

Both adapters set a seat offline when its endpoint is unavailable (``agent.skipped`` with reason
``unavailable``, R-02); the ARI application also when the seat's phone loses its registration
(``seat.registration`` offline) or a softphone goes away mid-call (``agent.lost``). The pool alone cannot tell
that from an agent who simply has not signed on. A seat stays unreachable until it rings or answers again, its
phone registers again, or its agent signs on (the pool then no longer has it offline).
"""

from __future__ import annotations

import contextlib

from callcenter.calls import events as ev
from callcenter.calls.agents import AgentState, SeatView
from callcenter.calls.timeline import Timeline, TimelineEvent


class SeatWatch:
    def __init__(self) -> None:
        self._unreachable: set[str] = set()

    def feed(self, event: TimelineEvent) -> None:
        agent = event.data.get("agent")
        if not isinstance(agent, str):
            return
        if event.type == ev.AGENT_SKIPPED and event.data.get("reason") == "unavailable":
            self._unreachable.add(agent)
        elif event.type == ev.AGENT_LOST:  # the agent's softphone went away mid-call (issue 15)
            self._unreachable.add(agent)
        elif event.type == ev.SEAT_REGISTRATION:  # the seat's phone lost / regained its registration
            if event.data.get("state") == "offline":
                self._unreachable.add(agent)
            else:
                self._unreachable.discard(agent)
        elif event.type in (ev.AGENT_RINGING, ev.AGENT_ANSWERED):
            self._unreachable.discard(agent)

    def unreachable(self, pool: SeatView) -> set[str]:
        return {a for a in self._unreachable if a in pool.agents and pool.agents[a].state is AgentState.OFFLINE}

    async def follow(self, timeline: Timeline) -> None:
        """Feed every event the timeline publishes from now on (a task of ``callcenter serve``)."""
        queue = timeline.subscribe()
        try:
            while True:
                self.feed(await queue.get())
        finally:
            with contextlib.suppress(Exception):
                timeline.unsubscribe(queue)

