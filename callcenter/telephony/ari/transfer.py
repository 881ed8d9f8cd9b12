"""Transfers over ARI (issue 15; R-37, R-38, R-39, R-40, R-02): blind, consult (attended) and the three-way call.

The agent asks from the panel (``POST /api/agent/call/{action}``, :mod:`callcenter.web.call_control`); the actions
arrive here through the call-control dispatch (:data:`ARI_ACTIONS`, merged into ``telephony/ari/controls.py``).
How each runs on Asterisk 22:

- **Set aside.** The caller is put on hold the standard way (the ``hold`` script: 「对不起,请稍等」, then music,
  R-38, R-39, R-40: no open microphone) and the agent's leg moves into a side bridge ``cs-<n>-<call_id>``
  (``POST bridges/…/addChannel``: Asterisk departs a channel from the Stasis bridge it is in before it joins
  another, res/stasis/control.c), so neither hears the other while the target rings. A new id each time: a
  destroyed bridge's id stays taken for a moment on 22.10.1 (measured: a consult right after a failed transfer
  was refused 409 with the same id).
- **The target** is originated into our application (``appArgs=transfer,<call_id>``): an agent by id or work
  number (three rings, R-01), a group's next free agent with the neighbour seat after each unanswered one (R-02,
  :meth:`AgentPool.next_free`), or a number through ``telephony.outbound_endpoint`` (``outbound_ring_seconds``).
  Busy, congestion, no answer within the limit and a refused originate (a number nobody can reach) are read the
  way the callbacks read them (:meth:`OutboundCalls.ring`).
- **Blind** (``transfer``): once the target answers it joins the caller's recorded bridge, the first agent's leg
  is hung up and the caller comes off hold with 「对不起,让您久等了」 (the ``resume`` script). **Consult**
  (``consult``): the target joins the agent in the side bridge; then ``consult_complete`` moves the target to the
  caller and hangs the agent up, ``consult_return`` hangs the target up and moves the agent back, ``conference``
  moves both into the caller's bridge (three channels); each takes the caller off hold with the resume phrase.
- **Faults.** A target that fails returns the caller to the agent (resume phrase), with ``transfer.failed`` and
  the reason in the answer. The target hanging up during a consult returns to the agent the same way; the agent
  hanging up during a consult completes it (the caller stays with the target); the caller hanging up ends it all.

Every step is a timeline event with ``by`` (:mod:`callcenter.calls.events`, ``transfer.*``, ``conference.*``).

Over 500 lines: one transfer is one state machine (set aside, ring, consult, complete / return / conference, and
any party leaving at any step) over one set of indexes (second legs, asking agents' legs, callers); split, each
half would reach into the other's indexes.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentError, AgentState
from callcenter.calls.control import ControlRefused
from callcenter.logs import get_logger
from callcenter.scripting.protocol import TransferResult, Unhold
from callcenter.telephony.ari.call import AriCall, CallHost, clean_up, hang_up_quietly, safe_id
from callcenter.telephony.ari.client import Json, path_id
from callcenter.telephony.ari.endpoints import agent_endpoint
from callcenter.telephony.ari.errors import AriError
from callcenter.telephony.ari.outbound import REFUSED, OutboundCalls
from callcenter.telephony.ari.routing import Leg

log = get_logger(__name__)

TRANSFER_ARG = "transfer"
QUEUE_SCRIPT = "agent_queue"  # a caller whose agent left during a failed transfer waits for the next free agent
KINDS = ("agent", "group", "number")
NUMBER = re.compile(r"\+?[0-9]{3,32}")
# Pool state of an agent who did not take a transferred call, by how the ring ended (as routing.py, R-02).
_AFTER_RING = {"no_answer": AgentState.NOT_READY, "failed": AgentState.OFFLINE}


class TransferHost(CallHost, Protocol):
    """What the transfers need of their application (AriService) beyond what any call needs."""

    outbound: OutboundCalls

    def call(self, call_id: str) -> AriCall | None: ...


@dataclass
class Handoff:
    """One transfer or consult of one call: who asked, the target, the side bridge and the second leg."""

    call: AriCall
    mode: str  # blind | consult
    by: str
    kind: str
    target: str
    first_leg: str
    first_agent: Agent | None
    bridge: str
    phase: str = "ringing"  # ringing | consult | conference | external | done
    leg: str | None = None  # the target's channel once answered
    agent: Agent | None = None  # the target, when it is an agent
    ringing: str | None = None  # the channel being rung now
    tried: list[str] = field(default_factory=list)
    aside: bool = False  # the side bridge exists
    first_gone: bool = False  # the first agent hung up
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"by": self.by, "kind": self.kind, "target": self.target}
        if self.agent is not None:
            out["agent"] = self.agent.id
        return out

    def state(self) -> dict[str, Any]:
        """What the panel shows of it (the API answer's ``state``)."""
        return {"transfer": self.mode, "phase": self.phase, "kind": self.kind, "target": self.target,
                "agent": self.agent.id if self.agent else None, "leg": self.leg}


class Transfers:
    """The transfers of one ARI application (owned by :class:`AriService` as ``transfers``)."""

    def __init__(self, service: TransferHost) -> None:
        self.service = service
        self.active: dict[str, Handoff] = {}  # call id → its running handoff
        self._legs: dict[str, Handoff] = {}  # target channels (answered) → handoff
        self._firsts: dict[str, Handoff] = {}  # the asking agent's leg → handoff
        self._callers: dict[str, Handoff] = {}  # the caller's channel → handoff
        self._serial = itertools.count(1)

    # ------------------------------------------------------------------ events

    def on_event(self, message: Json) -> bool:
        """An event of a channel a transfer owns; True when nothing else may route it (the service stops)."""
        channel_id = str((message.get("channel") or message.get("peer") or {}).get("id", ""))
        kind = message.get("type")
        if kind == "StasisStart" and [str(a) for a in message.get("args", [])][:1] == [TRANSFER_ARG]:
            if channel_id not in self._legs:  # answered after we gave up on it, or left by a restart
                self.service.spawn(self._hang_up(channel_id))
            return True
        gone = kind in ("StasisEnd", "ChannelDestroyed")
        h = self._legs.get(channel_id)
        if h is not None:
            if gone:
                self._legs.pop(channel_id, None)
                self.service.spawn(self._target_left(h))
            return True
        h = self._firsts.get(channel_id)
        if h is not None:
            if gone:
                self._firsts.pop(channel_id, None)
                # Its later events (ChannelDestroyed after StasisEnd) must not reach routing, which would take the
                # agent's hang-up for the end of the call.
                self.service.unindex_leg(channel_id)
                h.first_gone = True
                self.service.spawn(self._agent_left(h))
                return True
            return False
        h = self._callers.get(channel_id)
        if h is not None and gone:
            self._callers.pop(channel_id, None)
            self.service.spawn(self._caller_left(h))
        return False  # the call itself sees its caller's end

    def reconcile(self, live: dict[str, Json]) -> None:
        """After a reconnect (events may have been lost): a caller, a second leg or an asking agent that went
        meanwhile is handled as its event would have been. A transfer busy with a request is left to it."""
        for h in list(self.active.values()):
            if h.lock.locked():
                continue
            if h.call.channel_id not in live:
                self._callers.pop(h.call.channel_id, None)
                self.service.spawn(self._caller_left(h))
            elif h.leg is not None and h.leg in self._legs and h.leg not in live:
                self._legs.pop(h.leg, None)
                self.service.spawn(self._target_left(h))
            elif h.first_leg in self._firsts and h.first_leg not in live:
                self._firsts.pop(h.first_leg, None)
                self.service.unindex_leg(h.first_leg)
                h.first_gone = True
                self.service.spawn(self._agent_left(h))

    def owns(self, channel_id: str) -> bool:
        """A second leg of a running transfer (the reconcile must not adopt it as a caller)."""
        return channel_id in self._legs or any(h.ringing == channel_id for h in self.active.values())

    def bridges(self) -> set[str]:
        return {h.bridge for h in self.active.values() if h.aside}

    # ------------------------------------------------------------------ the panel's actions

    async def blind(self, call: AriCall, by: str, kind: str, target: str) -> dict[str, Any]:
        """Transfer the caller to ``target``; the agent leaves once it answers. A target that fails returns the
        caller to the agent (``result`` says why)."""
        h = self._begin(call, "blind", by, kind, target)
        call.note(ev.TRANSFER_BLIND, h.facts())
        async with h.lock:
            try:
                await self._set_aside(h)
                result, detail = await self._ring(h)
                if result != "answered":
                    return await self._failed(h, result, detail)
                await self._move(h.leg, self._caller_bridge(call))
                await self._first_leaves(h)
                self._resume(h)
                call.note(ev.TRANSFER_COMPLETED, {**h.facts(), "mode": "blind"})
                return {**h.state(), "result": "answered"}
            except AriError as exc:
                return await self._broke(h, exc)
            finally:
                self._finish(h)

    async def consult(self, call: AriCall, by: str, kind: str, target: str) -> dict[str, Any]:
        """Ring ``target`` while the caller holds; once it answers the agent talks with it (the second leg)."""
        h = self._begin(call, "consult", by, kind, target)
        call.note(ev.TRANSFER_CONSULT_STARTED, h.facts())
        async with h.lock:
            try:
                await self._set_aside(h)
                result, detail = await self._ring(h)
                if result != "answered":
                    outcome = await self._failed(h, result, detail)
                    self._finish(h)
                    return outcome
                await self._move(h.leg, h.bridge)
            except AriError as exc:
                outcome = await self._broke(h, exc)
                self._finish(h)
                return outcome
            except BaseException:
                await self._undo(h)
                raise
            h.phase = "consult"
            call.note(ev.TRANSFER_CONSULT_ANSWERED, {**h.facts(), "leg": h.leg})
            if h.first_gone:  # the agent hung up while it rang: the caller goes to the target
                await self._complete(h, "agent_hung_up")
            return {**h.state(), "result": "answered"}

    async def complete(self, call: AriCall, by: str) -> dict[str, Any]:
        """The consulted party takes the caller; the agent leaves."""
        h = self._running(call, ("consult", "conference"))
        async with h.lock:
            self._still(h, ("consult", "conference"))
            await self._complete(h, "agent", by)
        return h.state()

    async def return_(self, call: AriCall, by: str) -> dict[str, Any]:
        """The consulted party is hung up; the caller is back with the agent (from a consult or a conference)."""
        h = self._running(call, ("consult", "conference"))
        async with h.lock:
            self._still(h, ("consult", "conference"))
            await self._return(h, "agent", by)
        return h.state()

    async def conference(self, call: AriCall, by: str) -> dict[str, Any]:
        """Caller, agent and the consulted party in the caller's bridge (three-way)."""
        h = self._running(call, ("consult",))
        async with h.lock:
            self._still(h, ("consult",))
            bridge = self._caller_bridge(call)
            assert h.leg is not None
            await self._move(h.first_leg, bridge)
            await self._move(h.leg, bridge)
            await self._drop_side_bridge(h)
            h.phase = "conference"
            self._resume(h)
            call.note(ev.CONFERENCE_STARTED, {**h.facts(), "by": by, "parties": self._parties(h)})
        return h.state()

    # ------------------------------------------------------------------ checks

    def _begin(self, call: AriCall, mode: str, by: str, kind: str, target: str) -> Handoff:
        if call.gone:
            raise ControlRefused(f"call {call.call_id} has ended", 404)
        if call.agent is None or call.agent_leg is None:
            raise ControlRefused(f"call {call.call_id}: no agent is on the line with the caller")
        if call.call_id in self.active:
            raise ControlRefused(f"call {call.call_id}: a {self.active[call.call_id].mode} transfer is already "
                                 "running; complete or return it first")
        if kind not in KINDS:
            raise ControlRefused(f"kind: expected one of {', '.join(KINDS)}", 400)
        target = target.strip()
        if kind == "agent":
            self._free_agent(call, target)
        elif kind == "group":
            self._group_has_someone(call, target)
        elif not NUMBER.fullmatch(target):
            raise ControlRefused(f"target: {target!r} is not a phone number (3 to 32 digits, optionally +)", 400)
        h = Handoff(call, mode, by, kind, target, first_leg=call.agent_leg, first_agent=call.agent,
                    bridge=safe_id(f"cs-{next(self._serial)}-{call.call_id}"))
        self.active[call.call_id] = h
        self._firsts[h.first_leg] = h
        self._callers[call.channel_id] = h
        return h

    def _free_agent(self, call: AriCall, target: str) -> Agent:
        pool = self.service.pool
        agent = pool.agents.get(target) or next((a for a in pool.agents.values() if a.work_number == target), None)
        if agent is None:
            raise ControlRefused(f"target: no agent {target!r} (an agent id or work number)", 400)
        if call.agent is not None and agent.id == call.agent.id:
            raise ControlRefused("target: that is you; pick another agent")
        if agent.state is not AgentState.READY:
            raise ControlRefused(f"agent {agent.work_number or agent.id} is not free ({agent.state.value})")
        return agent

    def _group_has_someone(self, call: AriCall, group: str) -> None:
        try:
            free = self.service.pool.next_free(group, locale=call.locale)
        except AgentError:
            raise ControlRefused(f"target: no agent group {group!r}", 400) from None
        if free is None:
            raise ControlRefused(f"nobody in group {group} is free now")

    def _running(self, call: AriCall, phases: tuple[str, ...]) -> Handoff:
        h = self.active.get(call.call_id)
        if h is None or h.phase not in phases:
            now = "no consult" if h is None else f"the transfer is {h.phase}"
            raise ControlRefused(f"call {call.call_id}: {now}; this needs a {' or '.join(phases)}")
        return h

    def _still(self, h: Handoff, phases: tuple[str, ...]) -> None:
        """Re-checked under the lock: the target or the agent may have left while the request waited."""
        if h.phase not in phases:
            raise ControlRefused(f"call {h.call.call_id}: the consult has ended ({h.phase})")

    # ------------------------------------------------------------------ ringing the target

    async def _ring(self, h: Handoff) -> tuple[str, str]:
        """Ring the target: ("answered", "") with ``h.leg`` set, or (reason, what Asterisk said)."""
        if h.kind == "agent":
            wanted = self._free_agent(h.call, h.target)
            agent = await self.service.pool.reserve_agent(wanted.id, call_id=h.call.call_id)
            if agent is None:
                return "busy", f"agent {wanted.id} was taken by another call"
            return await self._ring_agent(h, agent)
        if h.kind == "group":
            return await self._ring_group(h)
        t = self.service.settings.telephony
        result, detail = await self._originate(h, t.outbound_endpoint.format(number=h.target), t.outbound_ring_seconds)
        if result == "failed" and detail == REFUSED:
            result = "invalid"  # no route to that number (a Local channel to an extension the dialplan lacks)
        return result, detail

    async def _ring_group(self, h: Handoff) -> tuple[str, str]:
        """The group's next free agent, then the neighbour seat of each who does not answer (R-02)."""
        pool, after = self.service.pool, None
        last = ("no_agent", f"nobody in group {h.target} answered")
        while not h.call.gone:
            try:
                agent = await pool.reserve(h.target, call_id=h.call.call_id, locale=h.call.locale, tried=h.tried,
                                           after=after)
            except AgentError:
                agent = None
            if agent is None:
                return last if h.tried else ("no_agent", f"nobody in group {h.target} is free")
            result = await self._ring_agent(h, agent)
            if result[0] in ("answered", "caller_gone"):
                return result
            last, after = ("no_agent", f"nobody in group {h.target} answered ({result[0]} last)"), agent.id
        return "caller_gone", ""

    async def _ring_agent(self, h: Handoff, agent: Agent) -> tuple[str, str]:
        """Ring an agent whose seat is reserved for this call (three rings, R-01)."""
        service = self.service
        h.tried.append(agent.id)
        limit = service.cadence.limit(service.settings.telephony.agent_ring_limit)
        result, detail = await self._originate(h, agent_endpoint(service.settings, agent), limit)
        if result == "answered":
            h.agent = agent
            await service.pool.answered(agent.id, h.call.call_id)
        else:
            state = _AFTER_RING.get(result, AgentState.READY)
            await service.pool.release(agent.id, state, call_id=h.call.call_id,
                                       reason=result if state is not AgentState.READY else None)
            h.call.note(ev.TRANSFER_SKIPPED, {"by": h.by, "agent": agent.id, "reason": result})
        return result, detail

    async def _originate(self, h: Handoff, endpoint: str, ring_seconds: float) -> tuple[str, str]:
        call = h.call
        if call.gone:
            return "caller_gone", ""
        leg_id = safe_id(f"tx{next(self._serial)}-{call.call_id}")
        h.ringing = leg_id
        try:
            answered = await self.service.outbound.ring(leg_id, {
                "endpoint": endpoint, "appArgs": f"{TRANSFER_ARG},{call.call_id}", "callerId": call.caller,
                "timeout": math.ceil(ring_seconds),
            }, ring_seconds)
        finally:
            h.ringing = None
        if not isinstance(answered, dict):
            return ("caller_gone", "") if call.gone else answered
        if call.gone or h.phase == "done":
            await self._hang_up(leg_id)
            return "caller_gone", ""
        h.leg = leg_id
        self._legs[leg_id] = h
        return "answered", ""

    # ------------------------------------------------------------------ moving legs

    def _caller_bridge(self, call: AriCall) -> str:
        if call.bridge_id is None:
            raise ControlRefused(f"call {call.call_id} has no bridge")
        return call.bridge_id

    async def _set_aside(self, h: Handoff) -> None:
        """Caller on hold (R-38, R-39, R-40), the agent into the side bridge."""
        if not h.call.on_hold:
            h.call.on_hold = True
            h.call.request_script("hold", by=h.by)
        await self.service.client.request("POST", "bridges", {"type": "mixing", "bridgeId": h.bridge,
                                                              "name": f"consult {h.call.call_id}"})
        h.aside = True
        await self._move(h.first_leg, h.bridge)

    async def _move(self, channel_id: str | None, bridge_id: str) -> None:
        assert channel_id is not None
        await self.service.client.request("POST", f"bridges/{path_id(bridge_id)}/addChannel", {"channel": channel_id})

    def _resume(self, h: Handoff) -> None:
        """Off hold with 「对不起,让您久等了」 (the resume script, R-38, R-39)."""
        if not h.call.gone and h.call.on_hold:
            h.call.on_hold = False
            h.call.request_script("resume", by=h.by)

    async def _drop_side_bridge(self, h: Handoff) -> None:
        if h.aside:
            h.aside = False
            await self._quietly("DELETE", f"bridges/{path_id(h.bridge)}")

    async def _failed(self, h: Handoff, result: str, detail: str) -> dict[str, Any]:
        """The target did not take the call: the caller is back with the agent (or the queue, if the agent left)."""
        if h.call.gone or result == "caller_gone":
            await self._undo(h)
            return {**h.state(), "result": "caller_gone"}
        await self._back(h)
        h.call.note(ev.TRANSFER_FAILED, {**h.facts(), "mode": h.mode, "reason": result, "detail": detail})
        log.info("transfer failed", call_id=h.call.call_id, mode=h.mode, kind=h.kind, reason=result)
        return {**h.state(), "result": result, "detail": detail}

    async def _broke(self, h: Handoff, exc: AriError) -> dict[str, Any]:
        """Asterisk refused a step (a leg left in the same instant): back to the agent, said as a failure."""
        log.warning("transfer step refused", call_id=h.call.call_id, error=str(exc))
        return await self._failed(h, "failed", str(exc))

    async def _back(self, h: Handoff) -> None:
        """Second leg gone or never answered: the agent rejoins the caller, who comes off hold."""
        call = h.call
        if h.leg is not None:
            self._legs.pop(h.leg, None)
            await self._hang_up(h.leg)
            await self._release(h, h.agent, AgentState.AFTER_CALL)
        h.phase = "done"
        if h.first_gone:  # nobody left for the caller here: back to the queue, never dead air
            await self._drop_side_bridge(h)
            await self._release(h, h.first_agent, AgentState.AFTER_CALL)
            call.agent, call.agent_leg = None, None
            if not call.gone:
                await call.perform(Unhold())  # the queue's agent must be heard; its script apologises for the wait
                call.request_script(QUEUE_SCRIPT, by="system")
            return
        try:
            await self._move(h.first_leg, self._caller_bridge(call))
        except AriError as exc:
            log.warning("transfer: the agent could not rejoin the caller", call_id=call.call_id, error=str(exc))
        await self._drop_side_bridge(h)
        self._resume(h)

    async def _complete(self, h: Handoff, reason: str, by: str | None = None) -> None:
        call = h.call
        if h.phase == "consult":
            await self._move(h.leg, self._caller_bridge(call))
        await self._drop_side_bridge(h)
        was = h.phase
        await self._first_leaves(h)
        if h.phase != "external":
            h.phase = "done"
        if was == "consult":
            self._resume(h)
        call.note(ev.TRANSFER_CONSULT_COMPLETED, {**h.facts(), "by": by or h.by, "reason": reason})
        self._finish(h)

    async def _return(self, h: Handoff, reason: str, by: str | None = None) -> None:
        was = h.phase
        if was == "conference":
            if h.leg is not None:
                self._legs.pop(h.leg, None)
                await self._hang_up(h.leg)
                await self._release(h, h.agent, AgentState.AFTER_CALL)
            h.phase = "done"
            h.call.note(ev.CONFERENCE_ENDED, {**h.facts(), "by": by or h.by, "reason": reason})
        else:
            await self._back(h)
            h.call.note(ev.TRANSFER_CONSULT_RETURNED, {**h.facts(), "by": by or h.by, "reason": reason})
        self._finish(h)

    async def _first_leaves(self, h: Handoff) -> None:
        """The target is with the caller now: it becomes the call's agent (or, for a number, its far end), and the
        first agent's leg is hung up (its end is ours, not the caller's: see on_event)."""
        call, service = h.call, self.service
        self._firsts.pop(h.first_leg, None)
        call.legs.pop(h.first_leg, None)
        service.unindex_leg(h.first_leg)
        assert h.leg is not None
        if h.agent is not None:
            self._legs.pop(h.leg, None)
            group = h.target if h.kind == "group" else call.entry.group
            leg = Leg(h.agent, group, asyncio.get_running_loop().create_future())
            leg.resolve("answered")
            call.legs[h.leg] = leg
            service.index_leg(h.leg, call)  # from now on its hang-up is the agent releasing (routing.py)
            call.agent, call.agent_leg = h.agent, h.leg
            call.muted = False  # the first agent's mute went with their leg
            call.push(TransferResult("answered", agent=h.agent.id))  # the session knows its new agent
        else:
            call.agent, call.agent_leg = None, None
            h.phase = "external"  # the far end's hang-up ends the call (see _target_left)
        if not h.first_gone:
            await self._hang_up(h.first_leg)
        await self._release(h, h.first_agent, AgentState.AFTER_CALL)

    def _parties(self, h: Handoff) -> list[str]:
        first = h.first_agent.id if h.first_agent else ""
        return [call for call in ("caller", first, h.agent.id if h.agent else h.target) if call]

    # ------------------------------------------------------------------ what the parties do

    async def _target_left(self, h: Handoff) -> None:
        async with h.lock:
            if h.phase == "external":  # the transferred-to number hung up: the call is over
                h.phase = "done"
                self._finish(h)
                if not h.call.gone:
                    await h.call.hang_up()
                return
            if h.phase in ("consult", "conference"):
                await self._return(h, "target_left", by=h.agent.id if h.agent else "target")

    async def _agent_left(self, h: Handoff) -> None:
        """The agent hung up: during a consult or a conference the caller stays with the target (the transfer
        completes); while the target rings, :meth:`consult` / :meth:`blind` finish with ``first_gone``."""
        async with h.lock:
            if h.phase in ("consult", "conference"):
                await self._complete(h, "agent_hung_up", by=h.by)

    async def _caller_left(self, h: Handoff) -> None:
        if h.ringing is not None:
            await self._hang_up(h.ringing)  # the ring ends; the action waiting on it sees the call gone
        async with h.lock:
            await self._undo(h)

    async def _undo(self, h: Handoff) -> None:
        """The call is over (or the transfer broke): hang up the second leg, drop the side bridge."""
        if h.leg is not None and h.phase != "done":
            self._legs.pop(h.leg, None)
            if h.call.agent_leg != h.leg:
                await self._hang_up(h.leg)
                await self._release(h, h.agent, AgentState.AFTER_CALL)
        h.phase = "done"
        await self._drop_side_bridge(h)
        self._finish(h)

    async def _release(self, h: Handoff, agent: Agent | None, state: AgentState) -> None:
        """An agent's part in this call is over: their seat leaves the call's reservation (wrap-up after talking)."""
        if agent is not None:
            await self.service.pool.release(agent.id, state, call_id=h.call.call_id)

    def _finish(self, h: Handoff) -> None:
        if h.phase not in ("consult", "conference", "external"):
            h.phase = "done"
        if h.phase == "done":
            if self.active.get(h.call.call_id) is h:
                del self.active[h.call.call_id]
            self._firsts.pop(h.first_leg, None)
            self._callers.pop(h.call.channel_id, None)

    async def _hang_up(self, channel_id: str) -> None:
        await hang_up_quietly(self.service.client, channel_id, "transfer")

    async def _quietly(self, method: str, uri: str) -> None:
        await clean_up(self.service.client, method, uri, "transfer")


# ---------------------------------------------------------------------- the call-control dispatch (controls.py)

Handler = Callable[[AriCall, Mapping[str, Any], str], Awaitable[dict[str, Any]]]


def transfers_of(call: AriCall) -> Transfers:
    found = getattr(call.service, "transfers", None)
    if not isinstance(found, Transfers):
        raise ControlRefused(f"call {call.call_id}: this service has no transfers")
    return found


async def _transfer(call: AriCall, args: Mapping[str, Any], by: str) -> dict[str, Any]:
    return await transfers_of(call).blind(call, by, str(args.get("kind", "")), str(args.get("target", "")))


async def _consult(call: AriCall, args: Mapping[str, Any], by: str) -> dict[str, Any]:
    return await transfers_of(call).consult(call, by, str(args.get("kind", "")), str(args.get("target", "")))


async def _consult_complete(call: AriCall, _args: Mapping[str, Any], by: str) -> dict[str, Any]:
    return await transfers_of(call).complete(call, by)


async def _consult_return(call: AriCall, _args: Mapping[str, Any], by: str) -> dict[str, Any]:
    return await transfers_of(call).return_(call, by)


async def _conference(call: AriCall, _args: Mapping[str, Any], by: str) -> dict[str, Any]:
    return await transfers_of(call).conference(call, by)


ARI_ACTIONS: dict[str, Handler] = {
    "transfer": _transfer,
    "consult": _consult,
    "consult_complete": _consult_complete,
    "consult_return": _consult_return,
    "conference": _conference,
}
