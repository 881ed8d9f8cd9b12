"""Agent routing over ARI: ring an agent for at most three rings, then the neighbour seat (R-01, R-02).

For a :class:`~callcenter.scripting.protocol.Transfer` the call rings the agent the seats table reserves for it
(:meth:`SeatPool.reserve`: longest idle, or the one named; no other process rings that seat meanwhile), by
originating a channel to the agent's
endpoint into our Stasis application (``appArgs=agent,<call_id>,<agent_id>``). Rings are counted on the
cadence profile from the moment Asterisk accepted the originate; ``agent.ringing`` is written at the start
of each ring. The agent who answers (StasisStart of the leg) before the start of ring 4 (``cadence.limit(3)``,
"within three rings", docs/design.md) is bridged with the caller in the call's recorded bridge. Otherwise the leg
is hung up, ``agent.skipped`` says why with its rings and seconds, and the neighbour seat
(``reserve(after=…)``) rings; when nobody is left the session hears ``TransferResult("no_agent")`` and plays
its queue prompts (the caller stays in the queue). An agent who let it ring becomes not-ready (away from the
seat), an unreachable one offline, a busy one stays ready: the same rule as the FastAGI adapter.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentError, AgentState
from callcenter.logs import get_logger
from callcenter.scripting.protocol import Transfer, TransferResult
from callcenter.telephony.ari import agent_lost
from callcenter.telephony.ari.call import AriCall, safe_id
from callcenter.telephony.ari.client import path_id
from callcenter.telephony.ari.endpoints import agent_endpoint
from callcenter.telephony.ari.errors import AriError, AriRequestError

log = get_logger(__name__)

# Originate timeout beyond the ring limit: Asterisk's own guard if our DELETE never arrives.
_ORIGINATE_GRACE_SECONDS = 5


@dataclass
class Leg:
    """One agent leg being rung: resolved once with answered / no_answer / busy / unavailable / caller_gone."""

    agent: Agent
    group: str
    future: asyncio.Future[str]
    ring_started: float | None = None
    answered_at: float | None = None
    timers: list[Any] = field(default_factory=list)
    dialstatus: str = ""  # the leg's last Dial event: BUSY through a Local channel ends with cause 0, not 17
    call_id: str = ""  # the call the agent's seat is reserved for

    def resolve(self, outcome: str) -> None:
        if not self.future.done():
            self.future.set_result(outcome)


async def transfer(call: AriCall, command: Transfer) -> None:
    """Ring agents of ``command.group`` until one answers or none is left; report a TransferResult."""
    group = command.group
    if call.standby is not None and command.agent in (None, call.standby[1].agent.id):
        # A preview callback: the agent picked up before the customer was rung and is waiting on the line.
        leg_id, leg = call.standby
        call.standby = None
        leg.resolve("answered")  # it was: its end from now on is the agent releasing the call
        call.legs[leg_id] = leg
        call.queued_at = leg.answered_at  # the customer waited for nobody: the agent was there first
        try:
            await _bridge(call, leg_id, leg)
            return
        except AriError as exc:  # the agent left while the customer's phone rang
            log.warning("ari bridging the waiting agent failed", agent=leg.agent.id, error=str(exc))
            await _release_leg(call, leg_id, leg, "unavailable")
            call.push(TransferResult("no_agent"))
            return
    tried: list[str] = []
    after: str | None = None
    wanted = command.agent
    while not call.gone:
        agent = await _pick(call, group, wanted, tried, after)
        wanted = None
        if agent is None:
            call.push(TransferResult("no_agent"))
            return
        tried.append(agent.id)
        outcome = await ring_agent(call, agent, group)
        if outcome in ("answered", "caller_gone"):
            return
        call.stats.skipped.append(agent.id)
        after = agent.id


async def _pick(call: AriCall, group: str, wanted: str | None, tried: list[str], after: str | None) -> Agent | None:
    try:
        return await call.service.pool.reserve(group, call_id=call.call_id, locale=call.locale, tried=tried,
                                               after=after, wanted=wanted)
    except AgentError as exc:  # unknown group: nobody to ring, the caller stays queued
        log.error("ari transfer to an unknown group", call_id=call.call_id, group=group, error=str(exc))
        return None


async def ring_agent(call: AriCall, agent: Agent, group: str) -> str:
    service = call.service
    cadence = service.cadence
    limit = cadence.limit(service.settings.telephony.agent_ring_limit)
    leg_id = safe_id(f"{call.call_id}-agent-{agent.id}-{len(call.stats.skipped) + 1}")
    leg = Leg(agent, group, asyncio.get_running_loop().create_future(), call_id=call.call_id)
    call.legs[leg_id] = leg
    service.index_leg(leg_id, call)
    try:
        await call.client.request("POST", "channels", {
            "endpoint": agent_endpoint(service.settings, agent), "app": service.app,
            "appArgs": f"agent,{call.call_id},{agent.id}",
            "channelId": leg_id, "callerId": call.caller, "timeout": math.ceil(limit) + _ORIGINATE_GRACE_SECONDS,
        })
    except AriError as exc:
        log.warning("ari originate to agent failed", agent=agent.id, error=str(exc))
        leg.resolve("unavailable")
    else:
        leg.ring_started = call.offset()
        _schedule_rings(call, leg, 1, limit)
        leg.timers.append(call.clock.call_later(limit, lambda: leg.resolve("no_answer")))
    try:
        outcome = await leg.future
    finally:
        for timer in leg.timers:
            timer.cancel()
    if outcome == "answered":
        try:
            await _bridge(call, leg_id, leg)
            return "answered"
        except AriError as exc:  # the agent or the caller left in the same instant
            log.warning("ari bridging failed", agent=agent.id, error=str(exc))
            outcome = "caller_gone" if call.gone else "unavailable"
    await _release_leg(call, leg_id, leg, outcome)
    return outcome


def _schedule_rings(call: AriCall, leg: Leg, ring: int, limit: float) -> None:
    """``agent.ringing`` at the start of each ring that starts within the limit (rings 1 … 3)."""
    cadence = call.service.cadence
    assert leg.ring_started is not None
    due = leg.ring_started + cadence.ring_starts(ring)
    if cadence.ring_starts(ring) >= limit:
        return

    def rang() -> None:
        if not leg.future.done():
            call.note(ev.AGENT_RINGING, {"agent": leg.agent.id, "group": leg.group, "ring": ring}, offset=due)
            _schedule_rings(call, leg, ring + 1, limit)

    leg.timers.append(call.clock.call_later(max(0.0, due - call.offset()), rang))


async def _bridge(call: AriCall, leg_id: str, leg: Leg) -> None:
    service = call.service
    answered_at = leg.answered_at if leg.answered_at is not None else call.offset()
    seconds = answered_at - (leg.ring_started or answered_at)
    bridge_id = await call.ensure_bridge()
    await call.client.request("POST", f"bridges/{path_id(bridge_id)}/addChannel", {"channel": leg_id})
    if call.recording is None:
        await call.start_recording()
    call.agent, call.agent_leg = leg.agent, leg_id
    rings = max(1, service.cadence.rings_at(seconds))
    call.stats.agent, call.stats.agent_rings, call.stats.agent_seconds = leg.agent.id, rings, round(seconds, 3)
    # On the timeline before the seat's database write: a caller who hangs up during that write ends this task,
    # and the answer (the agent was on the line) must not be lost with it.
    call.note(ev.AGENT_ANSWERED, {"agent": leg.agent.id, "group": leg.group, "rings": rings,
                                  "seconds": round(seconds, 3), "wait": round(answered_at - _queued_at(call), 3)},
              offset=answered_at)
    call.note(ev.BRIDGED, {"agent": leg.agent.id, "bridge": bridge_id}, offset=answered_at)
    await service.pool.answered(leg.agent.id, call.call_id)
    call.push(TransferResult("answered", agent=leg.agent.id))


def _queued_at(call: AriCall) -> float:
    if call.queued_at is None:
        call.queued_at = call.offset()
    return call.queued_at


async def _release_leg(call: AriCall, leg_id: str, leg: Leg, outcome: str) -> None:
    service = call.service
    call.legs.pop(leg_id, None)
    service.unindex_leg(leg_id)
    if outcome in ("no_answer", "caller_gone"):
        try:
            await call.client.request("DELETE", f"channels/{path_id(leg_id)}", {"reason": "normal"})
        except AriRequestError as exc:
            if exc.status != 404:
                log.warning("ari could not hang up an agent leg", leg=leg_id, error=str(exc))
        except AriError as exc:
            log.warning("ari could not hang up an agent leg", leg=leg_id, error=str(exc))
    now = call.offset()
    if outcome == "caller_gone":
        await service.pool.release(leg.agent.id, AgentState.READY, call_id=call.call_id)
        return
    seconds = now - leg.ring_started if leg.ring_started is not None else 0.0
    if outcome == "no_answer":  # the limit ended the ringing; the hang-up round trip is not a ring
        seconds = min(seconds, service.cadence.limit(service.settings.telephony.agent_ring_limit))
    call.note(ev.AGENT_SKIPPED, {"agent": leg.agent.id, "group": leg.group,
                                 "rings": service.cadence.rings_at(seconds), "seconds": round(seconds, 3),
                                 "reason": outcome}, offset=(leg.ring_started or now) + seconds)
    # An agent who let it ring is away from the seat: not offered calls until they say ready again.
    next_state = {"no_answer": AgentState.NOT_READY, "unavailable": AgentState.OFFLINE}.get(outcome, AgentState.READY)
    # Not awaited: the neighbour seat's reservation goes ahead while this one is written (R-02's time).
    service.pool.release_soon(leg.agent.id, next_state, call_id=call.call_id,
                              reason=outcome if next_state is not AgentState.READY else None)


def on_leg_event(call: AriCall, leg_id: str, message: dict[str, Any]) -> None:
    """Events of an agent leg: StasisStart = answered; ChannelDestroyed before that = busy / unavailable;
    ChannelDestroyed after the bridge = the agent released the call (the caller is released too), unless it was a
    softphone that went away (agent_lost.py: the caller goes back to the queue)."""
    kind = message["type"]
    leg = call.legs.get(leg_id)
    if kind == "Dial":
        if leg is not None:
            leg.dialstatus = str(message.get("dialstatus", ""))
    elif kind == "StasisStart":
        if leg is None or leg.future.done():
            call.spawn(_hang_up_late_leg(call, leg_id))  # answered after we gave up on it
            return
        leg.answered_at = call.offset()
        leg.resolve("answered")
    elif kind == "ChannelDestroyed":
        if leg is not None and not leg.future.done():
            cause = int(message.get("cause", 0))
            busy = cause == 17 or leg.dialstatus == "BUSY"
            leg.resolve("busy" if busy else "no_answer" if cause in (18, 19) else "unavailable")
        elif leg_id == call.agent_leg and not call.gone:
            call.spawn(agent_lost.agent_leg_ended(call, leg_id, int(message.get("cause", 0))))


async def _hang_up_late_leg(call: AriCall, leg_id: str) -> None:
    await call.quietly("DELETE", f"channels/{path_id(leg_id)}")
