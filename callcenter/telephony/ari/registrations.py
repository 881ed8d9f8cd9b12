"""Whether each seat's phone is registered, from Asterisk's endpoint states (issue 15; R-01, R-02).

A seat whose phone has no registration (a browser tab closed, a desk phone unplugged) must get no call: ringing
it would cost the caller three rings for nobody. Asterisk 22 keeps a state per endpoint (res_pjsip: ``online``
while the endpoint has a reachable contact, ``offline`` once its last contact is gone) and tells the
applications subscribed to it (``POST applications/{app}/subscription?eventSource=endpoint:PJSIP``, every
endpoint of the technology) with ``EndpointStateChange``. On every (re)connect this subscribes again and reads
the states (``GET endpoints/{tech}``), so a change missed while the websocket was down is caught up.

A seat that goes offline is made offline in the pool at once (no call is offered; the neighbour seat rings,
R-02) and ``seat.registration`` goes on the timeline: the health board and the wallboard list the seat. Coming
back online changes nothing by itself: the agent says ready. A race (the registration went, the event is on its
way) costs nothing either: the originate to an endpoint without a contact fails at once and routing skips the
seat as unavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from callcenter.calls import events as ev
from callcenter.calls.agents import AgentError, AgentState
from callcenter.calls.seat_pool import SeatPool, process_holder
from callcenter.calls.timeline import Timeline
from callcenter.logs import get_logger
from callcenter.telephony.ari.client import AriClient, Json, path_id
from callcenter.telephony.ari.errors import AriError, AriRequestError

log = get_logger(__name__)

# Endpoint technologies whose state means a registration; Local channels (the real-Asterisk suite's seats) have
# no endpoint state.
REGISTERING = ("PJSIP",)
# Seats in these states are taken offline when their phone goes: the others are on a call (the call's own legs
# say what happens) or being rung (the originate fails by itself).
IDLE = (AgentState.READY, AgentState.NOT_READY, AgentState.AFTER_CALL)


class RegistrationHost(Protocol):
    app: str
    client: AriClient
    pool: SeatPool
    timeline: Timeline

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...


class Registrations:
    """The endpoint state of every seat's phone (``offline`` holds the endpoints without a registration)."""

    def __init__(self, host: RegistrationHost) -> None:
        self.host = host
        self.offline: set[str] = set()
        # seat.registration events: a stream of this process's own (never a call's), like the seats' states
        self.stream = f"registrations@{process_holder()}"[:64]
        self._stream_started = False

    def registered(self, endpoint: str) -> bool:
        return endpoint not in self.offline

    def _technologies(self) -> list[str]:
        techs = {a.endpoint.partition("/")[0] for a in self.host.pool.agents.values()}
        return sorted(t for t in techs if t in REGISTERING)

    async def refresh(self) -> None:
        """Subscribe to the seats' endpoints and read their states (after every connect)."""
        client = self.host.client
        for tech in self._technologies():
            try:
                await client.request("POST", f"applications/{path_id(self.host.app)}/subscription",
                                     {"eventSource": f"endpoint:{tech}"})
                endpoints: list[Json] = await client.request("GET", f"endpoints/{path_id(tech)}")
            except AriRequestError as exc:
                # 422/404: this Asterisk has no such technology (no res_pjsip): nothing registers, nothing to read.
                level = log.info if exc.status in (404, 422) else log.warning
                level("ari endpoint states not readable; seats are rung without them", tech=tech, error=str(exc))
                continue
            except AriError as exc:
                log.warning("ari endpoint states not readable; seats are rung without them", tech=tech,
                            error=str(exc))
                continue
            for endpoint in endpoints:
                self.update(endpoint)

    def on_event(self, message: Json) -> bool:
        """True when ``message`` was an endpoint's state change (handled here)."""
        if message.get("type") != "EndpointStateChange":
            return False
        self.update(message.get("endpoint") or {})
        return True

    def update(self, endpoint: Json) -> None:
        name = f"{endpoint.get('technology', '')}/{endpoint.get('resource', '')}"
        offline = endpoint.get("state") == "offline"
        if offline == (name in self.offline):
            return
        if offline:
            self.offline.add(name)
        else:
            self.offline.discard(name)
        pool = self.host.pool
        for agent in [a for a in pool.agents.values() if a.endpoint == name]:
            log.info("seat registration", agent=agent.id, endpoint=name, state=endpoint.get("state"))
            self._note(agent.id, name, "offline" if offline else "online")
            if offline and agent.state in IDLE:
                self.host.spawn(self._offline(agent.id))

    def _note(self, agent_id: str, endpoint: str, state: str) -> None:
        """``seat.registration`` for the health board and the wallboard (they list the seats without a phone)."""
        timeline = self.host.timeline
        if not self._stream_started:
            timeline.expect_new(self.stream)  # numbered here, never read back
            self._stream_started = True
        timeline.append(self.stream, ev.SEAT_REGISTRATION, {"agent": agent_id, "endpoint": endpoint, "state": state})

    async def _offline(self, agent_id: str) -> None:
        try:
            await self.host.pool.set_state(agent_id, AgentState.OFFLINE, by="system")
        except AgentError as exc:  # it began to ring meanwhile: that originate fails by itself
            log.info("seat not set offline", agent=agent_id, error=str(exc))
