"""Transfer over FastAGI (R-01, R-02): ring the group's agents one at a time with ``Dial``, for at most the
ring limit each (three rings of the cadence), the longest idle first and then the neighbour seat.

``EXEC Dial(<endpoint>,<ring limit in seconds>,g)`` then ``GET VARIABLE DIALSTATUS``: ANSWER bridges (Dial
returns when the conversation ends; the answer instant is reconstructed from ``ANSWEREDTIME_MS``), NOANSWER /
BUSY / CHANUNAVAIL skip the agent (``agent.skipped``) for the neighbour, CANCEL is the caller giving up, no one
left is :class:`TransferResult` ``no_agent`` and the caller stays queued for the session's queue prompts.

:class:`AgentDialing` is a part of :class:`~callcenter.telephony.agi.channel.AGIChannel`; what it uses of the
channel is :class:`_DialingCall`, so this module never imports the channel.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentState
from callcenter.calls.rings import RingCadence
from callcenter.calls.seat_pool import SeatPool
from callcenter.logs import get_logger
from callcenter.scripting.protocol import Event, Transfer, TransferResult
from callcenter.telephony.agi.codec import AGIDeadChannel, AGIHangup, AGIProtocolError, Reply

log = get_logger(__name__)

# Dial blocks for the whole bridged conversation; a reply later than this means the peer is stuck.
MAX_CONVERSATION_SECONDS = 4 * 3600


class _Gone(Exception):
    """Internal: the call ended while a command ran (the HungUp event has been queued)."""


class _Place(Protocol):
    @property
    def cadence(self) -> RingCadence: ...

    @property
    def agent_ring_limit(self) -> int: ...


class _Clock(Protocol):
    def time(self) -> float: ...


class _DialingCall(Protocol):
    """What transferring needs of the AGI channel."""

    @property
    def call_id(self) -> str: ...

    @property
    def locale(self) -> str: ...

    @property
    def place(self) -> _Place: ...

    @property
    def pool(self) -> SeatPool: ...

    @property
    def clock(self) -> _Clock: ...

    @property
    def _t0(self) -> float: ...

    _queue_since: float | None
    _agent: Agent | None
    _took_call: str | None
    _group_warned: bool

    async def _exec(self, app: str, *args: object, limit: float | None = None) -> Reply: ...

    async def _variable(self, name: str) -> str | None: ...

    def _emit(self, event: Event) -> None: ...

    def _offset(self) -> float: ...

    def _note(self, type_: str, data: dict[str, Any], *, offset: float | None = None) -> None: ...

    def _hung_up(self, cause: str, *, by: str) -> None: ...

    async def _pick(self, group: str, wanted: str | None, tried: list[str], after: str | None) -> Agent | None: ...

    async def _ring_agent(self, agent: Agent, group: str) -> str: ...

    async def _dial_status(self) -> str: ...

    async def _bridged(self, agent: Agent, group: str, dial_start: float, elapsed: float) -> None: ...


class AgentDialing:
    """The channel's transfer: :meth:`_transfer` carries out a :class:`Transfer` command."""

    _queue_since: float | None
    _agent: Agent | None
    _took_call: str | None
    _group_warned: bool

    async def _transfer(self: _DialingCall, transfer: Transfer) -> None:
        group = transfer.group
        if self._queue_since is None:  # the caller's wait counts from the first transfer (agent.answered wait)
            self._queue_since = self._offset()
        tried: list[str] = []
        after: str | None = None
        wanted = transfer.agent
        while True:
            agent = await self._pick(group, wanted, tried, after)
            wanted = None
            if agent is None:
                self._emit(TransferResult("no_agent"))
                return
            tried.append(agent.id)
            outcome = await self._ring_agent(agent, group)
            if outcome == "answered":
                return
            after = agent.id

    async def _pick(self: _DialingCall, group: str, wanted: str | None, tried: list[str],
                    after: str | None) -> Agent | None:
        """The seat to ring next, reserved for this call in the centre's table (issue 17: no other process
        rings it meanwhile)."""
        try:
            return await self.pool.reserve(group, call_id=self.call_id, locale=self.locale, tried=tried,
                                           after=after, wanted=wanted)
        except Exception as exc:  # unknown group: nobody to ring, the caller stays queued
            if not self._group_warned:  # once per call, not once per queue round
                self._group_warned = True
                log.warning("agi.transfer_group", call_id=self.call_id, group=group, error=str(exc))
            return None

    async def _ring_agent(self: _DialingCall, agent: Agent, group: str) -> str:
        ring_limit = self.place.cadence.limit(self.place.agent_ring_limit)
        self._note(ev.AGENT_RINGING, {"agent": agent.id, "group": group, "ring": 1})
        dial_start = self.clock.time()
        try:
            reply = await self._exec(
                "Dial", agent.endpoint, f"{ring_limit:g}", "g", limit=MAX_CONVERSATION_SECONDS
            )
        except BaseException:
            self.pool.release_soon(agent.id, AgentState.READY, call_id=self.call_id)
            raise
        elapsed = self.clock.time() - dial_start
        status = await self._dial_status()
        if status == "ANSWER":
            await self._bridged(agent, group, dial_start, elapsed)
            # Dial returns when the bridged conversation is over: -1 when the caller hung up; 0 (option g) when
            # the agent did and the caller is still on the line, whom close() then releases. Either way the
            # conversation has happened inside Dial, so the call ends here (an agent-first release is on the
            # timeline for QA, R-48).
            if reply.failed:
                self._hung_up("caller_hangup", by="caller")
            else:
                self._hung_up("agent_released", by="agent")
            raise _Gone
        if status == "CANCEL" or reply.failed:
            # The caller gave up while the seat was ringing: an abandoned call, not the agent's miss.
            await self.pool.release(agent.id, AgentState.READY, call_id=self.call_id)
            self._hung_up("caller_hangup", by="caller")
            raise _Gone
        ring_seconds = min(elapsed, ring_limit)
        reason = {"BUSY": "busy", "CHANUNAVAIL": "unavailable", "CONGESTION": "unavailable"}.get(status, "no_answer")
        self._note(
            ev.AGENT_SKIPPED,
            {
                "agent": agent.id,
                "group": group,
                "rings": self.place.cadence.rings_at(ring_seconds),
                "seconds": round(ring_seconds, 3),
                "reason": reason,
            },
        )
        # An agent who let it ring is away from the seat: not offered calls until they say ready.
        after_ring = {"no_answer": AgentState.NOT_READY, "unavailable": AgentState.OFFLINE}
        next_state = after_ring.get(reason, AgentState.READY)
        # Not awaited: the neighbour seat's reservation goes ahead while this one is written (R-02's time).
        self.pool.release_soon(agent.id, next_state, call_id=self.call_id,
                               reason=reason if next_state is not AgentState.READY else None)
        return reason

    async def _dial_status(self: _DialingCall) -> str:
        try:
            return (await self._variable("DIALSTATUS")) or ""
        except (AGIDeadChannel, AGIHangup):
            return "CANCEL"

    async def _bridged(self: _DialingCall, agent: Agent, group: str, dial_start: float, elapsed: float) -> None:
        """Dial returned after an answered leg: reconstruct when the agent picked up and log it (R-01)."""
        talk_ms = None
        for name in ("ANSWEREDTIME_MS", "ANSWEREDTIME"):
            with contextlib.suppress(AGIDeadChannel, AGIHangup, AGIProtocolError):
                value = await self._variable(name)
                if value:
                    talk_ms = float(value) * (1 if name.endswith("_MS") else 1000)
                    break
        ring_seconds = max(0.0, elapsed - (talk_ms or 0.0) / 1000.0)
        answered_at = dial_start - self._t0 + ring_seconds
        await self.pool.answered(agent.id, self.call_id)
        self._agent = agent
        self._took_call = agent.id
        wait = answered_at - (self._queue_since or 0.0)
        data = {
            "agent": agent.id,
            "group": group,
            "rings": self.place.cadence.rings_at(ring_seconds),
            "seconds": round(ring_seconds, 3),
            "wait": round(wait, 3),
        }
        self._note(ev.AGENT_ANSWERED, data, offset=answered_at)
        self._note(ev.BRIDGED, {"agent": agent.id, "bridge": f"dial:{self.call_id}"}, offset=answered_at)
        self._emit(TransferResult("answered", agent.id))
