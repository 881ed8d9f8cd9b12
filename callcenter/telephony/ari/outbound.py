"""Calls the centre places (回访, R-94..R-105) over ARI: preview, progressive and survey.

One :meth:`OutboundCalls.dial` is one attempt on one callback task; it returns how the attempt ended as an
:class:`OutboundResult` whose ``result`` is one of :class:`callcenter.callbacks.results.AttemptResult`'s values
(the dialer writes it to the task and the order). How each mode runs on Asterisk 22:

- **preview**: the agent who clicked "call" is rung first (``POST channels`` to the agent's endpoint into our
  application, ``appArgs=outbound-agent,<call_id>``). An agent who does not pick up within the ring limit
  (R-01, three rings) means nobody was dialled: ``not_dialled``. Once the agent is on the line the customer is
  rung; on answer the script (``callback_preview``) hands the customer to that waiting agent at once — the
  standby leg below — and the call is bridged and recorded like an inbound one.
- **progressive**: the dialer rings a customer only when an agent of the campaign's group is ready; on answer
  the script (``callback_progressive``) says one sentence and transfers to the group (three rings each, the
  neighbour seat, R-02); nobody free: the apology, never silence.
- **survey**: no agent; the script (``callback_survey``) says the R-105 opening, asks for satisfaction by key,
  repeats once, thanks and hangs up. The satisfaction is the ``rated_<answer>`` state the script reached.

The customer's channel is originated with ``appArgs=outbound,<call_id>`` and our own id (the call's id, as an
inbound caller's channel id is). Before the answer its events come here: ChannelDestroyed's cause says busy (17),
congestion (34 and the network causes) or no answer; a refused originate is ``failed``. After the answer it is an
:class:`~callcenter.telephony.ari.call.AriCall` driven by :func:`callcenter.calls.runner.run_call` like every
other call, with ``call.offered`` saying ``direction: outbound``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from callcenter.calls.agents import AgentState
from callcenter.calls.runner import CallOutcome, open_session, run_call
from callcenter.config import EntrySettings
from callcenter.logs import get_logger
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.protocol import Command, Event, Note
from callcenter.telephony.ari.call import AriCall, CallHost, safe_id
from callcenter.telephony.ari.client import Json, path_id
from callcenter.telephony.ari.endpoints import agent_endpoint
from callcenter.telephony.ari.errors import AriError
from callcenter.telephony.ari.routing import Leg

log = get_logger(__name__)

# Seconds an agent leg of a preview call may take beyond the ring limit before Asterisk itself gives up.
_ORIGINATE_GRACE_SECONDS = 5
# Q.850 causes of a customer channel that ended before the answer.
_BUSY = frozenset({17})
_CONGESTION = frozenset({34, 38, 41, 42, 44, 47})
_NO_ANSWER = frozenset({18, 19, 21, 0, 16})
_DIALSTATUS = {"BUSY": "busy", "CONGESTION": "congestion", "NOANSWER": "no_answer", "CANCEL": "no_answer",
               "CHANUNAVAIL": "failed"}
# The detail of an attempt Asterisk would not even start (no route to that number).
REFUSED = "the originate was refused"
RATED_PREFIX = "rated_"
OPENING_STATE = "opening"


class OutboundHost(CallHost, Protocol):
    """What the outbound calls need of their application (AriService) beyond what any call needs."""

    calls: dict[str, AriCall]

    def index_channel(self, call: AriCall) -> None: ...

    def library(self) -> Any: ...

    def agent_record(self, agent_id: str) -> dict[str, str]: ...

    def record_outcome(self, outcome: CallOutcome) -> None: ...

    on_outbound_adopted: Callable[[AriCall, CallOutcome], Awaitable[None]] | None


@dataclass(frozen=True)
class OutboundRequest:
    """One attempt: whom to dial, with which script, for which agent group (and agent, in preview)."""

    call_id: str
    number: str
    script: str
    group: str
    mode: str  # preview | progressive | survey
    locale: str = "zh-CN"
    agent: str | None = None  # preview: rung first
    caller: Mapping[str, str] = field(default_factory=dict)  # surname, honorific
    holiday: str = ""  # R-105 holiday greeting
    data: Mapping[str, Any] = field(default_factory=dict)  # task, campaign, order: into call.offered


@dataclass(frozen=True)
class OutboundResult:
    call_id: str
    result: str  # an AttemptResult value, or "not_dialled" (the preview agent did not pick up)
    agent: str | None = None
    satisfaction: str | None = None
    disposition: str | None = None
    detail: str = ""


@dataclass
class _Pending:
    """A channel we originated that has not entered Stasis yet: answered (StasisStart) or gone (cause)."""

    future: asyncio.Future[Json | int]
    dialstatus: str = ""  # the last Dial event's (BUSY, CONGESTION, NOANSWER, CHANUNAVAIL, …)
    seen: list[str] = field(default_factory=list)

    def settle(self, value: Json | int) -> None:
        if not self.future.done():
            self.future.set_result(value)


class _Watched:
    """The session of an outbound call, watched for the states it enters (the survey's answer is one)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.states: list[str] = []

    @property
    def finished(self) -> bool:
        return bool(self.session.finished)

    @property
    def disposition(self) -> str | None:
        return self.session.disposition  # type: ignore[no-any-return]

    @property
    def released_by(self) -> str | None:
        return self.session.released_by  # type: ignore[no-any-return]

    def start(self, *, answered: bool = False, at: float = 0.0) -> list[Command]:
        return self._watch(self.session.start(answered=answered, at=at))

    def handle(self, event: Event) -> list[Command]:
        return self._watch(self.session.handle(event))

    def _watch(self, commands: list[Command]) -> list[Command]:
        for command in commands:
            if isinstance(command, Note) and command.type == "script.state":
                self.states.append(str(command.data.get("state", "")))
        return commands


class OutboundCalls:
    """The outbound attempts of one ARI application (owned by :class:`AriService`)."""

    def __init__(self, service: OutboundHost) -> None:
        self.service = service
        self._pending: dict[str, _Pending] = {}

    def on_event(self, message: Json) -> bool:
        """An event of a channel we are dialling; True when it was ours (the service routes nothing more)."""
        channel_id = str((message.get("channel") or message.get("peer") or {}).get("id", ""))
        pending = self._pending.get(channel_id)
        if pending is None:
            return False
        kind = message.get("type")
        if kind == "StasisStart":
            pending.settle(message)
        elif kind == "Dial":
            pending.dialstatus = str(message.get("dialstatus", ""))
            pending.seen.append(f"Dial {pending.dialstatus}")
        elif kind == "ChannelDestroyed":
            pending.seen.append(f"ChannelDestroyed {message.get('cause')} {message.get('cause_txt', '')}")
            pending.settle(int(message.get("cause", 0)))
        return True

    async def dial(self, request: OutboundRequest) -> OutboundResult:
        """One attempt, start to end (the call included): never raises for what the network or people do."""
        standby: tuple[str, Leg] | None = None
        if request.agent is not None:
            standby = await self._ring_agent_first(request)
            if standby is None:
                return OutboundResult(request.call_id, "not_dialled", agent=request.agent,
                                      detail="the agent did not pick up")
        try:
            answered = await self._ring_customer(request)
        except BaseException:
            if standby is not None:
                await self._release_standby(*standby)
            raise
        if isinstance(answered, tuple):
            if standby is not None:
                await self._release_standby(*standby)
            result, detail = answered
            return OutboundResult(request.call_id, result, agent=request.agent, detail=detail)
        return await self._run(request, answered, standby)

    # ------------------------------------------------------------------ ringing

    async def _originate(self, channel_id: str, query: dict[str, Any], ring_seconds: float) -> Json | _Pending | str:
        """Originate into our application and wait for the answer (the StasisStart), the channel's end (the
        :class:`_Pending` with its cause and dial status), or ``"failed"`` when Asterisk refused the originate."""
        service = self.service
        pending = _Pending(asyncio.get_running_loop().create_future())
        self._pending[channel_id] = pending
        try:
            try:
                await service.client.request("POST", "channels", {**query, "app": service.app, "channelId": channel_id})
            except AriError as exc:
                log.warning("ari outbound originate refused", channel=channel_id, error=str(exc))
                return "failed"
            try:
                async with asyncio.timeout(ring_seconds + _ORIGINATE_GRACE_SECONDS):
                    answered = await pending.future
                return answered if isinstance(answered, dict) else pending
            except TimeoutError:  # Asterisk's own timeout did not end it: we do
                await self._hang_up(channel_id)
                pending.dialstatus = pending.dialstatus or "NOANSWER"
                pending.seen.append("no end within the ring time: hung up")
                return pending
        finally:
            self._pending.pop(channel_id, None)

    async def _ring_agent_first(self, request: OutboundRequest) -> tuple[str, Leg] | None:
        service = self.service
        assert request.agent is not None
        agent = await service.pool.reserve_agent(request.agent, call_id=request.call_id)
        if agent is None:
            log.warning("preview callback: the agent is not ready", agent=request.agent, call_id=request.call_id)
            return None
        limit = service.cadence.limit(service.settings.telephony.agent_ring_limit)
        # Not "<call id>-…": Asterisk 22 refuses a new channel whose id begins another live channel's id (the
        # customer's, made second, would be refused: measured, tests/asterisk/test_callbacks.py).
        leg_id = safe_id(f"agent-{agent.id}-{request.call_id}")
        started = service.clock.time()
        outcome = await self._originate(leg_id, {
            "endpoint": agent_endpoint(service.settings, agent), "appArgs": f"outbound-agent,{request.call_id}",
            "callerId": request.number, "timeout": math.ceil(limit),
        }, limit)
        if not isinstance(outcome, dict):
            await service.pool.release(agent.id, AgentState.READY, call_id=request.call_id)
            return None
        leg = Leg(agent, request.group, asyncio.get_running_loop().create_future(), call_id=request.call_id)
        leg.ring_started = started  # in the service clock; rebased onto the call's clock when it exists
        leg.answered_at = service.clock.time()
        return leg_id, leg

    async def _release_standby(self, leg_id: str, leg: Leg) -> None:
        await self._hang_up(leg_id)
        await self.service.pool.release(leg.agent.id, AgentState.READY, call_id=leg.call_id)

    async def _ring_customer(self, request: OutboundRequest) -> Json | tuple[str, str]:
        """The answered customer's StasisStart, or (result, what Asterisk said) when nobody answered."""
        t = self.service.settings.telephony
        endpoint = t.outbound_endpoint.format(number=request.number)
        return await self.ring(request.call_id, {
            "endpoint": endpoint, "appArgs": f"outbound,{request.call_id}",
            "callerId": t.outbound_caller_id or self.service.settings.service.hotline,
            "timeout": math.ceil(t.outbound_ring_seconds),
        }, t.outbound_ring_seconds)

    async def ring(self, channel_id: str, query: dict[str, Any], ring_seconds: float) -> Json | tuple[str, str]:
        """Originate ``channel_id`` into our application and wait: its StasisStart once answered, or (result, what
        Asterisk said) with result busy / congestion / no_answer / failed (also the transfers' second legs)."""
        outcome = await self._originate(channel_id, query, ring_seconds)
        if isinstance(outcome, dict):
            return outcome
        if isinstance(outcome, str):
            return outcome, REFUSED
        detail = "; ".join(outcome.seen)
        # The Dial event's status says it first (a Local channel ends with cause 16 whatever the far end did);
        # the cause of the channel's end is the fallback.
        by_status = _DIALSTATUS.get(outcome.dialstatus)
        if by_status is not None:
            return by_status, detail
        cause = outcome.future.result() if outcome.future.done() else 0
        assert isinstance(cause, int)
        if cause in _BUSY:
            return "busy", detail
        if cause in _CONGESTION:
            return "congestion", detail
        return ("no_answer" if cause in _NO_ANSWER else "failed"), detail

    async def _hang_up(self, channel_id: str) -> None:
        try:
            await self.service.client.request("DELETE", f"channels/{path_id(channel_id)}")
        except AriError as exc:
            log.debug("ari outbound hang-up found nothing", channel=channel_id, error=str(exc))

    # ------------------------------------------------------------------ the answered call

    async def _run(self, request: OutboundRequest, started: Json, standby: tuple[str, Leg] | None) -> OutboundResult:
        service = self.service
        channel = dict(started.get("channel", {}))
        entry = EntrySettings(script=request.script, locale=request.locale, group=request.group)
        call = AriCall(service, channel, "outbound", entry)
        call.caller = request.number  # the channel's caller id is ours; the customer is the other party
        call.answered = True
        call.direction = "outbound"
        service.calls[call.call_id] = call
        service.index_channel(call)
        if standby is not None:
            leg_id, leg = standby
            # Rebase the agent leg's times onto the call's clock (0 = the customer answered).
            leg.ring_started = (leg.ring_started or call.t0) - call.t0
            leg.answered_at = (leg.answered_at or call.t0) - call.t0
            call.standby = standby
            service.index_leg(leg_id, call)
        variables = prompt_variables(service.settings.service, caller=request.caller, holiday=request.holiday,
                                     now=datetime.now(service.settings.service.tz))
        session = _Watched(open_session(service.library(), service.settings, request.script, call_id=call.call_id,
                                        locale=request.locale, variables=variables, group=request.group,
                                        agents=service.agent_record))
        offered = {"entry": "outbound", "script": request.script, "locale": request.locale,
                   "caller": request.number, "callee": request.number, "channel": call.channel_id,
                   "transport": "ari", "group": request.group, "direction": "outbound", "mode": request.mode,
                   "server": getattr(service, "server", "main"), **request.data}
        call.t0 = service.clock.time()
        try:
            # every call is recorded; the script's prompts play on the recorded bridge from the first word.
            await call.start_recording()
        except AriError as exc:
            log.warning("ari outbound recording not started", call_id=call.call_id, error=str(exc))
        try:
            outcome = await run_call(call, session, service.timeline, answered=True, offered=offered,
                                     started_at=call.started_at, clock=service.clock)
        except Exception:
            log.exception("ari outbound call failed", call_id=call.call_id)
            await self._hang_up(call.channel_id)
            service.forget(call)
            if call.standby is not None:
                await self._release_standby(*call.standby)
            return OutboundResult(call.call_id, "failed", agent=request.agent, detail="the call's script failed")
        if call.standby is not None:  # the customer left before the waiting agent was connected
            await self._release_standby(*call.standby)
            call.standby = None
        service.record_outcome(outcome)
        return _result(request, call, session, outcome)


def _result(request: OutboundRequest, call: AriCall, session: _Watched, outcome: CallOutcome) -> OutboundResult:
    """How the answered attempt ended, from what the script and the call did."""
    agent = call.stats.agent or request.agent
    rated = [s.removeprefix(RATED_PREFIX) for s in session.states if s.startswith(RATED_PREFIX)]

    def ended(result: str, satisfaction: str | None = None) -> OutboundResult:
        return OutboundResult(call.call_id, result, agent=agent, satisfaction=satisfaction,
                              disposition=outcome.disposition)

    if request.mode == "survey":
        if rated:
            return ended("reached", rated[-1])
        if outcome.by == "caller" and session.states[-1:] in ([OPENING_STATE], []):
            return ended("hangup_opening")
        return ended("no_key")
    if call.stats.agent is not None:
        return ended("reached")
    return ended("no_agent" if outcome.disposition == "no_agent" else "hangup_opening")
